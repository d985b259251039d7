"""The dL/dweight GEMM modes of the chunked weighted CE against float64: fp32 (CPU, fallback) and bf16 (CUDA).

Precision cost of GW_BF16 = rounding the fp32 softmax-gradient block to bf16 (h is bf16 already; products are
exact in fp32 and accumulate in fp32). Errors against float64 (max |err| / max |ref| unless said), measured on
CPU with the mode's CPU twin (2026-12-01, this file's shapes and N up to 1000):
                                            fp32 mode            bf16 mode            plain torch bf16
  one-GEMM dW buffer, max rel err:          3e-8 - 5e-7          1.4e-3 - 2.0e-3      -
  same, elementwise / (|B|^T |H|):          <= 1.1e-6            <= 3.6e-3 (2^-8 = 3.9e-3 bound)
  returned bf16 dW of the whole loss:       2.5e-3 - 3.2e-3      3.1e-3 - 4.2e-3      3.1e-3 - 4.7e-3
so the cast costs about as much as the final rounding of dW to bf16 that every mode pays. The bound test
rejects the cheaper alternative "bf16 GEMM with bf16 output, then .float() add" (it also rounds each chunk's
product to bf16).
"""

import pytest
import torch
from _ce_helpers import impl_fn, make_inputs, max_rel_err, plain_fn, ref64_fn, run

from harness.kernels import chunked
from harness.kernels.chunked import (
    GW_BF16,
    GW_FP32,
    accumulate_grad_weight,
    bf16_gemm_fp32_out_supported,
    grad_weight_mode,
    torch_row_pass,
)

U32 = 2.0 ** -24  # fp32 unit roundoff
# Tolerance table. One GEMM, elementwise a-priori bound in units of (|B|^T |H|)_ij for n summed rows:
#   fp32: fp32 summation only, 2 (n + 1) u32;  bf16: + the block's rounding to bf16, 2^-8 (h is exact in bf16)
BLOCK_ROUNDING = {GW_FP32: 0.0, GW_BF16: 2.0 ** -8}
# ... and max |err| / max |ref| of the fp32 buffer (measured maxima 5e-7 and 2.0e-3, see the docstring)
BUFFER_REL_TOL = {GW_FP32: 2e-6, GW_BF16: 3e-3}
# Whole loss, bf16 inputs, returned values vs float64: rel err <= factor * plain torch bf16's + slack
E2E_TOL = {"loss": (1.25, 4e-3), "hidden": (1.25, 4e-3), "weight": (1.25, 1e-3), "bias": (1.25, 4e-3)}
SHAPES = [(131, 33, 1001, 16), (423, 64, 4097, 37), (5, 7, 13, 2)]  # (N, H, V, chunk): odd, N % chunk != 0


def grad_block(n, h, v, seed=0):
    """A real softmax-gradient block scale * (softmax - onehot), fp32 [n, V], and bf16 hidden rows [n, H]."""
    hidden, weight, _, targets, row_w, _ = make_inputs(n, h, v, torch.bfloat16, ignore_frac=0.0, seed=seed)
    block = (hidden @ weight.T).float()
    torch_row_pass(block, targets, row_w)
    return block, hidden


def accumulate(block, hidden, chunk, mode):
    g_w = torch.zeros(block.shape[1], hidden.shape[1], device=block.device)
    for s in range(0, block.shape[0], chunk):
        accumulate_grad_weight(g_w, block[s:s + chunk], hidden[s:s + chunk], mode)
    return g_w


def assert_within_bound(g_w, block, hidden, mode):
    """|g_w - float64| <= (rounding + 2 (n + 1) u32) * (|B|^T |H|), elementwise."""
    ref = block.double().T @ hidden.double()
    scale = block.double().abs().T @ hidden.double().abs()
    bound = (BLOCK_ROUNDING[mode] + 2 * (block.shape[0] + 1) * U32) * scale
    excess = ((g_w.double() - ref).abs() - bound).max()
    assert excess <= 0, f"{mode}: dW exceeds its float64 bound by {float(excess):.3g}"
    err = max_rel_err(g_w, ref)
    assert err <= BUFFER_REL_TOL[mode], f"{mode}: dW buffer rel err {err:.3g} > {BUFFER_REL_TOL[mode]}"


@pytest.mark.parametrize("n,h,v,chunk", SHAPES)
@pytest.mark.parametrize("mode", [GW_FP32, GW_BF16])
def test_accumulate_grad_weight_within_float64_bound(n, h, v, chunk, mode):
    block, hidden = grad_block(n, h, v)
    assert_within_bound(accumulate(block, hidden, chunk, mode), block, hidden, mode)


@pytest.mark.parametrize("mode", [GW_FP32, GW_BF16])
def test_accumulate_grad_weight_zero_block_adds_exact_zeros(mode):
    _, hidden = grad_block(9, 7, 13)
    g_w = accumulate(torch.zeros(9, 13), hidden, 4, mode)
    assert torch.count_nonzero(g_w) == 0


def test_accumulate_grad_weight_bad_mode_or_dtype_is_a_clear_error():
    block, hidden = grad_block(4, 8, 16)
    g_w = torch.zeros(16, 8)
    with pytest.raises(ValueError, match="grad-weight mode must be"):
        accumulate_grad_weight(g_w, block, hidden, "tf32")
    with pytest.raises(ValueError, match="needs bf16 hidden rows"):
        accumulate_grad_weight(g_w, block, hidden.float(), GW_BF16)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cpu_keeps_the_fp32_gemm(dtype):
    assert grad_weight_mode(torch.zeros(2, 3, dtype=dtype)) == GW_FP32


