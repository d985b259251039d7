"""Triton path: on CPU under TRITON_INTERPRET=1 (tests/conftest.py) at tiny shapes, for real on a CUDA GPU."""

import pytest
import torch
from _ce_helpers import impl_fn, make_inputs, max_rel_err, plain_fn, ref64_fn, run

from harness.constants import IGNORE_INDEX
from harness.kernels import label_logprobs, resolve_impl

pytest.importorskip("triton")
INTERPRET = not torch.cuda.is_available()  # conftest sets TRITON_INTERPRET=1 then
DEV = "cuda" if torch.cuda.is_available() else "cpu"


def _to(dev, *ts):
    return [None if t is None else t.to(dev) for t in ts]


@pytest.mark.parametrize("n,h,v", [(3, 16, 1000), (5, 8, 2500)])  # V not a power of two; 2 vocab blocks
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_triton_fp32_matches_float64_reference(n, h, v, reduction, monkeypatch):
    if INTERPRET:  # two vocabulary blocks per row exercise the online log-sum-exp rescaling
        monkeypatch.setattr("harness.kernels.triton_ce.INTERPRET_BLOCK_V", 1024)
    hidden, weight, b, targets, row_w, up = make_inputs(n, h, v, torch.float32, bias=True, ignore_frac=0.3)
    hidden, weight, b, targets, row_w, up = _to(DEV, hidden, weight, b, targets, row_w, up)
    got = run(impl_fn("triton", targets, row_w, reduction, chunk_size=2), hidden, weight, b, reduction, up)
    ref = run(ref64_fn(targets, row_w, reduction), hidden, weight, b, reduction, up, torch.float64)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g.double(), r, atol=1e-5 * max(1.0, float(r.abs().max())), rtol=1e-5)


def test_triton_bf16_no_worse_than_plain_torch_bf16():
    hidden, weight, b, targets, row_w, up = make_inputs(4, 16, 700, torch.bfloat16, bias=True, seed=4)
    hidden, weight, b, targets, row_w, up = _to(DEV, hidden, weight, b, targets, row_w, up)
    got = run(impl_fn("triton", targets, row_w, "sum"), hidden, weight, b, "sum", up)
    plain = run(plain_fn(targets, row_w, "sum"), hidden, weight, b, "sum", up)
    ref = run(ref64_fn(targets, row_w, "sum"), hidden, weight, b, "sum", up, torch.float64)
    for name, g, p, r in zip(["loss", "hidden", "weight", "bias"], got, plain, ref):
        err, err_plain = max_rel_err(g, r), max_rel_err(p, r)
        assert err <= 1.25 * err_plain + 4e-3, f"{name}: triton bf16 rel err {err:.3g} vs plain bf16 {err_plain:.3g}"


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_triton_all_ignored_and_zero_weights(reduction):
    hidden, weight, b, targets, _, up = make_inputs(3, 8, 300, torch.float32, bias=True, ignore_frac=0.0)
    for t, w in ((torch.full((3,), IGNORE_INDEX), torch.ones(3)), (targets, torch.zeros(3))):
        out = run(impl_fn("triton", *_to(DEV, t, w), reduction), *_to(DEV, hidden, weight, b), reduction,
                  up.to(DEV))
        for x in out:
            assert torch.isfinite(x).all() and torch.count_nonzero(x) == 0


def test_triton_label_logprobs_match_chunked():
    hidden, weight, b, targets, _, _ = make_inputs(4, 8, 900, torch.float32, bias=True, ignore_frac=0.3)
    hidden, weight, b, targets = _to(DEV, hidden, weight, b, targets)
    lp_t = label_logprobs(hidden, weight, targets, bias=b, impl="triton")
    lp_c = label_logprobs(hidden, weight, targets, bias=b, impl="chunked")
    assert lp_t.dtype == torch.float32
    torch.testing.assert_close(lp_t, lp_c, atol=1e-5, rtol=1e-5)


def test_triton_on_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    from harness.kernels.triton_ce import check_device

    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        check_device(torch.empty(0))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_gpu_qwen_vocab(dtype):
    torch.backends.cuda.matmul.allow_tf32 = False
    assert resolve_impl("auto", torch.device("cuda")) == "triton"
    hidden, weight, _, targets, row_w, up = make_inputs(423, 128, 151_936, dtype, seed=5)
    hidden, weight, targets, row_w, up = _to("cuda", hidden, weight, targets, row_w, up)
    got = run(impl_fn("triton", targets, row_w, "sum"), hidden, weight, None, "sum", up)
    ref = run(ref64_fn(targets, row_w, "sum"), hidden, weight, None, "sum", up, torch.float64)
    if dtype == torch.float32:
        for g, r in zip(got, ref):
            torch.testing.assert_close(g.double(), r, atol=1e-5 * max(1.0, float(r.abs().max())), rtol=1e-5)
        return
    plain = run(plain_fn(targets, row_w, "sum"), hidden, weight, None, "sum", up)
    for g, p, r in zip(got, plain, ref):
        assert max_rel_err(g, r) <= 1.25 * max_rel_err(p, r) + 4e-3
