"""Fused weighted linear cross-entropy over label rows only. Public API (stable; other packages call these):

    weighted_linear_cross_entropy(hidden[N,H], weight[V,H], targets[N], row_weights[N], *, bias=None,
                                  ignore_index=-100, reduction="sum"|"none", impl="auto", chunk_size=None) -> loss
    label_logprobs(hidden[N,H], weight[V,H], targets[N], *, bias=None, impl="auto", ignore_index=-100,
                   chunk_size=None) -> [N] float32 log p

impl: "reference" (materialises [N, V] logits: test oracle only), "chunked" (torch, one [chunk, V] block at a
time: the CPU path, see chunked.py), "triton" (chunked loop + Triton online-LSE row kernel: CUDA, or CPU under
TRITON_INTERPRET=1), "auto" (triton on CUDA when installed, else chunked).

Importing this package does not import triton; the Triton path is loaded on first CUDA use.
"""

from __future__ import annotations

import importlib.util

import torch

from harness.constants import IGNORE_INDEX
from harness.kernels.chunked import chunked_logprobs, chunked_weighted_ce, torch_row_pass
from harness.kernels.reference import reference_weighted_ce

IMPLS = ("auto", "reference", "chunked", "triton")


def _check_dtypes(hidden, weight, bias):
    if hidden.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        raise ValueError(f"hidden, weight and bias must share a dtype; got {hidden.dtype}, {weight.dtype}, "
                         f"{None if bias is None else bias.dtype}")
    if hidden.device != weight.device:
        raise ValueError(f"hidden is on {hidden.device} but weight on {weight.device}")


def _check_shapes(hidden, weight, targets, row_weights):
    if weight.numel() == 0:
        raise ValueError(
            f"LM head weight has 0 elements (shape {tuple(weight.shape)}): under ZeRO-3 this is a partitioned "
            "shard read outside the module's forward (gather it first, e.g. GatheredParameters or "
            "register_external_parameter)")
    if hidden.dim() != 2 or weight.dim() != 2:
        raise ValueError(f"hidden must be [N, H] and weight [V, H]; got {tuple(hidden.shape)} and {tuple(weight.shape)}")
    if weight.shape[1] != hidden.shape[1]:
        raise ValueError(f"LM head weight has shape {tuple(weight.shape)} but hidden has H={hidden.shape[1]}")
    if targets.shape != (hidden.shape[0],) or row_weights.shape != (hidden.shape[0],):
        raise ValueError(f"targets and row_weights must be [N={hidden.shape[0]}]; got "
                         f"{tuple(targets.shape)} and {tuple(row_weights.shape)}")


def _triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def resolve_impl(impl: str, device: torch.device) -> str:
    """``auto`` -> ``triton`` on CUDA when triton is installed, else ``chunked``. Never imports triton."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if impl == "auto":
        return "triton" if torch.device(device).type == "cuda" and _triton_available() else "chunked"
    return impl


def _row_pass(impl: str, device: torch.device):
    if impl == "chunked":
        return torch_row_pass
    if not _triton_available():
        raise RuntimeError("impl='triton' requested but triton is not installed; use impl='chunked'")
    from harness.kernels import triton_ce  # lazy: importing harness.kernels must not import triton

    triton_ce.check_device(torch.empty(0, device=device))
    return triton_ce.triton_row_pass


def weighted_linear_cross_entropy(hidden, weight, targets, row_weights, *, bias=None,
                                  ignore_index: int = IGNORE_INDEX, reduction: str = "sum", impl: str = "auto",
                                  chunk_size: int | None = None):
    """sum_n row_weights_n * CE_n (``reduction="sum"``, fp32 scalar) or the weighted per-row losses (``"none"``,
    fp32 [N], 0 at ignored rows). Gradients reach hidden, weight and bias, never row_weights. Under
    ``torch.no_grad`` / ``inference_mode`` only the loss is computed (no gradient buffers, even for a head that
    requires grad; see chunked.py).
    ``chunk_size``: rows per logits chunk for chunked/triton (None = a 256 MiB fp32 block)."""
    _check_shapes(hidden, weight, targets, row_weights)
    impl = resolve_impl(impl, hidden.device)
    if impl == "reference":
        return reference_weighted_ce(hidden, weight, targets, row_weights, bias=bias, ignore_index=ignore_index,
                                     reduction=reduction)
    _check_dtypes(hidden, weight, bias)
    return chunked_weighted_ce(hidden, weight, targets, row_weights, bias=bias, ignore_index=ignore_index,
                               reduction=reduction, chunk_size=chunk_size, row_pass=_row_pass(impl, hidden.device))


@torch.no_grad()
def label_logprobs(hidden, weight, targets, *, bias=None, impl: str = "auto", ignore_index: int = IGNORE_INDEX,
                   chunk_size: int | None = None) -> torch.Tensor:
    """log p(target_n | hidden_n) per row, float32 [N] (0 at ignored rows), no grad, no [N, V] tensor
    (except impl="reference", the test oracle)."""
    ones = torch.ones(targets.shape[0], device=hidden.device, dtype=torch.float32)
    _check_shapes(hidden, weight, targets, ones)
    impl = resolve_impl(impl, hidden.device)
    if impl == "reference":
        per_row = reference_weighted_ce(hidden, weight, targets, ones, bias=bias, ignore_index=ignore_index,
                                        reduction="none")
        return -per_row.float()
    _check_dtypes(hidden, weight, bias)
    return chunked_logprobs(hidden, weight, targets, bias=bias, ignore_index=ignore_index, chunk_size=chunk_size,
                            row_pass=_row_pass(impl, hidden.device))
