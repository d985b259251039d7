"""Triton row pass for the chunked weighted CE (imported lazily: only ``harness.kernels`` dispatch imports it).

Liger-style design: the chunk's logits ``[c, V]`` come from a torch matmul (cuBLAS); one Triton program per row
then runs an **online log-sum-exp over vocabulary blocks** (running max and rescaled sum), reads the target
logit, writes the row's CE, and in a second sweep overwrites the logits in place with
``scale_n * (softmax_n - onehot_n)``: the per-row weight is applied to dlogits *before* the dL/dweight and
dL/dhidden matmuls that follow in ``harness.kernels.chunked.chunk_loop``.

On CPU the kernel runs only under ``TRITON_INTERPRET=1`` (tests); elsewhere it needs a CUDA tensor.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

MAX_BLOCK_V = 16384  # widest vocabulary block per loop iteration (elements)
INTERPRET_BLOCK_V = 65536  # the interpreter costs ms per iteration: use few, wide blocks


@triton.jit
def _row_ce_kernel(logits_ptr, stride_row, targets_ptr, scale_ptr, ce_ptr, V,
                   HAS_SCALE: tl.constexpr, BLOCK_V: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = logits_ptr + row * stride_row
    target = tl.load(targets_ptr + row).to(tl.int64)
    m = float("-inf")
    s = 0.0
    for start in range(0, V, BLOCK_V):
        offs = start + tl.arange(0, BLOCK_V)
        x = tl.load(base + offs, mask=offs < V, other=float("-inf")).to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        s = s * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)
        m = m_new
    lse = m + tl.log(s)
    x_t = tl.load(base + target).to(tl.float32)
    tl.store(ce_ptr + row, lse - x_t)
    if HAS_SCALE:
        scale = tl.load(scale_ptr + row).to(tl.float32)
        for start in range(0, V, BLOCK_V):
            offs = start + tl.arange(0, BLOCK_V)
            x = tl.load(base + offs, mask=offs < V, other=0.0).to(tl.float32)
            d = scale * (tl.exp(x - lse) - tl.where(offs == target, 1.0, 0.0))
            tl.store(base + offs, d.to(logits_ptr.dtype.element_ty), mask=offs < V)


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def check_device(t: torch.Tensor) -> None:
    """The Triton impl needs CUDA tensors, or CPU tensors with TRITON_INTERPRET=1 (set before import)."""
    if t.is_cuda:
        return
    if t.device.type == "cpu" and _interpreting():
        return
    raise RuntimeError(f"impl='triton' needs CUDA tensors (got device {t.device}); on CPU it runs only under "
                       "TRITON_INTERPRET=1 set before harness.kernels.triton_ce is imported; use impl='chunked'")


def triton_row_pass(logits: torch.Tensor, targets: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    """Same contract as ``chunked.torch_row_pass``: per-row CE (fp32), dlogits in place when ``scale``."""
    check_device(logits)
    if logits.stride(1) != 1:
        raise ValueError("triton_row_pass needs logits with unit stride along the vocabulary")
    c, vocab = logits.shape
    ce = torch.empty(c, device=logits.device, dtype=torch.float32)
    if c == 0:
        return ce
    cap = INTERPRET_BLOCK_V if _interpreting() else MAX_BLOCK_V
    block = min(cap, triton.next_power_of_2(vocab))
    targets = targets.contiguous()
    scale_arg = scale.contiguous() if scale is not None else ce  # unused when HAS_SCALE is False
    _row_ce_kernel[(c,)](logits, logits.stride(0), targets, scale_arg, ce, vocab,
                         HAS_SCALE=scale is not None, BLOCK_V=block, num_warps=8 if block >= 4096 else 4)
    return ce
