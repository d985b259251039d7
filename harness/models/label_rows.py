"""Run a model's body and gather the hidden states of label rows only (no LM head over prompt positions).

The same gather serves causal models (shifted: the hidden state at t-1 predicts the label at t) and seq2seq
models (decoder hidden states at the target positions). The LM head is applied by the caller through
harness.kernels (weighted CE, or log-probs for scoring and ranking).

Packed batches (harness.data.tokenize.pack: several examples per row, ``seq_ids`` naming each token's example):
attention is confined to each example. flash_attention_2 gets the rows flattened into one sequence with
``position_ids`` restarting at 0 per example and no mask, which transformers runs through flash-attn's varlen
kernel (cu_seqlens from the position ids). sdpa and eager get the 4-D block-diagonal causal mask built here,
additive in the model's dtype (transformers passes a 4-D mask through unchanged; its own packed-sequence detection
from position_ids only runs when the 2-D mask is None, so it is not relied on). ``sdpa_segments``
(harness.models.attention) gets no mask and the rows' example segments instead: one causal SDPA per example, so
the masked-out blocks are never computed. Label rows map to the example slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.constants import IGNORE_INDEX
from harness.models import attention
from harness.models.load import family_of


@dataclass
class LabelRows:
    hidden: torch.Tensor  # [M, H] hidden states that predict the label tokens
    targets: torch.Tensor  # [M] label token ids
    row_batch: torch.Tensor  # [M] example of the batch (0..B-1) each label row belongs to (padded: its row)
    batch_size: int  # examples in the batch


def body_hidden(model, batch: dict) -> torch.Tensor:
    """Last hidden states [B, T, H] ready for the LM head (T5's output scaling applied)."""
    if family_of(model.config) == "causal":
        if "seq_ids" in batch:
            return packed_body_hidden(model, batch)
        out = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               position_ids=batch.get("position_ids"), use_cache=False)
        return out.last_hidden_state
    enc = model.get_encoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return decoder_hidden(model, enc.last_hidden_state, batch["attention_mask"], batch["decoder_input_ids"],
                          batch.get("decoder_attention_mask"))


def packed_body_hidden(model, batch: dict) -> torch.Tensor:
    """Causal body over a packed batch [R, T] -> [R, T, H], attention within each example only."""
    ids, pos = batch["input_ids"], batch["position_ids"]
    if "flash" in str(getattr(model.config, "_attn_implementation", "")):
        out = model.base_model(input_ids=ids.reshape(1, -1), position_ids=pos.reshape(1, -1), attention_mask=None,
                               use_cache=False)
        return out.last_hidden_state.reshape(*ids.shape, -1)
    if str(getattr(model.config, "_attn_implementation", "")) == attention.NAME:
        # per-example SDPA (harness.models.attention); no mask is built: every layer type gets None
        out = model.base_model(input_ids=ids, position_ids=pos, use_cache=False,
                               attention_mask={"full_attention": None, "sliding_attention": None},
                               harness_segments=attention.segment_bounds(batch["seq_ids"]))
        return out.last_hidden_state
    dtype = model.get_input_embeddings().weight.dtype
    out = model.base_model(input_ids=ids, position_ids=pos, attention_mask=block_causal_mask(batch["seq_ids"], dtype),
                           use_cache=False)
    return out.last_hidden_state


def block_causal_mask(seq_ids: torch.Tensor, dtype: torch.dtype, branch_ids: torch.Tensor | None = None
                      ) -> torch.Tensor:
    """Additive 4-D mask [R, 1, T, T]: 0 where query t may attend key s (same example, s <= t), else the dtype's
    minimum. Padding (seq_id -1) is a segment of its own, so every query attends to at least itself.
    ``branch_ids`` [R, T] (label ranking: 0 = the shared prompt, k = candidate k) further confines a query to keys
    of its own branch or of branch 0: candidates packed after one prompt see the prompt, never each other."""
    t = seq_ids.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=seq_ids.device).tril()
    allowed = (seq_ids[:, :, None] == seq_ids[:, None, :]) & causal
    if branch_ids is not None:
        allowed &= (branch_ids[:, None, :] == 0) | (branch_ids[:, :, None] == branch_ids[:, None, :])
    mask = torch.zeros(allowed.shape, dtype=dtype, device=seq_ids.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]


def decoder_hidden(model, encoder_hidden: torch.Tensor, encoder_mask: torch.Tensor,
                   decoder_input_ids: torch.Tensor, decoder_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Seq2seq decoder hidden states [B, T, H] over given encoder states (T5's output scaling applied), so a
    caller can run the encoder once and the decoder over several continuations (label ranking)."""
    dec = model.get_decoder()(input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
                              encoder_hidden_states=encoder_hidden, encoder_attention_mask=encoder_mask,
                              use_cache=False)
    h = dec.last_hidden_state
    if getattr(model.config, "scale_decoder_outputs", getattr(model.config, "tie_word_embeddings", False)):
        h = h * (model.config.d_model ** -0.5)
    return h


def label_positions(batch: dict, family: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask over hidden positions [B, T'], targets aligned to it [B, T']) for a batch's ``labels``."""
    labels = batch["labels"]
    if family == "causal":
        tgt = labels[:, 1:]
        return tgt != IGNORE_INDEX, tgt
    return labels != IGNORE_INDEX, labels


def gather_label_rows(hidden: torch.Tensor, batch: dict, family: str) -> LabelRows:
    mask, tgt = label_positions(batch, family)
    h = hidden[:, :-1] if family == "causal" else hidden
    if "seq_ids" in batch:  # packed (causal): the example slot of each label position
        return LabelRows(hidden=h[mask], targets=tgt[mask], row_batch=batch["seq_ids"][:, 1:][mask],
                         batch_size=int(batch["example_index"].numel()))
    rows = mask.nonzero(as_tuple=False)
    return LabelRows(hidden=h[mask], targets=tgt[mask], row_batch=rows[:, 0], batch_size=hidden.shape[0])


def label_rows(model, batch: dict) -> LabelRows:
    """Body forward + gather (the transformer body runs over every position; the head never does)."""
    return gather_label_rows(body_hidden(model, batch), batch, family_of(model.config))


def lm_head_of(model) -> torch.nn.Module:
    """The output projection module (weight [V, H], optional bias)."""
    head = model.get_output_embeddings()
    if head is None:
        raise ValueError(f"{type(model).__name__} has no output embeddings (LM head)")
    return head
