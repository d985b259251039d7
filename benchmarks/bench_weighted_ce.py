"""Benchmark: weighted linear cross-entropy, forward + backward time and peak memory per provider.

Providers (same inputs, loss = sum_n w_n CE_n, gradients to hidden and weight):
    naive             full fp32 logits [N, V] = hidden @ weight^T, F.cross_entropy(reduction="none") * w, sum
    chunked           harness.kernels impl="chunked" (gradients computed chunk by chunk in the forward)
    chunked_recompute impl="chunked", reduction="none" then .sum(): forward keeps per-row losses only and the
                      backward recomputes each chunk's logits (the alternative design, measured for the choice)
    triton            impl="triton" (CUDA only)
    liger, cce        Liger-Kernel's / Cut-Cross-Entropy's fused linear CE, *unweighted* baselines (CUDA, if
                      installed)
Shapes: V=151,936 (Qwen2), H in {896 (0.5B), 3584 (7B)}, N in {512, 2048, 8192} (+16384 on GPU); pick with
``--shapes N,H[,V];...`` or ``--quick`` (N=512, H=896). FLOPs per step: 6*N*V*H (logits, dL/dhidden, dL/dweight;
the recompute variant does 8*N*V*H); reported as achieved TFLOP/s = 6*N*V*H / time.

Time: all providers of a shape share one process and its inputs and run **round-robin** (``--warmup`` untimed
rounds, then ``--repeats`` timed rounds; the median per provider is reported), so load from other processes on a
shared machine slows every provider alike. Grads are reset to None before every call, so each call allocates
its own dL/dweight.
Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` above the allocation after the inputs exist; on CPU each
(provider, shape) runs in a **fresh subprocess** and the peak is ``ru_maxrss`` (the kernel's resident-set
high-water mark) after the first fwd+bwd minus the RSS once the inputs are allocated (benchmarks/common.py). It
counts everything the call allocates, including dL/dweight ([V, H] fp32, 0.54 GB at H=896).
Rows are appended to benchmarks/results/weighted_ce.csv with device, date, versions and git revision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, PeakMemory, append_rows, env_stamp, run_worker, time_median  # noqa: E402
from harness.kernels import weighted_linear_cross_entropy  # noqa: E402

VOCAB = 151_936  # Qwen2 tokenizer vocabulary
CPU_SHAPES = [(512, 896), (2048, 896)]  # what fits in a few minutes on 2 cores (N=2048: ~15 s per fwd+bwd)
GPU_SHAPES = [(n, h) for h in (896, 3584) for n in (512, 2048, 8192, 16384)]
ALL_CPU_SHAPES = [(n, h) for h in (896, 3584) for n in (512, 2048, 8192)]


def make_inputs(n, h, v, dtype, device, seed=0):
    """In-place init, no temporaries: the RSS high-water mark must equal the RSS once inputs exist (CPU)."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.empty(n, h, dtype=dtype).normal_(0.0, 0.5, generator=g).to(device).requires_grad_()
    weight = torch.empty(v, h, dtype=dtype).normal_(0.0, h ** -0.5, generator=g).to(device).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g).to(device)
    row_w = (torch.rand(n, generator=g) * 2).to(device)
    return hidden, weight, targets, row_w


def provider_fn(name, hidden, weight, targets, row_w, chunk_size):
    """A closure doing one forward + backward; grads reset first."""
    def loss():
        if name == "naive":
            logits = (hidden @ weight.T).float()
            return (F.cross_entropy(logits, targets, reduction="none") * row_w).sum()
        if name in ("chunked", "triton"):
            return weighted_linear_cross_entropy(hidden, weight, targets, row_w, impl=name, chunk_size=chunk_size)
        if name == "chunked_recompute":
            return weighted_linear_cross_entropy(hidden, weight, targets, row_w, impl="chunked", reduction="none",
                                                 chunk_size=chunk_size).sum()
        if name == "liger":
            from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
            return LigerFusedLinearCrossEntropyLoss(reduction="sum")(weight, hidden, targets)
        if name == "cce":
            from cut_cross_entropy import linear_cross_entropy
            return linear_cross_entropy(hidden, weight, targets, reduction="sum")
        raise ValueError(f"unknown provider {name!r}")

    def step():
        hidden.grad = None
        weight.grad = None
        loss().backward()
    return step


def available(name, device):
    if name in ("naive", "chunked", "chunked_recompute"):
        return True
    if device.type != "cuda":
        return False
    mod = {"triton": "triton", "liger": "liger_kernel", "cce": "cut_cross_entropy"}[name]
    import importlib.util
    return importlib.util.find_spec(mod) is not None


def measure_memory(spec: dict) -> float:
    """Peak MiB of one fwd+bwd of one provider (CPU: call this first thing in a fresh process)."""
    device = torch.device(spec["device"])
    hidden, weight, targets, row_w = make_inputs(spec["n"], spec["h"], spec["v"], getattr(torch, spec["dtype"]),
                                                 device)
    step = provider_fn(spec["provider"], hidden, weight, targets, row_w, spec.get("chunk_size"))
    with PeakMemory(device) as mem:
        step()
    return mem.peak_bytes / 2**20


