"""Float reference: materialises the [N, V] logits. The test oracle; never used for training."""

from __future__ import annotations

import torch

from harness.constants import IGNORE_INDEX


def reference_weighted_ce(hidden, weight, targets, row_weights, *, bias=None, ignore_index=IGNORE_INDEX,
                          reduction: str = "sum", compute_dtype=torch.float32):
    """Per-row CE_n = logsumexp(h_n W^T + b) - (h_n W^T + b)[t_n], times row_weights_n (no grad to it).

    reduction ``sum`` -> scalar sum_n w_n CE_n; ``none`` -> [N] weighted per-row losses (0 at ignored rows).
    """
    logits = hidden.to(compute_dtype) @ weight.to(compute_dtype).T
    if bias is not None:
        logits = logits + bias.to(compute_dtype)
    valid = targets != ignore_index
    safe_t = torch.where(valid, targets, torch.zeros_like(targets))
    lse = torch.logsumexp(logits, dim=-1)
    tgt = logits.gather(1, safe_t.unsqueeze(1)).squeeze(1)
    ce = torch.where(valid, lse - tgt, torch.zeros_like(lse))
    per_row = ce * row_weights.detach().to(compute_dtype)
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    raise ValueError(f"reduction must be 'sum' or 'none', got {reduction!r}")
