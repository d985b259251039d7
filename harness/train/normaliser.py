"""The one owner of loss normalisation: what a step's loss is divided by, and how gradients keep that meaning.

Given per-example importance weights w_e and each example's label-token count n_e, the step loss is
    L = sum_rows r_row * CE_row / normaliser
with, per mode (each equals its plain-SFT objective when every w_e = 1):
    token     r = w_e          normaliser = total label tokens of the step   (HF ``model(labels=...)`` mean)
    example   r = w_e / n_e    normaliser = total examples of the step       (mean over examples of mean-token CE)
    sequence  r = w_e          normaliser = total examples of the step       (ATLANTIS Algorithm 1: mean sequence CE)
The normaliser is global: ``step_normaliser`` sums every micro-batch's share on this rank and all-reduces it over
ranks *before* the step's forward passes, so a step's gradient does not depend on how its batch is split. The loss
modules only divide by it. ``ds_backward_scale`` undoes DeepSpeed's own scaling (``engine.backward`` divides by
the gradient-accumulation steps, ZeRO averages over ranks), so gradients are those of L exactly.
"""

from __future__ import annotations

import torch

from harness import dist
from harness.models.label_rows import label_positions

MODES = ("token", "example", "sequence")


def _check(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"normalisation mode must be one of {MODES}, got {mode!r}")


def tokens_per_example(batch: dict, family: str) -> torch.Tensor:
    """Label tokens [B] each example of ``batch`` contributes to the loss (the rows the kernel sees); a packed
    batch (harness.data.tokenize.pack) counts per example slot, not per row."""
    mask, _ = label_positions(batch, family)
    if "seq_ids" in batch:
        return torch.bincount(batch["seq_ids"][:, 1:][mask], minlength=int(batch["example_index"].numel()))
    return mask.sum(dim=1)


def row_weights(example_weights: torch.Tensor, row_example: torch.Tensor, tokens_per_example: torch.Tensor,
                mode: str) -> torch.Tensor:
    """Per-label-row factors r [M] from per-example weights [B], row->example map [M], counts [B]."""
    _check(mode)
    w = example_weights.detach().to(torch.float32)
    if mode == "example":
        w = w / tokens_per_example.to(torch.float32).clamp_min(1)
    return w[row_example]


def local_normaliser(tokens_per_example: torch.Tensor, mode: str) -> float:
    """One micro-batch's share of the normaliser (examples with no label token count for nothing)."""
    _check(mode)
    n = tokens_per_example.to(torch.int64)
    if mode == "token":
        return float(n.sum().item())
    return float((n > 0).sum().item())


def batch_normaliser(batch: dict, family: str, mode: str) -> float:
    """This micro-batch's share of the step's normaliser."""
    return local_normaliser(tokens_per_example(batch, family), mode)


def step_normaliser(batches: list[dict], family: str, mode: str) -> float:
    """The step's global normaliser: this rank's micro-batches' shares (from the host-side batches, before any
    forward), summed over ranks (a CPU tensor: harness.dist routes it to the host group, never to NCCL)."""
    local = torch.tensor([sum(batch_normaliser(b, family, mode) for b in batches)], dtype=torch.float64)
    return float(dist.all_reduce_sum(local).item())


def ds_backward_scale(grad_accum: int, world: int) -> float:
    """The factor a loss is multiplied by before DeepSpeed's ``engine.backward``: it divides by ``grad_accum``
    and ZeRO averages gradients over ``world`` ranks; undoing both leaves gradients of the exact step sum."""
    return float(grad_accum * world)
