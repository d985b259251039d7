"""QA4RE option scores through the label-row machinery, batched and sharded over ranks.

Prompts and answers are tokenised as the reference's Hugging Face path does (OSU-NLP-Group/QA4RE @a299f6e,
utils/hf_model_utils.py ``call_hf_llm_causal`` / ``call_hf_llm_enc_dec``): the prompt with the tokenizer's special
tokens (``tokenizer(prompt)``: BOS where the tokenizer adds one, e.g. LLaMA; T5's closing ``</s>``), each answer
as ``tokenizer(answer, add_special_tokens=False)`` + EOS, for causal and seq2seq models alike. The answer is the
option's letter ``"A"`` (qa4re) or the relation's name (vanilla), with no space put before it: a SentencePiece
tokenizer gives ``"▁A"`` (its own word-start marker), a byte-level BPE the bare ``"A"``. Tokens that every letter's
answer starts with (a tokenizer without ``"▁A"`` gives ``"▁", "A"``) are appended to the prompt as a shared prefix:
the reference's constrained decoding is forced through them too.

  first-token  log p(first answer token | prompt): ONE forward per batch of prompts (causal: the body over the
               prompt, the last position's hidden state; seq2seq: encoder + one decoder step), then
               ``harness.kernels.label_logprobs`` on that hidden state once per answer.
  sequence     sum of log p(answer tokens + EOS | prompt): ``harness.eval.rank.batch_label_scores`` (prompt once,
               the answers as continuations).
  greedy       the reference's decoding: greedy, constrained to the answers' token trie (``prefix_allowed_tokens_fn``
               over ``answer + EOS``); the chosen answer is the prediction, the options' scores are the sequence
               scores. For single-token letters it picks what first-token picks.
No LM head over prompt positions; sharded by ``harness.eval.batches.sharded_batches`` (equal forward calls per
rank, every rank gets every example's scores). A batch scores the union of its questions' answers; each question
keeps its own.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.eval.batches import pad_rows, sharded_batches
from harness.eval.rank import batch_label_scores, plain_head_params
from harness.kernels import label_logprobs
from harness.models.label_rows import decoder_hidden
from harness.models.load import family_of
from harness.recipes.qa4re.prompts import MAX_OPTIONS, Question, letters

MODES = ("first-token", "sequence", "greedy")


def _split_shared(full: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Cut the tokens EVERY answer starts with (e.g. a lone ``"▁"``) off as a shared prefix."""
    k = 0
    while all(len(c) > k + 1 for c in full) and len({c[k] for c in full}) == 1:
        k += 1
    return full[0][:k], [c[k:] for c in full]


def answer_ids(tokenizer, text: str) -> list[int]:
    """An answer's ids as the reference tokenises it: no special tokens, no space added."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def letter_ids(tokenizer, n: int = MAX_OPTIONS) -> tuple[list[int], list[list[int]]]:
    """(shared prefix, per-letter answer ids + EOS) for the first ``n`` letters (``answer_ids`` of ``"A"``, ...).
    Tokens that all 26 letters' answers start with are cut off as the shared prefix, which ``option_scores``
    appends to each prompt (a constant for every option)."""
    shared, rest = _split_shared([answer_ids(tokenizer, c) for c in letters(MAX_OPTIONS)])
    return shared, [c + [tokenizer.eos_token_id] for c in rest[:n]]


def first_tokens(cands: list[list[int]]) -> list[int]:
    """The answers' first tokens; refused when two answers share one (then only ``sequence`` / ``greedy`` can
    tell them apart)."""
    first = [c[0] for c in cands]
    if len(set(first)) != len(first):
        raise ValueError("this tokenizer gives two answers the same first token; use --scoring sequence or greedy")
    return first


def encode_prompts(tokenizer, questions: list[Question]) -> list[list[int]]:
    """Prompt ids with the tokenizer's special tokens (``tokenizer(prompt)``, as the reference), any family."""
    return [list(p) for p in tokenizer([q.prompt for q in questions], add_special_tokens=True)["input_ids"]]


