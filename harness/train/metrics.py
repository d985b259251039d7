"""Throughput and memory figures shared by the trainer and the benchmarks: FLOPs per token, MFU / HFU, peak memory.

FLOPs per token (model FLOPs, the MFU numerator): 6 x N_matmul + 12 x layers x hidden x seq, with N_matmul = all
parameters but the input embedding (plus it when the head is tied to it: the head matmul then uses those
weights). ``executed_flops_per_token`` removes the LM-head matmuls the label-rows loss never runs (the head is
applied to label positions only), for HFU. Peak: $HARNESS_PEAK_FLOPS if set; on CUDA the device's tabulated dense
bf16 figure (None for a GPU missing from PEAK_FLOPS); on CPU the fp32 GEMM throughput measured once in this
process, so CPU MFU is relative to what torch's GEMM reaches here, not to a datasheet.
"""

from __future__ import annotations

import functools
import os
import resource
import time

import torch

PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "A10G": 125e12, "L40S": 362e12, "L4": 121e12,
              "V100": 125e12}


def cpu_matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 GEMM FLOP/s of this process: the best of ``repeats`` n x n x n torch.mm after one warm-up
    (best, not median: a peak, and the least disturbed by other processes on a shared machine)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2.0 * n ** 3 / min(times)


@functools.cache
def peak_flops() -> float | None:
    """The MFU denominator (see the module docstring); on CPU 1024^3, best of 5 (~0.1 s)."""
    if os.environ.get("HARNESS_PEAK_FLOPS"):
        return float(os.environ["HARNESS_PEAK_FLOPS"])
    if not torch.cuda.is_available():
        return cpu_matmul_peak(1024, 5)
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


def _numel(p) -> int:
    return int(getattr(p, "ds_numel", p.numel()))  # the full size of a ZeRO-3 partitioned parameter


def matmul_params(model) -> int:
    """Parameters that take part in a matmul per token: all but the input embedding (+ it when tied)."""
    n_emb = _numel(model.get_input_embeddings().weight)
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    return sum(_numel(p) for p in model.parameters()) - (0 if tied else n_emb)


def head_params(model) -> int:
    """Elements of the LM head's weight [V, H]."""
    return _numel(model.get_output_embeddings().weight)


def flops_per_token(model_config, n_matmul_params: int, seq: float) -> float:
    layers = getattr(model_config, "num_hidden_layers", getattr(model_config, "num_layers", 0))
    hidden = getattr(model_config, "hidden_size", getattr(model_config, "d_model", 0))
    return 6.0 * n_matmul_params + 12.0 * layers * hidden * seq


def executed_flops_per_token(model_flops: float, n_head: int, label_rows_only: bool, seq: float,
                             n_labels: float) -> float:
    """FLOPs/token actually executed: the model formula, less the LM-head matmuls (fwd + bwd, 6 x N_head per
    position) on the ``seq - n_labels`` prompt positions when the loss applies the head to label rows only."""
    if not label_rows_only:
        return model_flops
    return model_flops - 6.0 * n_head * (seq - n_labels) / seq


def peak_mem_gb() -> float:
    """CUDA: the allocator's max allocated (host-side bookkeeping, no device sync); CPU: the peak RSS."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