def test_unsupported_device_falls_back_with_one_logged_warning(monkeypatch):
    said = []
    monkeypatch.setattr(chunked, "warn", said.append)
    bf16_gemm_fp32_out_supported.cache_clear()
    cpu = torch.device("cpu")
    assert not bf16_gemm_fp32_out_supported(cpu), "CPU torch gained addmm(out_dtype=): revisit grad_weight_mode"
    assert not bf16_gemm_fp32_out_supported(cpu)
    bf16_gemm_fp32_out_supported.cache_clear()
    assert len(said) == 1 and "falls back to the slower fp32 GEMM" in said[0], said


def _force_mode(monkeypatch, mode):
    monkeypatch.setattr(chunked, "grad_weight_mode", lambda hidden: mode)


def assert_e2e_close(got, plain, ref, names, tag):
    for name, g, p, r in zip(names, got, plain, ref):
        factor, slack = E2E_TOL[name]
        err, err_plain = max_rel_err(g, r), max_rel_err(p, r)
        assert err <= factor * err_plain + slack, f"{tag} {name}: rel err {err:.3g} vs plain bf16 {err_plain:.3g}"


@pytest.mark.parametrize("n,h,v,chunk", [(131, 33, 1001, 16), (3, 32, 1000, 2)])
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_bf16_mode_whole_loss_matches_float64_and_changes_only_dw(monkeypatch, n, h, v, chunk, reduction):
    """Ignored rows (20%) included; only dL/dweight may differ between the modes."""
    hidden, weight, b, targets, row_w, up = make_inputs(n, h, v, torch.bfloat16, bias=True, seed=1)
    ref = run(ref64_fn(targets, row_w, reduction), hidden, weight, b, reduction, up, torch.float64)
    plain = run(plain_fn(targets, row_w, reduction), hidden, weight, b, reduction, up)
    fn = impl_fn("chunked", targets, row_w, reduction, chunk_size=chunk)
    _force_mode(monkeypatch, GW_FP32)
    fp32 = run(fn, hidden, weight, b, reduction, up)
    _force_mode(monkeypatch, GW_BF16)
    got = run(fn, hidden, weight, b, reduction, up)
    assert_e2e_close(got, plain, ref, ["loss", "hidden", "weight", "bias"], "bf16 mode")
    for i in (0, 1, 3):
        assert torch.equal(got[i], fp32[i])
    assert got[2].dtype == torch.bfloat16


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_bf16_mode_zero_weights_and_all_ignored_give_zero_grads(monkeypatch, reduction):
    _force_mode(monkeypatch, GW_BF16)
    hidden, weight, b, targets, _, up = make_inputs(9, 7, 13, torch.bfloat16, bias=True)
    for t, w in ((targets, torch.zeros(9)), (torch.full((9,), -100), torch.ones(9))):
        out = run(impl_fn("chunked", t, w, reduction, chunk_size=4), hidden, weight, b, reduction, up)
        for x in out:
            assert torch.isfinite(x).all() and torch.count_nonzero(x) == 0


@pytest.mark.gpu
@pytest.mark.parametrize("n,h,v,chunk", SHAPES)
def test_gpu_bf16_gemm_within_float64_bound_and_matches_cpu_twin(n, h, v, chunk):
    torch.backends.cuda.matmul.allow_tf32 = False
    block, hidden = grad_block(n, h, v)
    assert grad_weight_mode(hidden.cuda()) == GW_BF16, "torch on this GPU lacks the bf16 GEMM with fp32 output"
    assert grad_weight_mode(hidden.float().cuda()) == GW_FP32
    for mode in (GW_FP32, GW_BF16):
        g_cuda = accumulate(block.cuda(), hidden.cuda(), chunk, mode).cpu()
        assert_within_bound(g_cuda, block, hidden, mode)
        twin = accumulate(block, hidden, chunk, mode)  # same roundings, other summation order
        scale = block.to(torch.bfloat16 if mode == GW_BF16 else torch.float32).double().abs().T @ \
            hidden.double().abs()
        assert ((g_cuda.double() - twin.double()).abs() <= 4 * (n + 1) * U32 * scale).all(), mode


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["chunked", "triton"])
@pytest.mark.parametrize("n,h,v,chunk", [(131, 33, 1001, 16), (423, 64, 4097, None)])
def test_gpu_bf16_whole_loss_matches_float64(impl, n, h, v, chunk):
    torch.backends.cuda.matmul.allow_tf32 = False
    hidden, weight, b, targets, row_w, up = make_inputs(n, h, v, torch.bfloat16, bias=True, seed=1)
    ref = run(ref64_fn(targets, row_w, "sum"), hidden, weight, b, "sum", up, torch.float64)
    hidden, weight, b, targets, row_w, up = (x.cuda() for x in (hidden, weight, b, targets, row_w, up))
    assert grad_weight_mode(hidden) == GW_BF16
    plain = run(plain_fn(targets, row_w, "sum"), hidden, weight, b, "sum", up)
    got = run(impl_fn(impl, targets, row_w, "sum", chunk_size=chunk), hidden, weight, b, "sum", up)
    assert_e2e_close([x.cpu() for x in got], [x.cpu() for x in plain], ref, ["loss", "hidden", "weight", "bias"],
                     f"cuda {impl}")