def question_inputs(tokenizer, questions: list[Question]) -> tuple[list[list[int]], list[list[list[int]]]]:
    """(prompt ids incl. any shared answer prefix, per question its answers' ids + EOS, in option order)."""
    prompts = encode_prompts(tokenizer, questions)
    if all(q.answers == tuple(letters(len(q.answers))) for q in questions):  # qa4re: letters share one prefix
        shared, cands = letter_ids(tokenizer, max(len(q.answers) for q in questions))
        return [p + shared for p in prompts], [cands[: len(q.answers)] for q in questions]
    eos = tokenizer.eos_token_id
    memo: dict[str, list[int]] = {}
    answers = [[memo.setdefault(a, answer_ids(tokenizer, a) + [eos]) for a in q.answers] for q in questions]
    return prompts, answers


def _context(model, prompts: list[list[int]], pad: int, device):
    """Seq2seq: (encoder states, mask) of the prompts, computed once per batch; causal: None."""
    if family_of(model.config) == "causal":
        return None
    ids, mask = pad_rows(prompts, max(len(p) for p in prompts), pad, device)
    return model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state, mask


def _next_hidden(model, prompts, prefixes, ctx, pad: int, start: int | None, device) -> torch.Tensor:
    """[B, H] the hidden state that predicts the token after ``prefix`` (answer tokens so far) of each prompt."""
    if ctx is None:  # causal: prompt + prefix, right-padded, the last real position
        rows = [p + x for p, x in zip(prompts, prefixes)]
        ids, mask = pad_rows(rows, max(len(r) for r in rows), pad, device)
        pos = torch.arange(ids.shape[1], device=device).expand_as(ids)
        h = model.base_model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).last_hidden_state
    else:
        if start is None:
            raise ValueError("seq2seq scoring needs the model config's decoder_start_token_id")
        rows = [[start] + x for x in prefixes]
        dec, dmask = pad_rows(rows, max(len(r) for r in rows), pad, device)
        h = decoder_hidden(model, ctx[0], ctx[1], dec, dmask)
    lens = torch.tensor([len(r) for r in rows], device=device)
    return h[torch.arange(len(rows), device=device), lens - 1]


def _token_logprobs(h: torch.Tensor, tokens: list[int], head_params, model) -> torch.Tensor:
    """[B, U] log p(tokens[u] | hidden b) through the label-row kernel."""
    B, U = h.shape[0], len(tokens)
    targets = torch.tensor(tokens, dtype=torch.long, device=h.device).repeat(B)
    with (head_params or plain_head_params(model))() as (weight, bias):
        lp = label_logprobs(h.repeat_interleave(U, 0), weight, targets, bias=bias)
    return lp.view(B, U)


def batch_first_token_scores(model, prompts: list[list[int]], first: list[int], *, pad_id: int,
                             decoder_start_id: int | None = None, head_params=None) -> torch.Tensor:
    """[B, K] float32 log p(answer k's first token | prompt b), one forward for the batch."""
    device = model.device
    ctx = _context(model, prompts, pad_id, device)
    h = _next_hidden(model, prompts, [[] for _ in prompts], ctx, pad_id, decoder_start_id, device)
    return _token_logprobs(h, first, head_params, model)


def batch_greedy_choices(model, prompts: list[list[int]], answers: list[list[list[int]]], *, steps: int,
                         pad_id: int, decoder_start_id: int | None = None, head_params=None) -> list[int]:
    """Per prompt b the index of the answer that greedy decoding constrained to ``answers[b]``'s token trie
    produces (the reference's ``prefix_allowed_tokens_fn``); ties go to the lower token id, as argmax does.
    Exactly ``steps`` forwards (>= the longest answer), whatever the answers, so every rank makes as many."""
    device = model.device
    if steps < max(len(c) for cs in answers for c in cs):
        raise ValueError(f"steps={steps} is shorter than the longest answer")
    ctx = _context(model, prompts, pad_id, device)
    alive = [list(range(len(cs))) for cs in answers]
    prefix: list[list[int]] = [[] for _ in prompts]
    for _ in range(steps):
        h = _next_hidden(model, prompts, prefix, ctx, pad_id, decoder_start_id, device)
        allowed = [sorted({answers[b][k][len(prefix[b])] for k in alive[b] if len(answers[b][k]) > len(prefix[b])})
                   for b in range(len(prompts))]
        union = sorted({t for a in allowed for t in a}) or [pad_id]
        lp = _token_logprobs(h, union, head_params, model).float().cpu()
        col = {t: u for u, t in enumerate(union)}
        for b, allow in enumerate(allowed):
            if not allow:  # this answer is complete (its EOS was chosen)
                continue
            best = max(allow, key=lambda t, b=b: (lp[b, col[t]].item(), -t))
            prefix[b].append(best)
            alive[b] = [k for k in alive[b] if answers[b][k][: len(prefix[b])] == prefix[b]]
    unfinished = [b for b, a in enumerate(alive) if len(a) != 1 or answers[b][a[0]] != prefix[b]]
    if unfinished:
        raise RuntimeError("greedy decoding did not finish an answer for every prompt")
    return [a[0] for a in alive]


