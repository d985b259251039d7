"""Exact label ranking: the log-likelihood of every candidate label text (+ EOS) per example; argmax wins.

Per batch of examples the prompt is encoded ONCE:
  causal   packed (the default under sdpa/eager): one row per example, the prompt followed by every candidate's
           tokens (all but the last), candidate k at positions len(prompt)... and attending to the prompt and to
           itself only (harness.models.label_rows.block_causal_mask with branch ids): one body call per batch,
           no candidate padding. KV cache (``packed=False``, and always under flash_attention_2, whose varlen
           kernel cannot express a shared prefix): the prompts run through the body with a KV cache (right-padded,
           explicit positions); the cache is expanded over the K candidates and the candidates' tokens run as
           continuations. Either way the prompt's last hidden state predicts each candidate's first token.
  seq2seq  the encoder runs once; the decoder runs over [start] + candidate[:-1] for all K candidates against
           the encoder states expanded K times.
Only label rows reach the LM head, through ``harness.kernels.label_logprobs`` (no [tokens, vocab] tensor over
prompt positions). Sharded over ranks by ``harness.eval.batches.sharded_batches``: every rank makes the same
number of forward calls (a shorter shard runs dummy batches whose results are dropped), as ZeRO-3 requires.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from harness.data.examples import Example
from harness.data.prompts import Template
from harness.data.tokenize import encode, encode_label
from harness.eval.batches import pad_rows, sharded_batches
from harness.kernels import label_logprobs
from harness.models.label_rows import block_causal_mask, decoder_hidden, lm_head_of
from harness.models.load import family_of


def plain_head_params(model):
    """Default ``head_params``: yields the LM head's (weight, bias) as they are (no ZeRO-3 gathering)."""

    @contextmanager
    def ctx():
        head = lm_head_of(model)
        yield head.weight, getattr(head, "bias", None)

    return ctx


def _causal_hidden(model, prompts, cands, pad, device):
    """Hidden states [B*K, Cmax, H] that predict each candidate's tokens (row j predicts token j)."""
    B, K = len(prompts), len(cands)
    lens = torch.tensor([len(p) for p in prompts], device=device)
    ids, mask = pad_rows(prompts, int(lens.max()), pad, device)
    pos = torch.arange(ids.shape[1], device=device).expand_as(ids)
    out = model.base_model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
    h_last = out.last_hidden_state[torch.arange(B, device=device), lens - 1]  # predicts token 0
    cache = out.past_key_values
    cache.batch_repeat_interleave(K)
    conts = [c[:-1] for c in cands] * B  # row b*K + k
    width = max(len(c) for c in conts)
    cont, cmask = pad_rows(conts, width, pad, device)
    cpos = lens.repeat_interleave(K)[:, None] + torch.arange(width, device=device)[None]
    full_mask = torch.cat([mask.repeat_interleave(K, 0), cmask], 1)
    h2 = model.base_model(input_ids=cont, attention_mask=full_mask, position_ids=cpos, past_key_values=cache,
                          use_cache=True).last_hidden_state
    return torch.cat([h_last.repeat_interleave(K, 0)[:, None], h2], 1)


def _causal_packed_hidden(model, prompts, cands, pad, device):
    """The same [B*K, Cmax, H] as ``_causal_hidden`` from one packed row per example (see the module doc)."""
    B, K = len(prompts), len(cands)
    conts = [c[:-1] for c in cands]
    starts = torch.tensor([0] + [len(c) for c in conts], device=device).cumsum(0)[:-1]  # offsets after the prompt
    ids, mask = pad_rows([p + [t for c in conts for t in c] for p in prompts],
                         max(map(len, prompts)) + sum(map(len, conts)), pad, device)
    pos, branch = _packed_positions(prompts, conts, ids.shape, device)
    seq = torch.where(mask.bool(), 0, -1)
    attn = block_causal_mask(seq, model.get_input_embeddings().weight.dtype, branch)
    h = model.base_model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=False).last_hidden_state
    lens = torch.tensor([len(p) for p in prompts], device=device)
    j = torch.arange(max(len(c) for c in cands), device=device)
    col = lens[:, None, None] + starts[None, :, None] + j[None, None, :] - 1  # hidden j-1 of candidate k predicts j
    col = torch.where(j == 0, lens[:, None, None] - 1, col).clamp_max(ids.shape[1] - 1)  # j = 0: the prompt's last
    return h[torch.arange(B, device=device)[:, None, None], col].reshape(B * K, len(j), -1)


