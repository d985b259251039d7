"""Chunked weighted linear CE against the float64 reference: loss and every gradient, fp32 and bf16, odd shapes."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from _ce_helpers import impl_fn, make_inputs, max_rel_err, plain_fn, ref64_fn, run

from harness.constants import IGNORE_INDEX
from harness.kernels import label_logprobs, resolve_impl, weighted_linear_cross_entropy
from harness.kernels.chunked import chunked_logprobs, chunked_weighted_ce, torch_row_pass

# (dtype, atol, rtol) against float64; bf16 is judged relative to plain torch bf16 instead (see below)
FP32_TOL = (torch.float32, 1e-5, 1e-5)
SHAPES = [(3, 32, 1000), (423, 64, 4097), (64, 48, 257)]  # (N, H, V): odd N, V not a power of two


@pytest.mark.parametrize("n,h,v", SHAPES)
@pytest.mark.parametrize("reduction", ["sum", "none"])
@pytest.mark.parametrize("bias", [False, True])
def test_chunked_fp32_matches_float64_reference(n, h, v, reduction, bias):
    dtype, atol, rtol = FP32_TOL
    hidden, weight, b, targets, row_w, up = make_inputs(n, h, v, dtype, bias=bias)
    got = run(impl_fn("chunked", targets, row_w, reduction, chunk_size=37), hidden, weight, b, reduction, up)
    ref = run(ref64_fn(targets, row_w, reduction), hidden, weight, b, reduction, up, torch.float64)
    for g, r in zip(got, ref):
        assert g.dtype == (torch.float32 if g is got[0] else dtype)
        torch.testing.assert_close(g.double(), r, atol=atol * max(1.0, float(r.abs().max())), rtol=rtol)


@pytest.mark.parametrize("n,h,v", [(3, 32, 1000), (131, 64, 2053)])
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_chunked_bf16_no_worse_than_plain_torch_bf16(n, h, v, reduction):
    hidden, weight, b, targets, row_w, up = make_inputs(n, h, v, torch.bfloat16, bias=True, seed=1)
    got = run(impl_fn("chunked", targets, row_w, reduction, chunk_size=16), hidden, weight, b, reduction, up)
    plain = run(plain_fn(targets, row_w, reduction), hidden, weight, b, reduction, up)
    ref = run(ref64_fn(targets, row_w, reduction), hidden, weight, b, reduction, up, torch.float64)
    assert got[0].dtype == torch.float32 and [g.dtype for g in got[1:]] == [torch.bfloat16] * 3
    for name, g, p, r in zip(["loss", "hidden", "weight", "bias"], got, plain, ref):
        err, err_plain = max_rel_err(g, r), max_rel_err(p, r)
        assert err <= 1.25 * err_plain + 4e-3, f"{name}: chunked bf16 rel err {err:.3g} vs plain bf16 {err_plain:.3g}"


def test_chunked_full_qwen_vocab_once():
    """V = 151,936 (Qwen2) on the chunked path, tiny N and H."""
    hidden, weight, _, targets, row_w, up = make_inputs(5, 16, 151_936, torch.float32, seed=2)
    got = run(impl_fn("chunked", targets, row_w, "sum", chunk_size=2), hidden, weight, None, "sum", up)
    ref = run(ref64_fn(targets, row_w, "sum"), hidden, weight, None, "sum", up, torch.float64)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g.double(), r, atol=1e-5 * max(1.0, float(r.abs().max())), rtol=1e-5)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_chunked_zero_weights_give_zero_loss_and_grads(reduction):
    hidden, weight, b, targets, _, up = make_inputs(9, 16, 300, torch.float32, bias=True)
    zeros = torch.zeros(9)
    loss, gh, gw, gb = run(impl_fn("chunked", targets, zeros, reduction, chunk_size=4), hidden, weight, b,
                           reduction, up)
    for t in (loss, gh, gw, gb):
        assert torch.count_nonzero(t) == 0


@pytest.mark.parametrize("impl", ["chunked", "reference"])
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_all_rows_ignored_gives_zero_loss_grads_no_nan(impl, reduction):
    hidden, weight, b, _, row_w, up = make_inputs(6, 16, 300, torch.float32, bias=True)
    targets = torch.full((6,), IGNORE_INDEX)
    out = run(impl_fn(impl, targets, row_w, reduction), hidden, weight, b, reduction, up)
    for t in out:
        assert torch.isfinite(t).all() and torch.count_nonzero(t) == 0


def test_row_weights_get_no_gradient_and_upstream_scales():
    hidden, weight, _, targets, row_w, _ = make_inputs(8, 16, 100, torch.float32)
    rw = row_w.clone().requires_grad_()
    h = hidden.clone().requires_grad_()
    loss = weighted_linear_cross_entropy(h, weight, targets, rw, impl="chunked")
    (3.0 * loss).backward()
    assert rw.grad is None
    g3 = h.grad.clone()
    h.grad = None
    weighted_linear_cross_entropy(h, weight, targets, rw, impl="chunked").backward()
    torch.testing.assert_close(g3, 3.0 * h.grad)


def _batch(seed=3):
    """4 examples, label-token counts 3, 1, 0, 5 -> rows with example ids; logits from a linear head."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor([3, 1, 0, 5])
    row_example = torch.repeat_interleave(torch.arange(4), counts)
    m = int(counts.sum())
    hidden, weight = torch.randn(m, 16, generator=g), torch.randn(97, 16, generator=g) * 0.3
    return counts, row_example, hidden, weight, torch.randint(0, 97, (m,), generator=g)