def _sharded(model, questions, batch_examples, prompts, run) -> list:
    out: list = [None] * len(questions)
    for idx, s in sharded_batches(model, len(questions), batch_examples, run, order=lambda i: (len(prompts[i]), i)):
        for row, i in enumerate(idx):
            out[i] = s[row]
    if any(o is None for o in out):
        raise RuntimeError("QA4RE scoring left some examples unscored (shards do not cover the data)")
    return out


def option_scores(model, tokenizer, questions: list[Question], *, mode: str = "first-token",
                  batch_examples: int = 8, head_params=None) -> list[np.ndarray]:
    """Per question, float32 [K] scores of its options (every rank gets the full list). ``greedy`` scores are the
    sequence scores (its choice: ``greedy_choices``)."""
    if mode not in MODES:
        raise ValueError(f"QA4RE scoring mode must be one of {MODES}, got {mode!r}")
    if not questions:
        raise ValueError("no examples to score")
    start = getattr(model.config, "decoder_start_token_id", None)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts, answers = question_inputs(tokenizer, questions)
    if mode == "first-token":
        for cs in answers:
            first_tokens(cs)

    def score(idx: list[int]) -> list[np.ndarray]:
        union = list(dict.fromkeys(tuple(c) for i in idx for c in answers[i]))  # the batch's answers, once each
        col = {c: u for u, c in enumerate(union)}
        batch = [prompts[i] for i in idx]
        if mode == "first-token":
            firsts = list(dict.fromkeys(c[0] for c in union))
            s = batch_first_token_scores(model, batch, firsts, pad_id=pad, decoder_start_id=start,
                                         head_params=head_params).cpu().numpy()
            pick = {c: firsts.index(c[0]) for c in union}
        else:
            s = batch_label_scores(model, batch, [list(c) for c in union], pad_id=pad, decoder_start_id=start,
                                   head_params=head_params).cpu().numpy()
            pick = col
        return [s[r, [pick[tuple(c)] for c in answers[i]]].astype(np.float32) for r, i in enumerate(idx)]

    return _sharded(model, questions, batch_examples, prompts, score)


def greedy_choices(model, tokenizer, questions: list[Question], *, batch_examples: int = 8,
                   head_params=None) -> list[int]:
    """Per question the option index the reference's constrained greedy decoding picks (every rank gets all)."""
    if not questions:
        raise ValueError("no examples to score")
    start = getattr(model.config, "decoder_start_token_id", None)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts, answers = question_inputs(tokenizer, questions)
    steps = max(len(c) for cs in answers for c in cs)  # the same on every rank: every rank holds every question

    def run(idx: list[int]) -> list[int]:
        return batch_greedy_choices(model, [prompts[i] for i in idx], [answers[i] for i in idx], steps=steps,
                                    pad_id=pad, decoder_start_id=start, head_params=head_params)

    return [int(k) for k in _sharded(model, questions, batch_examples, prompts, run)]


def option_probs(scores: np.ndarray) -> np.ndarray:
    """Softmax of one question's option scores (the confidence of each option among the offered ones)."""
    z = np.exp(scores.astype(np.float64) - scores.max())
    return z / z.sum()
