"""Grad mode: under torch.no_grad / inference_mode the weighted CE computes the loss only, even for a head that
requires grad (no dL/dhidden, no [V, H] fp32 dL/dweight buffer), and gives the grad-mode value."""

import importlib.util

import pytest
import torch
from _ce_helpers import make_inputs

from harness.kernels import chunked, weighted_linear_cross_entropy

IMPLS = ["chunked"] + (["triton"] if importlib.util.find_spec("triton") else [])
DEV = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def spy(monkeypatch):
    """Records each chunk_loop call's gradient flags and every fp32 torch.zeros of shape [V, H] in chunked.py."""
    calls, big = [], []
    real_loop, real_zeros = chunked.chunk_loop, torch.zeros

    def loop(hidden, weight, bias, targets, scale, **kw):
        calls.append({"scale": scale is not None, **{k: kw[k] for k in ("need_hidden", "need_weight", "need_bias")}})
        return real_loop(hidden, weight, bias, targets, scale, **kw)

    def zeros(*shape, **kw):
        dims = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        if len(dims) == 2 and kw.get("dtype") == torch.float32:
            big.append(dims)
        return real_zeros(*shape, **kw)

    monkeypatch.setattr(chunked, "chunk_loop", loop)
    monkeypatch.setattr(chunked.torch, "zeros", zeros)
    return calls, big


def _inputs(bias):
    hidden, weight, b, targets, row_w, _ = make_inputs(7, 16, 300, torch.float32, bias=bias, ignore_frac=0.3)
    hidden, weight, targets, row_w = (x.to(DEV) for x in (hidden, weight, targets, row_w))
    weight = weight.requires_grad_()  # the head's parameter: requires grad even in a validation pass
    b = None if b is None else b.to(DEV).requires_grad_()
    return hidden, weight, b, targets, row_w


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("reduction", ["sum", "none"])
@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_no_grad_computes_losses_only_and_matches_grad_mode(spy, impl, reduction, mode):
    calls, big = spy
    hidden, weight, b, targets, row_w = _inputs(bias=True)

    def loss():
        return weighted_linear_cross_entropy(hidden, weight, targets, row_w, bias=b, reduction=reduction,
                                             impl=impl, chunk_size=3)

    want = loss()
    grad_calls = list(calls)
    if reduction == "sum":  # the spy sees the grad-mode path's gradient work: the check below is not vacuous
        assert grad_calls == [{"scale": True, "need_hidden": False, "need_weight": True, "need_bias": True}]
        assert big == [tuple(weight.shape)]
    calls.clear()
    big.clear()
    with mode():
        got = loss()
    assert calls == [{"scale": False, "need_hidden": False, "need_weight": False, "need_bias": False}]
    assert big == []  # no [V, H] fp32 dL/dweight buffer
    assert not got.requires_grad and got.grad_fn is None
    torch.testing.assert_close(got, want.detach(), rtol=1e-6, atol=1e-6)


def test_grad_mode_off_for_hidden_that_requires_grad_too(spy):
    """A hidden state that requires grad (a model forward without no_grad, then a no_grad loss) is handled alike."""
    calls, big = spy
    hidden, weight, b, targets, row_w = _inputs(bias=False)
    hidden.requires_grad_()
    with torch.no_grad():
        got = weighted_linear_cross_entropy(hidden, weight, targets, row_w, impl="chunked", chunk_size=4)
    want = weighted_linear_cross_entropy(hidden, weight, targets, row_w, impl="reference")
    assert calls[0] == {"scale": False, "need_hidden": False, "need_weight": False, "need_bias": False}
    assert big == [] and not got.requires_grad
    torch.testing.assert_close(got, want.detach().float(), rtol=1e-5, atol=1e-5)
