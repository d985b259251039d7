"""Benchmark: weighted linear cross-entropy, forward + backward time and peak memory per provider.

Providers (same inputs, loss = sum_n w_n CE_n, gradients to hidden and weight):
    naive             full fp32 logits [N, V] = hidden @ weight^T, F.cross_entropy(reduction="none") * w, sum
    chunked           harness.kernels impl="chunked" (gradients computed chunk by chunk in the forward)
    chunked_recompute impl="chunked", reduction="none" then .sum(): forward keeps per-row losses only and the
                      backward recomputes each chunk's logits (the alternative design, measured for the choice)
    triton            impl="triton" (CUDA only)
    liger             Liger-Kernel ``LigerFusedLinearCrossEntropyLoss(reduction="sum")(weight, hidden, targets)``
    cce               Cut Cross-Entropy ``linear_cross_entropy(hidden, weight, targets, reduction="sum")``, its
                      default gradient filter (filter_eps="high": skips the backward of vocabulary blocks whose
                      softmax is below bf16 eps / 32 - most of them on random logits)
    cce_nofilter      the same with ``filter_eps=None`` (the full backward: the like-for-like comparison)
liger / cce / cce_nofilter are *unweighted* baselines (CUDA only; third-party: one that fails to import or run
is recorded in its row's ``error`` column and the log, and skips only itself; the script then exits 1).
Shapes: V=151,936 (Qwen2), H in {896 (0.5B), 3584 (7B)}, N in {512, 2048, 8192} (+16384 on GPU); pick with
``--shapes N,H[,V];...``, ``--cases-from gpu:NAME`` (benchmarks/gpu_cases.py: shapes and providers) or
``--quick`` (N=512, H=896). FLOPs per step: 6*N*V*H (logits, dL/dhidden, dL/dweight; the recompute variant does
8*N*V*H); reported as achieved TFLOP/s = 6*N*V*H / time.

Inputs (hidden [N,H], weight [V,H], targets, row weights) are made on the device, once per shape, and shared by
every provider (none mutates them; grads are reset to None before every call, so each call allocates its own
dL/dweight). Correctness: each provider's first loss is compared with an fp32 reference of the same inputs
(weighted for ours, unweighted for the baselines): columns ``loss``, ``ref_loss``, ``loss_rel_err``.
Time: all providers of a shape share one process and run **round-robin** (``--warmup`` untimed rounds, then
``--repeats`` timed rounds; the median per provider is reported), so load from other processes on a shared
machine slows every provider alike.
Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` above the allocation after the inputs exist, measured
on the provider's second call (after compilation / autotuning); on CPU each (provider, shape) runs in a **fresh
subprocess** and the peak is the RSS high-water mark after the first fwd+bwd minus the RSS once the inputs exist
(benchmarks/common.py). It counts everything the call allocates, including dL/dweight ([V, H] fp32, 0.54 GB at
H=896).
Rows are appended to benchmarks/results/weighted_ce.csv per shape, as soon as the shape is done, with device,
date, versions and git revision. ``--dry-run`` checks the shapes and providers and appends plan rows only.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import statistics
import sys
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import gpu_cases  # noqa: E402
from benchmarks.common import (  # noqa: E402
    RESULTS,
    PeakMemory,
    WorkerError,
    append_rows,
    dry_run_stamp,
    env_stamp,
    run_worker,
    time_median,
)
from harness.kernels import weighted_linear_cross_entropy  # noqa: E402

VOCAB = 151_936  # Qwen2 tokenizer vocabulary
CPU_SHAPES = [(512, 896), (2048, 896)]  # what fits in a few minutes on 2 cores (N=2048: ~15 s per fwd+bwd)
GPU_SHAPES = [(n, h) for h in (896, 3584) for n in (512, 2048, 8192, 16384)]
ALL_CPU_SHAPES = [(n, h) for h in (896, 3584) for n in (512, 2048, 8192)]
PROVIDERS = ("naive", "chunked", "chunked_recompute", "triton", "liger", "cce", "cce_nofilter")
THIRD_PARTY = {"liger": "liger_kernel", "cce": "cut_cross_entropy", "cce_nofilter": "cut_cross_entropy"}
CUDA_ONLY = ("triton", *THIRD_PARTY)
UNWEIGHTED = tuple(THIRD_PARTY)  # baselines without per-row weights: compared with the unweighted reference


def make_inputs(n, h, v, dtype, device, seed=0):
    """hidden [N,H], weight [V,H], targets [N], row weights [N], drawn directly on ``device`` (no host copy) and
    in place (no temporaries: on CPU the RSS high-water mark must equal the RSS once the inputs exist)."""
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(seed)
    hidden = torch.empty(n, h, dtype=dtype, device=device).normal_(0.0, 0.5, generator=g).requires_grad_()
    weight = torch.empty(v, h, dtype=dtype, device=device).normal_(0.0, h ** -0.5, generator=g).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g, device=device)
    row_w = torch.rand(n, generator=g, device=device).mul_(2)
    return hidden, weight, targets, row_w


@torch.no_grad()
def reference_losses(hidden, weight, targets, row_w) -> dict:
    """fp32 full-logits losses of the inputs: {"weighted": sum w_n CE_n, "unweighted": sum CE_n}."""
    ce = F.cross_entropy(hidden.float() @ weight.float().T, targets, reduction="none")
    return {"weighted": float((ce * row_w).sum()), "unweighted": float(ce.sum())}


def loss_closure(name, hidden, weight, targets, row_w, chunk_size):
    """A function computing the provider's loss. Third-party packages are imported here: a missing one raises
    ImportError for that provider only."""
    if name == "naive":
        return lambda: (F.cross_entropy((hidden @ weight.T).float(), targets, reduction="none") * row_w).sum()
    if name in ("chunked", "triton"):
        return lambda: weighted_linear_cross_entropy(hidden, weight, targets, row_w, impl=name,
                                                     chunk_size=chunk_size)
    if name == "chunked_recompute":
        return lambda: weighted_linear_cross_entropy(hidden, weight, targets, row_w, impl="chunked",
                                                     reduction="none", chunk_size=chunk_size).sum()
    if name == "liger":  # liger-kernel 0.8: forward(lin_weight, _input, target, bias=None)
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        module = LigerFusedLinearCrossEntropyLoss(reduction="sum")
        return lambda: module(weight, hidden, targets)
    if name in ("cce", "cce_nofilter"):  # cut-cross-entropy 25.x: linear_cross_entropy(e, c, targets, ...)
        from cut_cross_entropy import linear_cross_entropy

        eps = {} if name == "cce" else {"filter_eps": None}
        return lambda: linear_cross_entropy(hidden, weight, targets, reduction="sum", **eps)
    raise ValueError(f"unknown provider {name!r}; known: {PROVIDERS}")


def provider_fn(name, hidden, weight, targets, row_w, chunk_size):
    """A closure doing one forward + backward (grads reset first); returns the detached loss."""
    loss_of = loss_closure(name, hidden, weight, targets, row_w, chunk_size)

    def step():
        hidden.grad = None
        weight.grad = None
        loss = loss_of()
        loss.backward()
        return loss.detach()
    return step


def available(name, device) -> bool:
    """Whether ``name`` can run on this device type (CUDA-only providers need a GPU)."""
    if name not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; known: {PROVIDERS}")
    return name not in CUDA_ONLY or torch.device(device).type == "cuda"


def installed(name) -> bool:
    """Third-party providers: is the package importable here (not importing it)."""
    return name not in THIRD_PARTY or importlib.util.find_spec(THIRD_PARTY[name]) is not None


def measure_memory(spec: dict) -> float:
    """Peak MiB of one fwd+bwd of one provider (CPU: call this first thing in a fresh process)."""
    device = torch.device(spec["device"])
    inputs = make_inputs(spec["n"], spec["h"], spec["v"], getattr(torch, spec["dtype"]), device)
    step = provider_fn(spec["provider"], *inputs, spec.get("chunk_size"))
    with PeakMemory(device) as mem:
        step()
    return mem.peak_bytes / 2**20


def _fail(res: dict, steps: dict, prov: str, exc: Exception) -> None:
    """Record a provider's failure (row + log) and drop it from the rest of the shape."""
    res[prov]["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    steps.pop(prov, None)
    print(f"provider {prov} FAILED and is skipped: {res[prov]['error']}", file=sys.stderr, flush=True)
    traceback.print_exc()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure_shape(spec: dict) -> dict:
    """Every provider of one shape on inputs made once: a first call per provider (compiles / autotunes; its loss
    is kept for the check), on CUDA a second call under PeakMemory, then round-robin timing. Returns
    {provider: {"times_s", "loss", "peak_mb"?, "error"?}}: a provider that raises is recorded and dropped."""
    device = torch.device(spec["device"])
    inputs = make_inputs(spec["n"], spec["h"], spec["v"], getattr(torch, spec["dtype"]), device)
    res = {p: {"times_s": []} for p in spec["providers"]}
    res["_ref"] = reference_losses(*inputs)
    steps = {}
    for p in spec["providers"]:
        try:  # broad on purpose: an import, compile or launch error of one provider must not end the shape
            steps[p] = provider_fn(p, *inputs, spec.get("chunk_size"))
            res[p]["loss"] = float(steps[p]())
            if spec.get("memory"):
                with PeakMemory(device) as mem:
                    steps[p]()
                res[p]["peak_mb"] = mem.peak_bytes / 2**20
        except Exception as e:
            _fail(res, steps, p, e)
    for i in range(spec["warmup"] + spec["repeats"]):
        for p, step in list(steps.items()):
            try:
                t = time_median(step, warmup=0, repeats=1, device=device)[0]
            except Exception as e:
                _fail(res, steps, p, e)
                continue
            if i >= spec["warmup"]:
                res[p]["times_s"].append(t)
    return res


def run_spec(spec: dict):
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    return measure_memory(spec) if spec["mode"] == "memory" else measure_shape(spec)


def measure(base: dict, providers: list, warmup: int, repeats: int, device: torch.device) -> dict:
    """CUDA: everything in this process. CPU: each provider's memory in its own fresh worker, then one worker
    times all of them (fresh processes, so the RSS high-water marks are the providers' own)."""
    spec = {**base, "mode": "times", "providers": providers, "warmup": warmup, "repeats": repeats}
    if device.type == "cuda":
        return run_spec({**spec, "memory": True})
    peaks = {}
    for prov in providers:
        try:
            peaks[prov] = run_worker([__file__, "--worker", json.dumps({**base, "mode": "memory", "provider": prov})])
        except WorkerError as e:
            peaks[prov] = None
            print(f"memory worker of {prov} failed: {e}", file=sys.stderr, flush=True)
    res = run_worker([__file__, "--worker", json.dumps(spec)])
    for prov in providers:
        res[prov]["peak_mb"] = peaks[prov]
    return res


def shape_rows(stamp: dict, shape: tuple, res: dict, dtype: str, chunk_size, threads: int) -> list[dict]:
    n, h, v = shape
    ref = res["_ref"]
    rows = []
    for prov, r in res.items():
        if prov == "_ref":
            continue
        weighted = prov not in UNWEIGHTED
        row = {**stamp, "provider": prov, "weighted": weighted, "dtype": dtype, "N": n, "H": h, "V": v,
               "chunk_size": chunk_size or "", "threads": threads}
        if r["times_s"] and not r.get("error"):
            med = statistics.median(r["times_s"])
            flops = (8 if prov == "chunked_recompute" else 6) * n * v * h
            want = ref["weighted" if weighted else "unweighted"]
            row.update(median_s=round(med, 4), times_s=" ".join(f"{t:.4f}" for t in r["times_s"]),
                       peak_mb="" if r.get("peak_mb") is None else round(r["peak_mb"], 1),
                       tflops=round(flops / med / 1e12, 4), loss=f"{r['loss']:.6g}", ref_loss=f"{want:.6g}",
                       loss_rel_err=f"{abs(r['loss'] - want) / max(abs(want), 1e-30):.2e}")
            print(f"{prov:18s} N={n} H={h} V={v}: {med:.4f} s  peak {row['peak_mb']} MiB  "
                  f"loss rel err {row['loss_rel_err']}", flush=True)
        row["error"] = r.get("error", "" if r["times_s"] else "no timed call")
        rows.append(row)
    return rows


def parse_shapes(text: str):
    shapes = []
    for part in text.split(";"):
        vals = [int(x) for x in part.split(",") if x.strip()]
        if len(vals) not in (2, 3):
            raise ValueError(f"--shapes entry {part!r}: expected N,H or N,H,V")
        shapes.append(tuple(vals) if len(vals) == 3 else (vals[0], vals[1], VOCAB))
    return shapes


def dry_run(shapes, providers, dtype: str, chunk_size, out: Path) -> list[dict]:
    """Check every shape and provider without running one; print and append a plan row per shape."""
    for p in providers:
        if p not in PROVIDERS:
            raise ValueError(f"unknown provider {p!r}; known: {PROVIDERS}")
    if "triton" in providers:
        importlib.import_module("harness.kernels.triton_ce")  # a syntax or import error shows here, not on the GPU
    getattr(torch, dtype)
    here = {p: "importable here" if installed(p) else "not importable here (the GPU run installs .whl/)"
            for p in providers if p in THIRD_PARTY}
    stamp, rows = dry_run_stamp(gpu_cases.TARGET_GPU), []
    for n, h, v in shapes:
        if min(n, h, v) <= 0:
            raise ValueError(f"shape N={n} H={h} V={v}: every size must be positive")
        naive_gb = n * v * 4 * 3 / 1e9  # fp32 logits, their softmax and their gradient
        rows.append({**stamp, "provider": " ".join(providers), "dtype": dtype, "N": n, "H": h, "V": v,
                     "chunk_size": chunk_size or "", "note": f"naive needs ~{naive_gb:.1f} GB of logits"})
        print(f"[dry-run] weighted_ce N={n} H={h} V={v} {dtype}: {' '.join(providers)}; naive ~{naive_gb:.1f} GB"
              f" of fp32 logits; third-party: {here or 'none'}", flush=True)
    append_rows(out, rows)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="", help="cuda | cpu (default: cuda when present; --dry-run: cuda)")
    ap.add_argument("--dtype", default="", help="float32 | bfloat16 (default: float32 on CPU, bfloat16 on CUDA)")
    ap.add_argument("--shapes", default="", help=f"N,H[,V];... (default: CPU {CPU_SHAPES}, GPU {GPU_SHAPES})")
    ap.add_argument("--cases-from", default="", help="gpu:NAME: shapes and providers of benchmarks/gpu_cases.py")
    ap.add_argument("--all", action="store_true", help="every CPU shape of the issue (N up to 8192, H up to 3584)")
    ap.add_argument("--quick", action="store_true", help="N=512, H=896 only, one timed repeat")
    ap.add_argument("--providers", default="", help=f"comma list of {PROVIDERS} (default: all this device runs, "
                    "third-party ones only when installed; named ones that fail are recorded as errors)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed round-robin rounds before timing")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls; the median is reported")
    ap.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0 = torch default)")
    ap.add_argument("--chunk-size", type=int, default=None, help="rows per chunk (default: the library's)")
    ap.add_argument("--out", default=str(RESULTS / "weighted_ce.csv"))
    ap.add_argument("--dry-run", action="store_true", help="check shapes and providers, append plan rows only")
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(run_spec(json.loads(args.worker))))
        return
    cuda_default = "cuda" if torch.cuda.is_available() or args.dry_run else "cpu"
    device = torch.device(args.device or cuda_default)
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    named = [p.strip() for p in args.providers.split(",") if p.strip()]
    if args.cases_from:
        listed = gpu_cases.kernel_cases(args.cases_from)
        shapes, named = list(listed.shapes), named or list(listed.providers)
    elif args.quick:
        shapes, args.repeats = [(512, 896, VOCAB)], 1
    elif args.shapes:
        shapes = parse_shapes(args.shapes)
    else:
        base = GPU_SHAPES if device.type == "cuda" else (ALL_CPU_SHAPES if args.all else CPU_SHAPES)
        shapes = [(n, h, VOCAB) for n, h in base]
    if args.dry_run:
        return dry_run(shapes, named or list(PROVIDERS), dtype, args.chunk_size, Path(args.out))
    providers = [p for p in named if available(p, device)] if named else \
        [p for p in PROVIDERS if available(p, device) and installed(p)]
    stamp, rows = env_stamp(device), []
    threads = args.threads or torch.get_num_threads()
    for shape in shapes:
        n, h, v = shape
        base = {"n": n, "h": h, "v": v, "dtype": dtype, "device": str(device), "threads": args.threads,
                "chunk_size": args.chunk_size}
        res = measure(base, providers, args.warmup, args.repeats, device)
        new = shape_rows(stamp, shape, res, dtype, args.chunk_size, threads)
        append_rows(args.out, new)  # per shape: a later failure or timeout keeps these rows
        rows += new
    _table(rows)
    failed = sorted({f"{r['provider']} ({r['error']})" for r in rows if r["error"]})
    if failed:
        raise SystemExit(f"bench_weighted_ce: providers failed (rows recorded with their error): {failed}")
    return rows


def _table(rows):
    from harness.log import table

    ok = [r for r in rows if not r["error"]]
    naive = {(r["N"], r["H"]): r for r in ok if r["provider"] == "naive"}
    out = []
    for r in ok:
        base = naive.get((r["N"], r["H"]))
        ratio_t = f"{r['median_s'] / base['median_s']:.2f}x" if base else "-"
        ratio_m = f"{r['peak_mb'] / base['peak_mb']:.3f}x" if base and r["peak_mb"] and base["peak_mb"] else "-"
        out.append([r["provider"], r["N"], r["H"], r["median_s"], ratio_t, r["peak_mb"], ratio_m, r["tflops"],
                    r["loss_rel_err"]])
    table(f"weighted linear CE fwd+bwd on {rows[0]['device']} ({rows[0]['dtype']})" if rows else "no rows",
          ["provider", "N", "H", "median s", "vs naive", "peak MiB", "vs naive", "TFLOP/s", "loss rel err"], out)


if __name__ == "__main__":
    main()
