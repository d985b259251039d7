"""Shared helpers for the weighted-CE kernel tests: inputs, float64 oracle, plain-torch bf16 baseline."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.constants import IGNORE_INDEX
from harness.kernels import weighted_linear_cross_entropy
from harness.kernels.reference import reference_weighted_ce


def make_inputs(n, h, v, dtype, *, bias=False, ignore_frac=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g) * 0.5
    weight = torch.randn(v, h, generator=g) / h ** 0.5
    b = torch.randn(v, generator=g) * 0.1 if bias else None
    targets = torch.randint(0, v, (n,), generator=g)
    targets[torch.rand(n, generator=g) < ignore_frac] = IGNORE_INDEX
    row_w = torch.rand(n, generator=g) * 2
    upstream = torch.randn(n, generator=g)
    b = b.to(dtype) if bias else None
    return hidden.to(dtype), weight.to(dtype), b, targets, row_w, upstream


def run(fn, hidden, weight, bias, reduction, upstream, leaf_dtype=None):
    """Loss and gradients (hidden, weight[, bias]) of fn with a non-unit upstream gradient."""
    inputs = (hidden, weight) + ((bias,) if bias is not None else ())
    leaves = [x.detach().to(leaf_dtype or x.dtype).requires_grad_() for x in inputs]
    out = fn(*leaves)
    grad = upstream.to(out.dtype) if reduction == "none" else torch.tensor(2.5, dtype=out.dtype)
    out.backward(grad)
    return [out.detach()] + [x.grad for x in leaves]


def impl_fn(impl, targets, row_w, reduction, **kw):
    def fn(h, w, b=None):
        return weighted_linear_cross_entropy(h, w, targets, row_w, bias=b, reduction=reduction, impl=impl, **kw)
    return fn


def ref64_fn(targets, row_w, reduction):
    def fn(h, w, b=None):
        return reference_weighted_ce(h.double(), w.double(), targets, row_w.double(),
                                     bias=None if b is None else b.double(), reduction=reduction,
                                     compute_dtype=torch.float64)
    return fn


def plain_fn(targets, row_w, reduction):
    """What a user would write in the input dtype: logits = h @ W^T, F.cross_entropy, weights."""
    def fn(h, w, b=None):
        logits = h @ w.T
        if b is not None:
            logits = logits + b
        ce = F.cross_entropy(logits, targets, reduction="none", ignore_index=IGNORE_INDEX)
        per_row = ce * row_w.to(ce.dtype)
        return per_row.sum() if reduction == "sum" else per_row
    return fn


def max_rel_err(got, ref):
    """max |got - ref| / max(|ref|, tiny), in float64."""
    ref = ref.double()
    return float((got.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
