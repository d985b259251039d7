"""The one function family that owns loss normalisation.

Given per-example importance weights w_e and each example's label-token count n_e, the step loss is
    L = sum_rows r_row * CE_row / Z
with, per mode (each equals its plain-SFT objective when every w_e = 1):
    token     r = w_e          Z = total label tokens of the step      (HF ``model(labels=...)`` mean)
    example   r = w_e / n_e    Z = total examples of the step          (mean over examples of mean-token CE)
    sequence  r = w_e          Z = total examples of the step          (ATLANTIS Algorithm 1: mean sequence CE)
Z is global: summed over the step's gradient-accumulation micro-batches and data-parallel ranks *before* the
step's forward passes (``local_normaliser`` per micro-batch, all-reduced by the caller), so a step's gradient
does not depend on how the batch is split.
"""

from __future__ import annotations

import torch

MODES = ("token", "example", "sequence")


def _check(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"normalisation mode must be one of {MODES}, got {mode!r}")


def row_weights(example_weights: torch.Tensor, row_example: torch.Tensor, tokens_per_example: torch.Tensor,
                mode: str) -> torch.Tensor:
    """Per-label-row factors r [M] from per-example weights [B], row->example map [M], counts [B]."""
    _check(mode)
    w = example_weights.detach().to(torch.float32)
    if mode == "example":
        w = w / tokens_per_example.to(torch.float32).clamp_min(1)
    return w[row_example]


def local_normaliser(tokens_per_example: torch.Tensor, mode: str) -> float:
    """This micro-batch's contribution to Z (examples with no label token count for nothing)."""
    _check(mode)
    n = tokens_per_example.to(torch.int64)
    if mode == "token":
        return float(n.sum().item())
    return float((n > 0).sum().item())
