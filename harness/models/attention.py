"""``sdpa_segments``: SDPA that attends within each example of a packed row only, by running one causal SDPA per
example segment instead of one dense row x row SDPA under a block mask.

The 4-D block mask (harness.models.label_rows.block_causal_mask) makes SDPA compute every query against every key
of the row and discard what the mask hides: for a row of k examples of length L that is ~k times the attention
work an example needs. Here the row's segments (from ``seq_ids``: one per example, the trailing padding one more,
as in the mask) are cut out of q/k/v and each gets ``is_causal=True`` SDPA of its own; outputs are concatenated
back in row order. Without segments (padded batches, scoring, generation with a KV cache) it is transformers' own
``sdpa`` forward, with its own mask, unchanged. Registered with transformers' ``AttentionInterface`` (and
``AttentionMaskInterface``, as sdpa's mask) under ``sdpa_segments`` when this module is imported
(harness.models.load imports it), so ``model.attn_impl=sdpa_segments`` builds a model that uses it.

The segments travel from ``packed_body_hidden`` to every attention layer as the keyword ``harness_segments``
(transformers passes extra keywords of the model's forward down to the attention function). Computing them reads
``seq_ids`` on the host: one small device-to-host copy per packed forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "sdpa_segments"


def segment_bounds(seq_ids: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Per row of ``seq_ids`` [R, T]: the (start, end) of each run of equal ids, covering the row in order."""
    ids = seq_ids.detach().cpu()
    out = []
    for row in ids:
        starts = [0] + (torch.nonzero(row[1:] != row[:-1]).flatten() + 1).tolist()
        out.append(list(zip(starts, starts[1:] + [row.numel()])))
    return out


def segment_sdpa_forward(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                         is_causal=None, **kwargs):
    """transformers' attention-function signature: q [R, Hq, T, D], k/v [R, Hkv, T, D] -> ([R, T, Hq, D], None)."""
    segments = kwargs.pop("harness_segments", None)
    if segments is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    if query.shape[2] != key.shape[2]:
        raise ValueError("sdpa_segments: packed rows need queries and keys of the same length (no KV cache)")
    gqa = query.shape[1] != key.shape[1]
    p = dropout if module.training else 0.0
    rows = []
    for r, bounds in enumerate(segments):
        parts = [F.scaled_dot_product_attention(query[r:r + 1, :, s:e], key[r:r + 1, :, s:e],
                                                value[r:r + 1, :, s:e], dropout_p=p, is_causal=True, scale=scaling,
                                                enable_gqa=gqa)
                 for s, e in bounds]
        rows.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=2))
    out = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, segment_sdpa_forward)
AttentionMaskInterface.register(NAME, sdpa_mask)
