"""The full-logits baseline loss, behind the same engine interface (benchmarks compare against it).

``BaselineLoss`` is what the seed code does: ``model(**batch, labels=...)``, so Hugging Face runs the LM head over
every position ([B, T, V] logits, upcast to fp32) and takes the mean cross-entropy over label tokens. It is scaled
to the harness's exact step objective in ``token`` normalisation with unit weights (mean x local label tokens / Z
= sum / Z), so its loss and gradients equal ``WeightedLoss``'s and only the cost differs. Importance weights are
not supported (HF's loss has none): a batch with weights other than 1 is refused.

``BaselinePlainEngine`` / ``BaselineDSEngine`` are the harness engines with this loss module swapped in.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.load import family_of
from harness.train.engine import DSEngine, PlainEngine
from harness.train.normaliser import tokens_per_example

_BATCH_KEYS = ("input_ids", "attention_mask", "position_ids", "decoder_input_ids", "decoder_attention_mask")


class BaselineLoss(nn.Module):
    """``forward(batch, example_weights[B], normaliser) -> scalar`` through HF's own loss (full logits)."""

    def __init__(self, model: nn.Module, *, norm_mode: str, impl: str = "auto", zero3: bool = False):
        super().__init__()
        if norm_mode != "token":
            raise ValueError(f"the full-logits baseline reproduces train.norm_mode=token only (HF's loss is a mean "
                             f"over label tokens), got {norm_mode!r}")
        self.model = model
        self.family = family_of(model.config)
        self.impl = impl  # unused: HF computes the loss itself (kept for the engine's constructor call)

    def forward(self, batch: dict, example_weights: torch.Tensor, normaliser: float) -> torch.Tensor:
        if not normaliser > 0:
            raise ValueError(f"the step's global normaliser must be > 0 (got {normaliser})")
        if not bool(torch.all(example_weights == 1)):
            raise ValueError("the full-logits baseline has no per-example weights: pass all-ones example_weights")
        n_local = int(tokens_per_example(batch, self.family).sum())
        if n_local == 0:
            raise ValueError("the full-logits baseline needs >= 1 label token per micro-batch (HF's mean loss is "
                             "undefined on an empty set)")
        inputs = {k: batch[k] for k in _BATCH_KEYS if k in batch}
        out = self.model(**inputs, labels=batch["labels"], use_cache=False)
        return out.loss.float() * (n_local / float(normaliser))


class BaselinePlainEngine(PlainEngine):
    loss_cls = BaselineLoss


class BaselineDSEngine(DSEngine):
    loss_cls = BaselineLoss