def _plain_objective(mode, counts, row_example, logits, targets):
    ce = F.cross_entropy(logits, targets, reduction="none")
    if mode == "token":
        return F.cross_entropy(logits, targets)  # HF's model(labels=...) mean over label tokens
    per_ex = [ce[row_example == e] for e in range(len(counts)) if counts[e] > 0]
    if mode == "example":
        return torch.stack([c.mean() for c in per_ex]).mean()
    return torch.stack([c.sum() for c in per_ex]).mean()


@pytest.mark.parametrize("mode", ["token", "example", "sequence"])
@pytest.mark.parametrize("impl", ["chunked", "reference"])
def test_unit_weights_equal_plain_cross_entropy_per_mode(mode, impl):
    from harness.train.normaliser import local_normaliser, row_weights

    counts, row_example, hidden, weight, targets = _batch()
    r = row_weights(torch.ones(4), row_example, counts, mode)
    z = local_normaliser(counts, mode)
    h1, w1 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    ours = weighted_linear_cross_entropy(h1, w1, targets, r, impl=impl, chunk_size=2) / z
    ours.backward()
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    plain = _plain_objective(mode, counts, row_example, h2 @ w2.T, targets)
    plain.backward()
    torch.testing.assert_close(ours, plain, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h1.grad, h2.grad, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w1.grad, w2.grad, atol=1e-6, rtol=1e-5)


def _recording_pass(seen):
    def row_pass(logits, targets, scale):
        seen.append(tuple(logits.shape))
        return torch_row_pass(logits, targets, scale)
    return row_pass


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_chunked_never_holds_more_than_one_chunk_of_logits(reduction):
    hidden, weight, _, targets, row_w, up = make_inputs(50, 16, 333, torch.float32, ignore_frac=0.0)
    seen = []
    fn = lambda h, w: chunked_weighted_ce(h, w, targets, row_w, ignore_index=IGNORE_INDEX,  # noqa: E731
                                          reduction=reduction, chunk_size=8, row_pass=_recording_pass(seen))
    run(fn, hidden, weight, None, reduction, up)
    assert seen and max(s[0] for s in seen) <= 8 and all(s[1] == 333 for s in seen)
    # "sum": gradients in forward (7 chunks); "none": forward + recompute in backward (14)
    assert len(seen) == (7 if reduction == "sum" else 14)


def test_label_logprobs_chunked_no_grad_float32():
    hidden, weight, b, targets, _, _ = make_inputs(40, 16, 257, torch.bfloat16, bias=True)
    seen = []
    lp = chunked_logprobs(hidden, weight, targets, bias=b, ignore_index=IGNORE_INDEX, chunk_size=6,
                          row_pass=_recording_pass(seen))
    assert max(s[0] for s in seen) <= 6
    logits = (hidden @ weight.T).double() + b.double()  # same bf16 matmul, then exact log-softmax
    valid = targets != IGNORE_INDEX
    exp = torch.where(valid, logits.log_softmax(-1).gather(1, targets.clamp_min(0)[:, None]).squeeze(1), 0.0)
    assert lp.dtype == torch.float32 and not lp.requires_grad
    torch.testing.assert_close(lp.double(), exp, atol=1e-5, rtol=1e-5)
    h32 = hidden.float().requires_grad_()
    api = label_logprobs(h32, weight.float(), targets, bias=b.float(), impl="chunked")
    assert api.dtype == torch.float32 and not api.requires_grad and api[~valid].eq(0).all()


def test_bad_inputs_raise_clear_errors():
    hidden, weight, _, targets, row_w, _ = make_inputs(4, 8, 50, torch.float32, ignore_frac=0.0)
    bad = targets.clone()
    bad[1] = 50
    with pytest.raises(ValueError, match=r"out-of-range ids \[50\]"):
        weighted_linear_cross_entropy(hidden, weight, bad, row_w, impl="chunked")
    with pytest.raises(ValueError, match="share a dtype"):
        weighted_linear_cross_entropy(hidden, weight.bfloat16(), targets, row_w, impl="chunked")
    with pytest.raises(ValueError, match="reduction"):
        weighted_linear_cross_entropy(hidden, weight, targets, row_w, impl="chunked", reduction="mean")
    with pytest.raises(ValueError, match="0 elements.*ZeRO-3"):
        weighted_linear_cross_entropy(hidden, torch.empty(0), targets, row_w, impl="chunked")
    with pytest.raises(ValueError, match="chunk_size"):
        weighted_linear_cross_entropy(hidden, weight, targets, row_w, impl="chunked", chunk_size=0)


def test_auto_is_chunked_on_cpu_and_never_imports_triton():
    assert resolve_impl("auto", torch.device("cpu")) == "chunked"
    code = ("import sys, torch\nfrom harness.kernels import weighted_linear_cross_entropy as f\n"
            "f(torch.randn(2, 4), torch.randn(9, 4), torch.tensor([1, 2]), torch.ones(2))\n"
            "print('triton' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sum_graph_backpropagated_twice_is_a_clear_error():
    hidden, weight, _, targets, row_w, _ = make_inputs(4, 8, 50, torch.float32, ignore_frac=0.0)
    h = hidden.clone().requires_grad_()
    loss = weighted_linear_cross_entropy(h, weight, targets, row_w, impl="chunked")
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backpropagated once"):
        loss.backward()