def _packed_positions(prompts, conts, shape, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(position ids, branch ids) of the packed ranking rows: the prompt 0..P-1 on branch 0, candidate k at
    P.. on branch k+1 (padding: position 0, branch 0; its seq id -1 keeps it apart)."""
    pos = torch.zeros(shape, dtype=torch.long)
    branch = torch.zeros(shape, dtype=torch.long)
    for b, p in enumerate(prompts):
        pos[b, :len(p)] = torch.arange(len(p))
        at = len(p)
        for k, c in enumerate(conts):
            pos[b, at:at + len(c)] = len(p) + torch.arange(len(c))
            branch[b, at:at + len(c)] = k + 1
            at += len(c)
    return pos.to(device), branch.to(device)


def _seq2seq_hidden(model, prompts, cands, pad, start, device):
    B, K = len(prompts), len(cands)
    ids, mask = pad_rows(prompts, max(len(p) for p in prompts), pad, device)
    enc = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    dec_rows = [[start] + c[:-1] for c in cands] * B
    dec, dmask = pad_rows(dec_rows, max(len(c) for c in cands), pad, device)
    return decoder_hidden(model, enc.repeat_interleave(K, 0), mask.repeat_interleave(K, 0), dec, dmask)


def batch_label_scores(model, prompts: list[list[int]], cands: list[list[int]], *, pad_id: int,
                       decoder_start_id: int | None = None, head_params=None, packed: bool = True) -> torch.Tensor:
    """[B, K] float32 sum of log p(candidate k tokens | prompt b) for one batch of prompts (``packed``: see the
    module doc; ignored for seq2seq and under flash_attention_2)."""
    device = model.device
    B, K = len(prompts), len(cands)
    if min(len(c) for c in cands) < 1 or min(len(p) for p in prompts) < 1:
        raise ValueError("every prompt and candidate needs at least one token")
    if family_of(model.config) == "causal":
        flash = "flash" in str(getattr(model.config, "_attn_implementation", ""))
        causal = _causal_packed_hidden if packed and not flash else _causal_hidden
        hidden = causal(model, prompts, cands, pad_id, device)
    else:
        if decoder_start_id is None:
            raise ValueError("seq2seq ranking needs the model config's decoder_start_token_id")
        hidden = _seq2seq_hidden(model, prompts, cands, pad_id, decoder_start_id, device)
    tgt, valid = pad_rows(cands * B, hidden.shape[1], pad_id, device)
    valid = valid.bool()
    rows = hidden[valid]
    owner = torch.arange(B * K, device=device)[:, None].expand_as(valid)[valid]
    with (head_params or plain_head_params(model))() as (weight, bias):
        lp = label_logprobs(rows, weight, tgt[valid], bias=bias)
    return torch.zeros(B * K, dtype=torch.float32, device=device).index_add_(0, owner, lp).view(B, K)


def rank_scores(model, tokenizer, examples: list[Example], labels: list[str] | tuple[str, ...],
                template: Template, *, batch_examples: int = 16, head_params=None, packed: bool = True
                ) -> np.ndarray:
    """[N, K] float32 candidate log-likelihoods for every example (all ranks get the full, same array)."""
    if not examples:
        raise ValueError("no examples to rank")
    family = family_of(model.config)
    start = getattr(model.config, "decoder_start_token_id", None)
    enc = encode(examples, tokenizer, template, family, decoder_start_id=start, labels=[labels[0]] * len(examples))
    cands = [encode_label(tokenizer, lab, family, template) for lab in labels]

    def score(idx: list[int]) -> np.ndarray:
        return batch_label_scores(model, [enc.prompt_ids[i] for i in idx], cands, pad_id=enc.pad_id,
                                  decoder_start_id=start, head_params=head_params, packed=packed).cpu().numpy()

    out = np.full((len(examples), len(cands)), np.nan, dtype=np.float32)
    for idx, s in sharded_batches(model, len(examples), batch_examples, score,
                                  order=lambda i: (len(enc.prompt_ids[i]), i)):
        out[idx] = s
    if np.isnan(out).any():
        raise RuntimeError("label ranking left some examples unscored (shards do not cover the data)")
    return out


def rank_predict(model, tokenizer, examples, labels, template, **kw) -> tuple[list[str], np.ndarray]:
    scores = rank_scores(model, tokenizer, examples, labels, template, **kw)
    return [labels[k] for k in scores.argmax(1)], scores
