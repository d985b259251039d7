"""The ZeRO-3-safe weighted loss: a module whose forward (called through the engine) runs the model body,
gathers the label rows and applies the fused weighted linear cross-entropy to the LM head.

Why a module: under ZeRO-3 ``lm_head.weight`` is a 0-element shard outside its owner's forward. The head's
weight (and bias) are registered as *external parameters* of this wrapper
(``deepspeed.zero.register_external_parameter``), so DeepSpeed gathers them when the engine calls this
module's forward and releases them after backward. Every rank makes exactly one body forward and one kernel
call per micro-batch whatever its label-token count (an empty row set still runs the kernel on [0, H]), so
the collectives match across ranks.

Normalisation (harness.train.normaliser owns it): the forward returns ``sum_rows r_row * CE_row / normaliser``,
the step's global normaliser computed before the step's forwards; this module only divides.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.kernels import weighted_linear_cross_entropy
from harness.models.label_rows import body_hidden, gather_label_rows, lm_head_of
from harness.models.load import family_of
from harness.train.normaliser import row_weights, tokens_per_example


def full_shape(p: torch.Tensor) -> tuple[int, ...]:
    """A parameter's real shape (``ds_shape`` when ZeRO-3 has partitioned it)."""
    return tuple(getattr(p, "ds_shape", p.shape))


class WeightedLoss(nn.Module):
    """``forward(batch, example_weights[B], normaliser) -> scalar``: this micro-batch's share of the step loss."""

    def __init__(self, model: nn.Module, *, norm_mode: str, impl: str = "auto", zero3: bool = False):
        super().__init__()
        self.model = model
        self.family = family_of(model.config)
        self.norm_mode = norm_mode
        self.impl = impl
        head = lm_head_of(model)
        self.head_shape = full_shape(head.weight)
        if zero3:
            from harness.train import deepspeed_api

            deepspeed_api.register_external_parameter(self, head.weight)
            if head.bias is not None:
                deepspeed_api.register_external_parameter(self, head.bias)

    def forward(self, batch: dict, example_weights: torch.Tensor, normaliser: float) -> torch.Tensor:
        if not normaliser > 0:
            raise ValueError(f"the step's global normaliser must be > 0 (got {normaliser}): no label tokens in "
                             "the whole step on any rank")
        hidden = body_hidden(self.model, batch)
        rows = gather_label_rows(hidden, batch, self.family)
        head = lm_head_of(self.model)
        weight = head.weight
        if tuple(weight.shape) != self.head_shape:
            raise RuntimeError(f"LM head weight is {tuple(weight.shape)} inside the loss forward, expected the full "
                               f"{self.head_shape}: ZeRO-3 did not gather it (was the loss called outside the "
                               "engine's forward, or not registered as an external parameter?)")
        counts = tokens_per_example(batch, self.family)
        r = row_weights(example_weights.to(hidden.device), rows.row_batch, counts, self.norm_mode)
        total = weighted_linear_cross_entropy(rows.hidden, weight, rows.targets, r, bias=head.bias,
                                              impl=self.impl)
        return total.float() / float(normaliser)
