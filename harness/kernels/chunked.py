"""Chunked weighted linear cross-entropy: never more than one ``[chunk, V]`` block of logits alive.

Design: for ``reduction="sum"`` the gradients are computed **in the forward pass, chunk by chunk** (Liger-style)
and only scaled by the scalar upstream gradient in backward. That costs the same three matmuls as the naive path
(logits, dL/dhidden, dL/dweight: 6*N*V*H FLOPs); recomputing the logits in backward costs a fourth (8*N*V*H) and
measured 1.4-1.5x slower on CPU (benchmarks/README.md, "weighted_ce", has the timings and memory).
Hence grads-in-forward for "sum".
The recompute path is still needed, and used, for ``reduction="none"``: a per-row upstream gradient ``g_n``
enters dL/dweight = sum_n g_n w_n (softmax_n - onehot_n) h_n^T, so it cannot be folded in after the fact; the
forward then keeps only the per-row losses and backward recomputes each chunk.
When no input needs a gradient, or grad mode is off at the call (``torch.no_grad``, ``inference_mode``: scoring,
validation, even with a head that requires grad), no gradient work is done at all: ``chunked_weighted_ce`` checks
``torch.is_grad_enabled()`` itself, since inside ``Function.forward`` grad mode is always off and
``ctx.needs_input_grad`` follows ``requires_grad`` alone.

Numerics: logits are computed in the input dtype (bf16 or fp32, as a plain ``hidden @ weight.T`` would) and
upcast to fp32 per chunk; log-sum-exp, the softmax gradient and the dL/dweight accumulator are fp32. dL/dhidden's
GEMM runs in the input dtype. dL/dweight's GEMM (``accumulate_grad_weight``) is fp32 except on CUDA with bf16
inputs, where it is a bf16 x bf16 GEMM accumulating in fp32 straight into the fp32 buffer (an fp32 GEMM there
would run on the GPU's much slower fp32 units); its one precision cost is rounding the softmax-gradient block to
bf16 (tests/kernels/test_gemm_dtype.py bounds and measures it).
Ignored rows are dropped before the loop (they cost nothing and get zero gradient).

The per-chunk row work (``row_pass``) is pluggable: the torch version lives here, the Triton one in
``harness.kernels.triton_ce``; both overwrite the chunk's logits in place with ``scale * (softmax - onehot)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch

from harness.log import warn

# Bytes of fp32 logits per chunk (rows = this / (4 * V); 441 rows at V=151,936). Every chunk adds its share of
# dL/dW into the [V, H] fp32 buffer, one full pass over it, so small chunks pay that traffic many times; 256 MiB is
# where the CPU sweep (benchmarks/README.md, "weighted_ce") stopped getting faster while memory stayed ~0.2x naive's.
DEFAULT_CHUNK_BYTES = 256 * 2**20


def chunk_rows(n_rows: int, vocab: int, chunk_size: int | None) -> int:
    """Rows per chunk: ``chunk_size`` if given, else DEFAULT_CHUNK_BYTES worth of fp32 logits."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 row, got {chunk_size}")
        return chunk_size
    return max(1, min(max(n_rows, 1), DEFAULT_CHUNK_BYTES // (4 * vocab)))


def torch_row_pass(logits: torch.Tensor, targets: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    """Per-row CE of an fp32 ``[c, V]`` block (returned, fp32 [c]). Uses the block as scratch.

    With ``scale`` ([c] fp32) the block is overwritten with ``scale * (softmax - onehot(targets))``.
    """
    rows = torch.arange(logits.shape[0], device=logits.device)
    tgt = logits[rows, targets]
    row_max = logits.amax(dim=1)
    logits.sub_(row_max[:, None]).exp_()
    sumexp = logits.sum(dim=1)
    ce = row_max + sumexp.log() - tgt
    if scale is not None:
        logits.mul_((scale / sumexp)[:, None])
        logits[rows, targets] -= scale
    return ce


RowPass = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]

# dL/dweight GEMM modes (accumulate_grad_weight)
GW_FP32 = "fp32"  # fp32 x fp32 GEMM: CPU (where the chunk sizes were tuned), fp32/fp16 inputs, the fallback
GW_BF16 = "bf16"  # bf16 x bf16 GEMM, fp32 accumulate and output, in place: CUDA with bf16 inputs


@cache
def bf16_gemm_fp32_out_supported(device: torch.device) -> bool:
    """Whether ``torch.addmm(c32, a_bf16, b_bf16, out_dtype=torch.float32, out=c32)`` runs, and adds correctly,
    on ``device``. Probed once per device on exact small numbers; a refusal is logged once. (CUDA has the
    ``out_dtype`` overload since torch 2.8, an fp32 ``c32`` beside bf16 operands since 2.10; CPU has none.)
    """
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device, dtype=torch.bfloat16)
    c = torch.full((2, 2), 0.5, device=device, dtype=torch.float32)
    expect = a.float() @ a.float().T + 0.5
    why = None
    try:
        torch.addmm(c, a, a.T, out_dtype=torch.float32, out=c)
    except (RuntimeError, TypeError) as e:  # NotImplementedError (no kernel for the device) is a RuntimeError
        why = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    if why is None and not torch.equal(c, expect):
        why = f"wrong result {c.tolist()} (expected {expect.tolist()})"
    if why is not None:
        warn(f"weighted CE: torch {torch.__version__} cannot add a bf16 x bf16 GEMM into an fp32 buffer on "
             f"{device} ({why}); dL/dweight falls back to the slower fp32 GEMM (CUDA torch >= 2.10 has it: "
             "pytorch#167931)")
    return why is None


def grad_weight_mode(hidden: torch.Tensor) -> str:
    """GW_BF16 on CUDA with bf16 inputs when the installed torch supports it, else GW_FP32 (CPU path unchanged)."""
    if hidden.is_cuda and hidden.dtype == torch.bfloat16 and bf16_gemm_fp32_out_supported(hidden.device):
        return GW_BF16
    return GW_FP32


def accumulate_grad_weight(g_w: torch.Tensor, block: torch.Tensor, h_c: torch.Tensor, mode: str) -> None:
    """``g_w += block.T @ h_c`` for one chunk: g_w [V, H] fp32, block [c, V] fp32 (or already bf16), h_c [c, H].

    GW_FP32: fp32 operands (h_c upcast), fp32 GEMM. GW_BF16 (h_c must be bf16): block rounded to bf16 (relative
    error <= 2^-8 per element: the mode's only precision cost), one cuBLAS GEMM accumulating the bf16 products in
    fp32 onto g_w (beta=1, no [V, H] temporary). On CPU the same mode runs as an fp32 GEMM of the bf16-rounded
    operands (bf16 x bf16 products are exact in fp32, so only the summation order differs): tests use it.
    """
    if mode == GW_FP32:
        g_w.addmm_(block.T, h_c.float())
        return
    if mode != GW_BF16:
        raise ValueError(f"grad-weight mode must be {GW_FP32!r} or {GW_BF16!r}, got {mode!r}")
    if h_c.dtype != torch.bfloat16:
        raise ValueError(f"grad-weight mode {GW_BF16!r} needs bf16 hidden rows, got {h_c.dtype}")
    block = block.to(torch.bfloat16)
    if g_w.is_cuda:
        torch.addmm(g_w, block.T, h_c, out_dtype=torch.float32, out=g_w)
    else:
        g_w.addmm_(block.T.float(), h_c.float())


def _chunk_grads(logits, h_c, weight, g_h_c, g_w, g_b, gw_mode):
    """Add one chunk's gradients; ``logits`` holds ``scale * (softmax - onehot)``, fp32 [c, V]."""
    # one input-dtype copy of the block feeds dL/dhidden and, in GW_BF16 mode, dL/dweight (no copy for fp32)
    lowp = logits.to(weight.dtype) if g_h_c is not None or gw_mode == GW_BF16 else None
    if g_h_c is not None:
        torch.mm(lowp, weight, out=g_h_c)
    if g_w is not None:
        accumulate_grad_weight(g_w, lowp if gw_mode == GW_BF16 else logits, h_c, gw_mode)
    if g_b is not None:
        g_b += logits.sum(dim=0)


def chunk_loop(hidden, weight, bias, targets, scale, *, chunk: int, row_pass: RowPass,
               need_hidden: bool, need_weight: bool, need_bias: bool):
    """Run all chunks over valid rows. ``scale`` None -> losses only.

    Returns (ce [N] fp32, grad_hidden [N,H] in hidden.dtype | None, grad_weight [V,H] fp32 | None,
    grad_bias [V] fp32 | None), gradients being those of sum_n scale_n * CE_n.
    """
    n, vocab = hidden.shape[0], weight.shape[0]
    grads = scale is not None
    ce = torch.empty(n, device=hidden.device, dtype=torch.float32)
    g_h = torch.empty_like(hidden) if grads and need_hidden else None
    g_w = torch.zeros(weight.shape, device=weight.device, dtype=torch.float32) if grads and need_weight else None
    g_b = torch.zeros(vocab, device=weight.device, dtype=torch.float32) if grads and need_bias else None
    gw_mode = grad_weight_mode(hidden) if g_w is not None else GW_FP32
    bias32 = bias.float() if bias is not None else None
    # fp32: one reused logits buffer (a fresh block per chunk costs page faults on CPU)
    buf = torch.empty(min(chunk, n), vocab, device=hidden.device, dtype=torch.float32) \
        if hidden.dtype == torch.float32 and n else None
    for s in range(0, n, chunk):
        h_c = hidden[s:s + chunk]
        if buf is not None:
            logits = torch.mm(h_c, weight.T, out=buf[:h_c.shape[0]])
        else:
            logits = (h_c @ weight.T).float()  # input-dtype matmul (as plain torch would), fp32 after
        if bias32 is not None:
            logits += bias32
        ce[s:s + chunk] = row_pass(logits, targets[s:s + chunk], None if scale is None else scale[s:s + chunk])
        if grads:
            _chunk_grads(logits, h_c, weight, None if g_h is None else g_h[s:s + chunk], g_w, g_b, gw_mode)
        del logits
    return ce, g_h, g_w, g_b


def _compact(hidden, targets, row_weights, ignore_index):
    """Drop ignored rows. Returns (index or None when all valid, hidden, targets, weights as fp32)."""
    valid = targets != ignore_index
    w32 = row_weights.detach().to(torch.float32)
    if bool(valid.all()):
        return None, hidden, targets, w32
    idx = valid.nonzero().squeeze(1)
    return idx, hidden.index_select(0, idx), targets.index_select(0, idx), w32.index_select(0, idx)


def _expand_rows(values, idx, n, fill_like):
    """Scatter compacted per-row values back to N rows (zeros at ignored rows)."""
    if idx is None:
        return values
    out = torch.zeros((n,) + tuple(values.shape[1:]), device=values.device, dtype=fill_like)
    return out.index_copy_(0, idx, values.to(fill_like))


def _check_targets(targets, vocab):
    if targets.numel() and (bool((targets < 0).any()) or bool((targets >= vocab).any())):
        bad = targets[(targets < 0) | (targets >= vocab)][:5].tolist()
        raise ValueError(f"targets must be in [0, V={vocab}) or ignore_index; got out-of-range ids {bad}")


def _reduce(per_row, idx, n, reduction):
    """The sum of the compacted weighted per-row losses, or them scattered back to N rows (0 at ignored rows)."""
    return per_row.sum() if reduction == "sum" else _expand_rows(per_row, idx, n, torch.float32)


def _losses_only(hidden, weight, bias, targets, row_weights, ignore_index, reduction, chunk, row_pass):
    """The forward value with no gradient work: no dL/dhidden, no [V, H] fp32 dL/dweight buffer."""
    idx, h, t, w = _compact(hidden, targets, row_weights, ignore_index)
    _check_targets(t, weight.shape[0])
    ce, _, _, _ = chunk_loop(h, weight, bias, t, None, chunk=chunk, row_pass=row_pass,
                             need_hidden=False, need_weight=False, need_bias=False)
    return _reduce(ce * w, idx, hidden.shape[0], reduction)


class WeightedLinearCE(torch.autograd.Function):
    """sum_n w_n CE_n (``reduction="sum"``, scalar) or w_n CE_n per row (``"none"``, [N]); fp32 output."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, row_weights, ignore_index, reduction, chunk, row_pass):
        n = hidden.shape[0]
        idx, h, t, w = _compact(hidden, targets, row_weights, ignore_index)
        _check_targets(t, weight.shape[0])
        need_h, need_w, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        any_grad = need_h or need_w or need_b
        eager = reduction == "sum" and any_grad
        ce, g_h, g_w, g_b = chunk_loop(h, weight, bias, t, w if eager else None, chunk=chunk, row_pass=row_pass,
                                       need_hidden=need_h, need_weight=need_w, need_bias=need_b)
        ctx.reduction, ctx.n, ctx.chunk, ctx.row_pass, ctx.consumed = reduction, n, chunk, row_pass, False
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        if eager:
            ctx.save_for_backward(idx, g_h, g_w, g_b)
        elif any_grad:
            ctx.save_for_backward(idx, h, weight, bias, t, w)
        return _reduce(ce * w, idx, n, reduction)

    @staticmethod
    def backward(ctx, grad_out):
        h_dt, w_dt, b_dt = ctx.dtypes
        need_h, need_w, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        if ctx.reduction == "sum":
            if ctx.consumed:
                raise RuntimeError("weighted_linear_cross_entropy(reduction='sum') computed its gradients in the "
                                   "forward and scaled them in place: its graph can be backpropagated once only")
            ctx.consumed = True
            idx, g_h, g_w, g_b = ctx.saved_tensors
            g = grad_out.float()
            # in place: a second [V, H] fp32 buffer would double the path's peak memory
            g_h = None if g_h is None else (g_h.float() * g).to(h_dt)
            g_w = None if g_w is None else g_w.mul_(g).to(w_dt)
            g_b = None if g_b is None else g_b.mul_(g).to(b_dt)
        else:
            idx, h, weight, bias, t, w = ctx.saved_tensors
            g = grad_out.float() if idx is None else grad_out.float().index_select(0, idx)
            _, g_h, g_w, g_b = chunk_loop(h, weight, bias, t, w * g, chunk=ctx.chunk, row_pass=ctx.row_pass,
                                          need_hidden=need_h, need_weight=need_w, need_bias=need_b)
            g_w = None if g_w is None else g_w.to(w_dt)
            g_b = None if g_b is None else g_b.to(b_dt)
        if g_h is not None:
            g_h = _expand_rows(g_h, idx, ctx.n, h_dt)
        return g_h, g_w, g_b, None, None, None, None, None, None


def chunked_weighted_ce(hidden, weight, targets, row_weights, *, bias=None, ignore_index: int, reduction: str,
                        chunk_size: int | None = None, row_pass: RowPass = torch_row_pass):
    if reduction not in ("sum", "none"):
        raise ValueError(f"reduction must be 'sum' or 'none', got {reduction!r}")
    chunk = chunk_rows(hidden.shape[0], weight.shape[0], chunk_size)
    if not torch.is_grad_enabled():
        # torch.no_grad / inference_mode: no graph will be built, but ctx.needs_input_grad inside the Function still
        # says True for any input with requires_grad (grad mode is always off in Function.forward), so the "sum"
        # path would compute dL/dhidden and the [V, H] fp32 dL/dweight (2.2 GB for a 7B head) for nothing
        return _losses_only(hidden, weight, bias, targets, row_weights, ignore_index, reduction, chunk, row_pass)
    return WeightedLinearCE.apply(hidden, weight, bias, targets, row_weights, ignore_index, reduction, chunk,
                                  row_pass)


@torch.no_grad()
def chunked_logprobs(hidden, weight, targets, *, bias=None, ignore_index: int, chunk_size: int | None = None,
                     row_pass: RowPass = torch_row_pass) -> torch.Tensor:
    """log p(target_n) per row, fp32 [N], 0 at ignored rows; one chunk of logits at a time, no autograd."""
    idx, h, t, _ = _compact(hidden, targets, torch.ones_like(targets, dtype=torch.float32), ignore_index)
    _check_targets(t, weight.shape[0])
    chunk = chunk_rows(h.shape[0], weight.shape[0], chunk_size)
    ce, _, _, _ = chunk_loop(h, weight, bias, t, None, chunk=chunk, row_pass=row_pass,
                             need_hidden=False, need_weight=False, need_bias=False)
    return _expand_rows(-ce, idx, hidden.shape[0], torch.float32)