def measure_times(spec: dict) -> dict:
    """Round-robin timing of all providers on the same inputs, so a busy machine slows them alike:
    ``warmup`` untimed rounds, then ``repeats`` timed rounds; returns {provider: [seconds per round]}."""
    device = torch.device(spec["device"])
    hidden, weight, targets, row_w = make_inputs(spec["n"], spec["h"], spec["v"], getattr(torch, spec["dtype"]),
                                                 device)
    steps = {p: provider_fn(p, hidden, weight, targets, row_w, spec.get("chunk_size")) for p in spec["providers"]}
    times = {p: [] for p in steps}
    for _ in range(spec["warmup"]):
        for step in steps.values():
            step()
    for _ in range(spec["repeats"]):
        for p, step in steps.items():
            times[p].append(time_median(step, warmup=0, repeats=1, device=device)[0])
    return times


def run_spec(spec: dict):
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    return measure_memory(spec) if spec["mode"] == "memory" else measure_times(spec)


def _run(spec, device):
    if device.type == "cpu":
        return run_worker([__file__, "--worker", json.dumps(spec)])
    return run_spec(spec)


def parse_shapes(text: str):
    shapes = []
    for part in text.split(";"):
        vals = [int(x) for x in part.split(",") if x.strip()]
        if len(vals) not in (2, 3):
            raise ValueError(f"--shapes entry {part!r}: expected N,H or N,H,V")
        shapes.append(tuple(vals) if len(vals) == 3 else (vals[0], vals[1], VOCAB))
    return shapes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="", help="float32 | bfloat16 (default: float32 on CPU, bfloat16 on CUDA)")
    ap.add_argument("--shapes", default="", help=f"N,H[,V];... (default: CPU {CPU_SHAPES}, GPU {GPU_SHAPES})")
    ap.add_argument("--all", action="store_true", help="every CPU shape of the issue (N up to 8192, H up to 3584)")
    ap.add_argument("--quick", action="store_true", help="N=512, H=896 only, one timed repeat")
    ap.add_argument("--providers", default="naive,chunked,chunked_recompute,triton,liger,cce")
    ap.add_argument("--warmup", type=int, default=1, help="untimed round-robin rounds before timing")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls; the median is reported")
    ap.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0 = torch default)")
    ap.add_argument("--chunk-size", type=int, default=None, help="rows per chunk (default: the library's)")
    ap.add_argument("--out", default=str(RESULTS / "weighted_ce.csv"))
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(run_spec(json.loads(args.worker))))
        return
    device = torch.device(args.device)
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    if args.quick:
        shapes, args.repeats = [(512, 896, VOCAB)], 1
    elif args.shapes:
        shapes = parse_shapes(args.shapes)
    else:
        base = GPU_SHAPES if device.type == "cuda" else (ALL_CPU_SHAPES if args.all else CPU_SHAPES)
        shapes = [(n, h, VOCAB) for n, h in base]
    providers = [p for p in args.providers.split(",") if available(p, device)]
    stamp = env_stamp(device)
    rows = []
    for n, h, v in shapes:
        base = {"n": n, "h": h, "v": v, "dtype": dtype, "device": str(device), "threads": args.threads,
                "chunk_size": args.chunk_size}
        peaks = {}
        for prov in providers:  # CPU: each provider's memory in its own fresh process
            spec = {**base, "mode": "memory", "provider": prov}
            peaks[prov] = _run(spec, device)
        times = _run({**base, "mode": "times", "providers": providers, "warmup": args.warmup,
                      "repeats": args.repeats}, device)
        for prov in providers:
            med = statistics.median(times[prov])
            flops = (8 if prov == "chunked_recompute" else 6) * n * v * h
            row = {**stamp, "provider": prov, "weighted": prov not in ("liger", "cce"), "dtype": dtype, "N": n,
                   "H": h, "V": v, "chunk_size": args.chunk_size or "",
                   "threads": args.threads or torch.get_num_threads(), "median_s": round(med, 4),
                   "times_s": " ".join(f"{t:.3f}" for t in times[prov]), "peak_mb": round(peaks[prov], 1),
                   "tflops": round(flops / med / 1e12, 4)}
            rows.append(row)
            print(f"{prov:18s} N={n} H={h} V={v}: {med:.3f} s  peak {peaks[prov]:.0f} MiB", flush=True)
    append_rows(args.out, rows)
    _table(rows)


def _table(rows):
    from harness.log import table

    naive = {(r["N"], r["H"]): r for r in rows if r["provider"] == "naive"}
    out = []
    for r in rows:
        base = naive.get((r["N"], r["H"]))
        ratio_t = f"{r['median_s'] / base['median_s']:.2f}x" if base else "-"
        ratio_m = f"{r['peak_mb'] / base['peak_mb']:.3f}x" if base and base["peak_mb"] > 0 else "-"
        out.append([r["provider"], r["N"], r["H"], r["median_s"], ratio_t, r["peak_mb"], ratio_m, r["tflops"]])
    table(f"weighted linear CE fwd+bwd on {rows[0]['device']} ({rows[0]['dtype']})" if rows else "no rows",
          ["provider", "N", "H", "median s", "vs naive", "peak MiB", "vs naive", "TFLOP/s"], out)


if __name__ == "__main__":
    main()
