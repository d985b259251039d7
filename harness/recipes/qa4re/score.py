"""QA4RE option scores through the label-row machinery, batched and sharded over ranks.

Each option's answer is its letter: causal models continue the prompt with ``" A"`` (the letter after a space,
as text after "Option:" reads), seq2seq decoders start with ``"A"``; both end with EOS.

  first-token  log p(first token of the letter | prompt): ONE forward per batch of prompts (causal: the body over
               the prompt, the last position's hidden state; seq2seq: encoder + one decoder step), then
               ``harness.kernels.label_logprobs`` on that hidden state once per option letter.
  sequence     sum of log p(letter tokens + EOS | prompt): ``harness.eval.rank.batch_label_scores`` (prompt once,
               the K letter continuations over the KV cache / encoder states).
No LM head over prompt positions; sharded by ``harness.eval.batches.sharded_batches`` (equal forward calls per
rank, every rank gets every example's scores). A batch scores the first ``K_max`` letters; an example with fewer
options keeps only its own ``K`` (a few unused head rows, no extra forward).
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

MODES = ("first-token", "sequence")


def _split_shared(full: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Cut the tokens EVERY answer starts with (e.g. a lone ``" "``) off as a shared prefix."""
    k = 0
    while all(len(c) > k + 1 for c in full) and len({c[k] for c in full}) == 1:
        k += 1
    return full[0][:k], [c[k:] for c in full]


def letter_ids(tokenizer, family: str, n: int = MAX_OPTIONS) -> tuple[list[int], list[list[int]]]:
    """(shared prefix, per-letter answer ids + EOS) for the first ``n`` letters.

    The answer is ``" A"`` for causal models (text after "Option:"), ``"A"`` for seq2seq decoders. Tokens that
    every letter's answer starts with are cut off as the shared prefix, which ``option_scores`` appends to each
    prompt (a constant for every option). A causal tokenizer whose letters do not all start with distinct tokens
    after that (a small BPE with ``"ĠA"`` but ``"Ġ", "B"``) answers with the bare letter ``"A"`` instead."""
    spacings = (" ", "") if family == "causal" else ("",)
    for space in spacings:
        full = [list(tokenizer(space + c, add_special_tokens=False)["input_ids"]) for c in letters(MAX_OPTIONS)]
        shared, rest = _split_shared(full)
        if len({c[0] for c in rest}) == len(rest):
            break
    return shared, [c + [tokenizer.eos_token_id] for c in rest[:n]]


def first_tokens(cands: list[list[int]]) -> list[int]:
    """The letters' first tokens; refused when two letters share one (then only ``sequence`` can tell them apart)."""
    first = [c[0] for c in cands]
    if len(set(first)) != len(first):
        raise ValueError("this tokenizer gives two option letters the same first token; use --scoring sequence")
    return first


def _last_prompt_hidden(model, prompts: list[list[int]], pad: int, start: int | None, device) -> torch.Tensor:
    """[B, H] the hidden state that predicts the answer's first token."""
    ids, mask = pad_rows(prompts, max(len(p) for p in prompts), pad, device)
    if family_of(model.config) == "causal":
        pos = torch.arange(ids.shape[1], device=device).expand_as(ids)
        h = model.base_model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).last_hidden_state
        lens = torch.tensor([len(p) for p in prompts], device=device)
        return h[torch.arange(len(prompts), device=device), lens - 1]
    if start is None:
        raise ValueError("seq2seq scoring needs the model config's decoder_start_token_id")
    enc = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    dec = torch.full((len(prompts), 1), start, dtype=torch.long, device=device)
    return decoder_hidden(model, enc, mask, dec)[:, 0]


def batch_first_token_scores(model, prompts: list[list[int]], first: list[int], *, pad_id: int,
                             decoder_start_id: int | None = None, head_params=None) -> torch.Tensor:
    """[B, K] float32 log p(letter k's first token | prompt b), one forward for the batch."""
    device = model.device
    h = _last_prompt_hidden(model, prompts, pad_id, decoder_start_id, device)
    B, K = h.shape[0], len(first)
    targets = torch.tensor(first, dtype=torch.long, device=device).repeat(B)
    with (head_params or plain_head_params(model))() as (weight, bias):
        lp = label_logprobs(h.repeat_interleave(K, 0), weight, targets, bias=bias)
    return lp.view(B, K)


def encode_prompts(tokenizer, questions: list[Question], family: str) -> list[list[int]]:
    """Prompt ids (causal: no special tokens; seq2seq: the tokenizer's own, as ``harness.data.tokenize``)."""
    ids = tokenizer([q.prompt for q in questions], add_special_tokens=(family == "seq2seq"))["input_ids"]
    return [list(p) for p in ids]


def option_scores(model, tokenizer, questions: list[Question], *, mode: str = "first-token",
                  batch_examples: int = 8, head_params=None) -> list[np.ndarray]:
    """Per question, float32 [K] scores of its options (every rank gets the full list)."""
    if mode not in MODES:
        raise ValueError(f"QA4RE scoring mode must be one of {MODES}, got {mode!r}")
    if not questions:
        raise ValueError("no examples to score")
    family = family_of(model.config)
    start = getattr(model.config, "decoder_start_token_id", None)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    shared, cands = letter_ids(tokenizer, family, max(len(q.options) for q in questions))
    prompts = [p + shared for p in encode_prompts(tokenizer, questions, family)]
    first = first_tokens(cands) if mode == "first-token" else None

    def score(idx: list[int]) -> np.ndarray:
        k = max(len(questions[i].options) for i in idx)
        batch = [prompts[i] for i in idx]
        if first is not None:
            s = batch_first_token_scores(model, batch, first[:k], pad_id=pad, decoder_start_id=start,
                                         head_params=head_params)
        else:
            s = batch_label_scores(model, batch, cands[:k], pad_id=pad, decoder_start_id=start,
                                   head_params=head_params)
        return s.cpu().numpy()

    out: list[np.ndarray | None] = [None] * len(questions)
    for idx, s in sharded_batches(model, len(questions), batch_examples, score,
                                  order=lambda i: (len(prompts[i]), i)):
        for row, i in enumerate(idx):
            out[i] = s[row, : len(questions[i].options)].astype(np.float32)
    if any(o is None for o in out):
        raise RuntimeError("QA4RE scoring left some examples unscored (shards do not cover the data)")
    return out


def option_probs(scores: np.ndarray) -> np.ndarray:
    """Softmax of one question's option scores (the confidence of each option among the offered ones)."""
    z = np.exp(scores.astype(np.float64) - scores.max())
    return z / z.sum()
