"""Fused weighted linear cross-entropy over label rows only. Public API (stable; other packages call these):

    weighted_linear_cross_entropy(hidden[N,H], weight[V,H], targets[N], row_weights[N], *, bias=None,
                                  ignore_index=-100, reduction="sum"|"none", impl="auto") -> loss
    label_logprobs(hidden[N,H], weight[V,H], targets[N], *, bias=None, impl="auto") -> [N] float32 log p

Importing this package does not import triton; the Triton path is loaded on first CUDA use.
"""

from __future__ import annotations

import torch

from harness.constants import IGNORE_INDEX
from harness.kernels.reference import reference_weighted_ce

IMPLS = ("auto", "reference", "chunked", "triton")


def _check_shapes(hidden, weight, targets, row_weights):
    if hidden.dim() != 2 or weight.dim() != 2:
        raise ValueError(f"hidden must be [N, H] and weight [V, H]; got {tuple(hidden.shape)} and {tuple(weight.shape)}")
    if weight.numel() == 0 or weight.shape[1] != hidden.shape[1]:
        raise ValueError(
            f"LM head weight has shape {tuple(weight.shape)} but hidden has H={hidden.shape[1]}: under ZeRO-3 a "
            "0-element weight is a partitioned shard read outside the module's forward (gather it first)")
    if targets.shape != (hidden.shape[0],) or row_weights.shape != (hidden.shape[0],):
        raise ValueError(f"targets and row_weights must be [N={hidden.shape[0]}]; got "
                         f"{tuple(targets.shape)} and {tuple(row_weights.shape)}")


def resolve_impl(impl: str, device: torch.device) -> str:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if impl == "auto":
        return "reference"
    return impl


def weighted_linear_cross_entropy(hidden, weight, targets, row_weights, *, bias=None,
                                  ignore_index: int = IGNORE_INDEX, reduction: str = "sum", impl: str = "auto"):
    _check_shapes(hidden, weight, targets, row_weights)
    impl = resolve_impl(impl, hidden.device)
    if impl == "reference":
        return reference_weighted_ce(hidden, weight, targets, row_weights, bias=bias, ignore_index=ignore_index,
                                     reduction=reduction)
    raise NotImplementedError(f"impl {impl!r} not available yet")


@torch.no_grad()
def label_logprobs(hidden, weight, targets, *, bias=None, impl: str = "auto") -> torch.Tensor:
    """log p(target_n | hidden_n) per row, float32, no grad (scoring and label ranking)."""
    ones = torch.ones(targets.shape[0], device=hidden.device, dtype=torch.float32)
    per_row = weighted_linear_cross_entropy(hidden, weight, targets, ones, bias=bias, reduction="none", impl=impl)
    return -per_row.float()
