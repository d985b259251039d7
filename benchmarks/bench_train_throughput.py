"""Benchmark: steady-state training throughput of the harness step vs the full-logits baseline, same run.

Providers (same model init, same batch, same optimizer; only the loss module differs):
    label_rows  harness.train.engine's WeightedLoss: body forward, gather the ~5 label rows per example, fused
                weighted linear CE on those rows only (train.norm_mode=token, unit weights)
    baseline    harness.train.baseline.BaselineLoss: HF ``model(**batch, labels=...)``, [B, T, V] logits
Both run through the engine interface (forward / backward / step): PlainEngine (single-process torch) on CPU,
DeepSpeed ZeRO-3 (DSEngine, one process) on GPU. Both compute the same step objective; the first step's losses
are checked to agree (the run fails otherwise).

Batches: ``micro_batch`` sequences of ``seq`` random token ids (no padding), the last ``labels`` positions being
label tokens (RE-length: seq 100, 5 labels). Packed cases (TrainCase.pack_len > 0, the harness default layout):
``micro_batch`` rows of ``seq`` tokens, each holding examples of ~pack_len tokens (make_packed_batch), attention
confined to each example by the case's ``attn`` (sdpa: the 4-D block mask; sdpa_segments: per-example SDPA); only
label_rows runs them (the baseline's HF forward knows no packed rows), and their FLOPs/token take the attention
span of one example (pack_len), not the row. Cases with ``baseline=False`` (packed rows, 7B) run label_rows only. Each step = forward + backward + optimizer step (AdamW, grad clip).
Timing: ``--warmup`` untimed steps (the first allocates the optimizer state) then the median of ``--steps``
timed steps. On a plain engine (CPU) the reported ``step_s`` comes from an *interleaved* worker: one model and
optimizer, the loss module alternating label_rows / baseline step by step, so both see the same load on a shared
machine; ``step_s_isolated`` is the median of the provider's own fresh-process run (the memory run). On
DeepSpeed (GPU) the isolated run is the timing. tokens/s = micro_batch x seq / step_s (per process).
FLOPs per token (the model FLOP formula, harness.train.metrics.flops_per_token, identical for both providers):
    6 x N_matmul + 12 x layers x hidden x seq,  N_matmul = all parameters but the input embedding (+ it when tied)
MFU = tokens/s x FLOPs/token / peak. The model formula credits the label-rows path with the LM-head work it skips,
so its MFU can exceed what the hardware did: ``exec_flops_per_token`` removes the head matmuls on the prompt
positions (6 x N_head x (seq - labels) / seq) and ``hfu`` = tokens/s x exec_flops_per_token / peak.
Peak: on CUDA the dense bf16 figure of harness.train.metrics.peak_flops (PEAK_FLOPS by device name: "NVIDIA H200"
-> H200, 989 TFLOP/s; ``peak_source`` names the key); on CPU the fp32 matmul throughput measured in this run (best
of 10 2048^3 torch.mm, 2 x 2048^3 FLOP each, the process's default threads), so CPU MFU says how close the step
gets to what torch's GEMM achieves on this machine.
Peak memory: CPU - every (model, provider) runs in a fresh subprocess; once the model is built the RSS high-water
mark is reset (/proc/self/clear_refs) and the peak is ru_maxrss over the warm-up + timed steps minus that RSS
(grads, AdamW state, activations, logits; ``mem_base_mb`` is that RSS); CUDA - torch.cuda.max_memory_allocated
above the allocation after build.
Models and batches are created directly on the device (harness.train.engine.construct_model(device=...)).
Activation checkpointing per case (``ac`` in --cases, TrainCase.activation_checkpointing).
Rows append to benchmarks/results/train_throughput.csv with device, date, git revision and versions, one per
(case, provider) as soon as its worker ends: a later failure or timeout keeps them. A worker that fails (e.g. out
of memory) leaves a row with its ``error`` and the run goes on; the script exits 1 at the end if any failed or
the providers' first losses disagree. Workers' stdout and stderr stream into this process's (the log).
``--dry-run`` builds no model: per case it parses the case, resolves its DeepSpeed config exactly as the worker
does (resolve_ds_config(read_ds_config(path), train config, world 1)), prints and appends a plan row (column
dry_run=plan, refused by benchmarks.merge) with harness.train.plan's memory prediction when that module exists.

    python benchmarks/bench_train_throughput.py [--quick | --cases MODEL,B,T,L[,DS[,ac]];... | --cases-from
        gpu:train15] [--warmup 2 --steps 3] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import gpu_cases  # noqa: E402
from benchmarks.common import (  # noqa: E402
    RESULTS,
    PeakMemory,
    WorkerError,
    append_rows,
    device_name,
    env_stamp,
    reset_cpu_peak,
    run_worker,
)
from benchmarks.gpu_cases import TrainCase  # noqa: E402
from benchmarks.train_plan import (  # noqa: E402
    TINY_VOCAB,
    case_columns,
    case_spec,
    check_labels,
    dry_run,
    ds_config,
    tabulated_gpu,
    train_config,
)
from harness.constants import IGNORE_INDEX  # noqa: E402
from harness.train import metrics as tm  # noqa: E402

PROVIDERS = ("label_rows", "baseline")
CPU_CASES = [TrainCase("tiny-qwen2", 8, 100, 5), TrainCase("tiny-qwen2", 8, 512, 5),
             TrainCase("tiny-qwen2", 2, 2048, 5), TrainCase("tiny-qwen2", 8, 100, 5, "ds_configs/cpu_test.json"),
             TrainCase("qwen2-0.5b-shape", 8, 100, 5)]
QUICK_CASES = [TrainCase("tiny-qwen2", 8, 100, 5)]
GPU_CASES = [*gpu_cases.TRAIN["train15"], *gpu_cases.TRAIN["train7"]]  # what device_run.sh runs
parse_cases = gpu_cases.parse_train_cases  # MODEL,MICRO_BATCH,SEQ,LABELS[,DS_CONFIG[,ac]];...


def make_batch(batch: int, seq: int, n_labels: int, vocab: int, seed: int = 0, device="cpu") -> dict:
    """Random ids drawn on ``device``, full attention, labels on the last ``n_labels`` positions (the causal
    collate layout)."""
    check_labels(n_labels, seq)
    g = torch.Generator(device=device).manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq), generator=g, device=device)
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, -n_labels:] = ids[:, -n_labels:]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def make_packed_batch(rows: int, seq: int, n_labels: int, vocab: int, pack_len: int, seed: int = 0,
                      device="cpu") -> dict:
    """Packed rows (harness.data.tokenize.pack's layout, no padding): each row of ``seq`` random ids holds examples
    of seeded lengths in [pack_len/2, 3 pack_len/2] (the last one takes the rest of the row), each with its last
    ``n_labels`` tokens as labels; position_ids restart and ``seq_ids`` count the examples."""
    check_labels(n_labels, pack_len // 2)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (rows, seq), generator=g)
    labels = torch.full_like(ids, IGNORE_INDEX)
    pos, seq_ids = torch.zeros_like(ids), torch.zeros_like(ids)
    slot = 0
    for r in range(rows):
        at = 0
        while at < seq:
            n = int(torch.randint(pack_len // 2, 3 * pack_len // 2 + 1, (1,), generator=g))
            n = seq - at if seq - at - n < pack_len // 2 else n
            labels[r, at + n - n_labels:at + n] = ids[r, at + n - n_labels:at + n]
            pos[r, at:at + n] = torch.arange(n)
            seq_ids[r, at:at + n] = slot
            at, slot = at + n, slot + 1
    b = {"input_ids": ids, "labels": labels, "position_ids": pos, "seq_ids": seq_ids,
         "attention_mask": torch.ones_like(ids), "example_index": torch.arange(slot)}
    return {k: v.to(device) for k, v in b.items()}


def executed_flops_per_token(model_flops: float, n_head: int, provider: str, seq: int, n_labels: int) -> float:
    """FLOPs/token the provider executes (harness.train.metrics.executed_flops_per_token): the label-rows path
    skips the LM-head matmuls on the seq - n_labels prompt positions, the baseline runs them all."""
    return tm.executed_flops_per_token(model_flops, n_head, provider != "baseline", seq, n_labels)


def _engine(provider: str, model, tc, total: int, ds: dict | None, keep):
    from harness.train.baseline import BaselineDSEngine, BaselinePlainEngine
    from harness.train.engine import DSEngine, PlainEngine

    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {PROVIDERS}")
    base = provider == "baseline"
    if ds is None:
        return (BaselinePlainEngine if base else PlainEngine)(model, tc, total)
    return (BaselineDSEngine if base else DSEngine)(model, tc, total, ds, keep)


def measure(spec: dict) -> dict:
    """One (case, provider): build (on the device), warm up, time. Runs in a fresh worker process."""
    from harness import dist
    from harness.config import ModelConfig
    from harness.models.load import family_of
    from harness.train import engine as eng
    from harness.train.normaliser import batch_normaliser

    device = dist.device_for(dist.env_info())
    total = spec["warmup"] + spec["steps"]
    tc = train_config(spec)
    ds = ds_config(spec, tc)
    if ds is not None:
        dist.ensure_single_process_env()
        eng.dist_timeout_init(600)
    mc = ModelConfig(large=spec["model"], dtype=spec["dtype"] if ds is None else "auto",
                     attn_impl=spec.get("attn") or "auto")
    model, keep = eng.construct_model(mc, vocab_size=TINY_VOCAB, pad_id=0, eos_id=1, seed=0, device=device,
                                      ds_config=ds)
    interleaved = spec["provider"] == "interleaved"
    if interleaved and ds is not None:
        raise ValueError("interleaved timing swaps the loss module of a plain engine; DeepSpeed cases use isolated")
    engine = _engine("label_rows" if interleaved else spec["provider"], model, tc, total, ds, keep)
    vocab = model.config.vocab_size
    pack_len = spec.get("pack_len", 0)
    batch = (make_packed_batch(spec["batch"], spec["seq"], spec["labels"], vocab, pack_len, device=device)
             if pack_len else make_batch(spec["batch"], spec["seq"], spec["labels"], vocab, device=device))
    z = batch_normaliser(batch, family_of(model.config), "token")
    w = torch.ones(len(batch["example_index"]) if pack_len else spec["batch"], device=device)

    def step() -> float:
        loss = engine.forward(batch, w, z)
        engine.backward(loss)
        engine.step()
        return float(loss.detach())  # .item() syncs CUDA

    if interleaved:  # one model and optimizer; the loss module alternates step by step (same machine state)
        from harness.train.baseline import BaselineLoss

        modules = {"label_rows": engine.module, "baseline": BaselineLoss(model, norm_mode="token")}
        by_prov = {p: [] for p in PROVIDERS}
        for i in range(total):
            for prov in PROVIDERS:
                engine.module = modules[prov]
                t0 = time.perf_counter()
                step()
                if i >= spec["warmup"]:
                    by_prov[prov].append(time.perf_counter() - t0)
        return {"times_s": by_prov}
    times, losses = [], []
    if device.type == "cpu":
        reset_cpu_peak()  # building the model peaked above its resident size
    with PeakMemory(device) as mem:
        for i in range(total):
            t0 = time.perf_counter()
            losses.append(step())
            if i >= spec["warmup"]:
                times.append(time.perf_counter() - t0)
    span = pack_len or spec["seq"]  # packed: attention spans one example (~pack_len), not the row
    fpt = tm.flops_per_token(model.config, tm.matmul_params(model), span)
    efpt = executed_flops_per_token(fpt, tm.head_params(model), spec["provider"], span, spec["labels"])
    return {"times_s": times, "losses": losses, "peak_mb": mem.peak_bytes / 2**20,
            "base_mb": getattr(mem, "_base", 0) / 2**20, "flops_per_token": fpt, "exec_flops_per_token": efpt,
            "dtype": str(next(model.parameters()).dtype).replace("torch.", ""), "threads": torch.get_num_threads(),
            **(gpu_peak(device) if device.type == "cuda" else {})}


def gpu_peak(device: torch.device) -> dict:
    """In a CUDA worker: the device's name and the MFU denominator, as the trainer's (harness.train.metrics).
    The parent process never touches CUDA: a context there would hold ~0.5 GB of the GPU the workers need."""
    name = device_name(device)
    if os.environ.get("HARNESS_PEAK_FLOPS"):
        return {"device": name, "peak": tm.peak_flops(), "peak_source": "$HARNESS_PEAK_FLOPS"}
    key = tabulated_gpu(name)
    if key is None:
        print(f"no tabulated peak for {name!r} in harness.train.metrics.PEAK_FLOPS: MFU/HFU left empty (set "
              "HARNESS_PEAK_FLOPS)", file=sys.stderr, flush=True)
    return {"device": name, "peak": tm.peak_flops(), "peak_source": f"tabulated bf16 dense ({key})"}


def result_row(ctx: dict, case: TrainCase, prov: str, res: dict, timed: list, spec: dict) -> dict:
    """The CSV row of one finished (case, provider) worker; ``timed`` are the step times it is reported by."""
    med, iso = statistics.median(timed), statistics.median(res["times_s"])
    tps = case.micro_batch * case.seq / med
    fpt, efpt, peak = res["flops_per_token"], res["exec_flops_per_token"], res.get("peak", ctx["peak"])
    stamp = {**ctx["stamp"], "device": res.get("device", ctx["stamp"]["device"])}
    row = {**case_columns(stamp, case, prov, spec["warmup"], spec["steps"]), "dtype": res["dtype"],
           "loss_impl": spec["loss_impl"] if prov == "label_rows" else "hf",
           "timing": "isolated" if timed is res["times_s"] else "interleaved",
           "step_s": float(f"{med:.6g}"), "times_s": " ".join(f"{x:.3f}" for x in timed),
           "step_s_isolated": float(f"{iso:.6g}"), "tokens_per_s": round(tps, 1),
           "flops_per_token": f"{fpt:.4e}", "achieved_tflops": round(tps * fpt / 1e12, 4),
           "peak_tflops": round(peak / 1e12, 4) if peak else "",
           "peak_source": res.get("peak_source", ctx["peak_src"]),
           "mfu": round(tps * fpt / peak, 4) if peak else "", "exec_flops_per_token": f"{efpt:.4e}",
           "hfu": round(tps * efpt / peak, 4) if peak else "", "peak_mem_mb": round(res["peak_mb"], 1),
           "mem_base_mb": round(res["base_mb"], 1), "first_loss": f"{res['losses'][0]:.6f}",
           "threads": res["threads"], "error": ""}
    print(f"{case.label()} {prov:10s}: {med:.3f} s/step  {tps:.0f} tok/s  MFU {row['mfu']}  "
          f"peak {row['peak_mem_mb']:.0f} MiB", flush=True)
    return row


def _worker(spec: dict, prov: str) -> dict:
    return run_worker([__file__, "--worker", json.dumps({**spec, "provider": prov})], timeout=3600)


def _out_of_memory(e: WorkerError) -> bool:
    return "OutOfMemoryError" in e.last or "out of memory" in e.last.lower()


def _skipped_row(stamp: dict, case: TrainCase, prov: str, spec: dict, why: str) -> dict:
    print(f"{case.label()} {prov}: SKIPPED ({why})", file=sys.stderr, flush=True)
    return {**case_columns(stamp, case, prov, spec["warmup"], spec["steps"]), "error": f"skipped: {why}"}


def run_case(case: TrainCase, spec: dict, ctx: dict, out: Path) -> tuple[list, list]:
    """Both providers of one case; each row is appended as soon as its worker ends. A failed worker leaves a row
    with its error; when label_rows runs out of memory the baseline (full logits: more memory) is skipped and
    ``ctx["oom"]`` remembers it for the later cases. Returns (rows, problems)."""
    rows, problems, got = [], [], {}
    inter = None  # plain engine: timing from one interleaved worker; ZeRO-3 (fresh process group each): isolated
    if not case.ds and case.baseline:
        try:
            inter = _worker(spec, "interleaved")["times_s"]
        except WorkerError as e:
            problems.append(f"{case.label()} interleaved: {e.summary()}")
            print(f"{case.label()} interleaved worker FAILED (isolated timing instead): {e}", file=sys.stderr)
    for prov in case.providers():
        oom = ctx["oom"].get(_oom_key(case))
        if oom is not None and case.micro_batch * case.seq >= oom:
            row = _skipped_row(ctx["stamp"], case, prov, spec, f"out of memory at {oom} tokens per micro-batch")
            problems.append(f"{case.label()} {prov}: skipped")
        else:
            try:
                res = got[prov] = _worker(spec, prov)
            except WorkerError as e:
                row = {**case_columns(ctx["stamp"], case, prov, spec["warmup"], spec["steps"]),
                       "error": e.summary()}
                problems.append(f"{case.label()} {prov}: {e.summary()}")
                print(f"{case.label()} {prov}: FAILED (row recorded, going on): {e}", file=sys.stderr, flush=True)
                if prov == "label_rows" and _out_of_memory(e):
                    ctx["oom"][_oom_key(case)] = case.micro_batch * case.seq
            else:
                row = result_row(ctx, case, prov, res, inter[prov] if inter else res["times_s"], spec)
        append_rows(out, [row])
        rows.append(row)
    if len(got) == 2:
        a, c = got["label_rows"]["losses"][0], got["baseline"]["losses"][0]
        tol = 1e-4 if got["baseline"]["dtype"] == "float32" else 2e-2
        if abs(a - c) > tol * max(1.0, abs(c)):
            problems.append(f"{case.label()}: first-step losses differ (label_rows {a}, baseline {c}): the "
                            "providers do not compute the same objective")
    return rows, problems


def _oom_key(case: TrainCase) -> tuple:
    return case.model, case.ds, case.activation_checkpointing


def run(cases, *, warmup: int, steps: int, device: torch.device, dtype: str, loss_impl: str, out: Path) -> list:
    """Every case; rows are appended as they come. Exits 1 at the end when a worker failed or the providers'
    first losses disagree (the rows are written either way)."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"need --steps >= 1 and --warmup >= 0, got {steps}, {warmup}")
    if device.type == "cuda":  # name and peak come from the workers (see gpu_peak)
        ctx = {"stamp": {**env_stamp("cpu"), "device": "cuda"}, "peak": None, "peak_src": ""}
    else:
        ctx = {"stamp": env_stamp(device), "peak": tm.cpu_matmul_peak(),
               "peak_src": "measured fp32 torch.mm 2048^3, best of 10"}
    ctx["oom"] = {}
    rows, problems = [], []
    for case in cases:
        spec = case_spec(case, warmup=warmup, steps=steps, dtype=dtype, loss_impl=loss_impl)
        got, bad = run_case(case, spec, ctx, out)
        rows += got
        problems += bad
    table(rows)
    if problems:
        raise SystemExit("bench_train_throughput: " + "; ".join(problems))
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """Per case with both providers: baseline / label_rows step time and peak memory (label_rows first, baseline
    second; cases with a failed provider, and label_rows-only cases (packed, 7B), are left out)."""
    out = []
    pairs = [(a, b) for a, b in zip(rows, rows[1:]) if (a["provider"], b["provider"]) == PROVIDERS]
    if any(r["provider"] not in PROVIDERS for r in rows):
        raise ValueError(f"unknown provider in {[r['provider'] for r in rows]}")
    for lr, bl in pairs:
        if lr.get("error") or bl.get("error"):
            continue
        mem = lr["peak_mem_mb"] / bl["peak_mem_mb"] if bl["peak_mem_mb"] > 0 else float("nan")
        out.append({"model": lr["model"], "micro_batch": lr["micro_batch"], "seq": lr["seq"],
                    "speedup": bl["step_s"] / lr["step_s"], "mem_ratio": mem})
    return out


def table(rows: list[dict]) -> None:
    from harness.log import console
    from harness.log import table as rich_table

    ok = [r for r in rows if not r.get("error")]
    for r in rows:
        if r.get("error"):
            console.print(f"FAILED {r['model']} {r['micro_batch']}x{r['seq']} {r['provider']}: {r['error']}")
    if not ok:
        return
    console.print("FLOPs/token = 6 x N_matmul + 12 x layers x hidden x seq; MFU = tokens/s x FLOPs/token / peak "
                  f"({ok[0]['peak_source']}, {ok[0]['peak_tflops']} TFLOP/s)")
    rich_table(f"training step throughput on {ok[0]['device']}",
               ["model", "provider", "engine", "B x T", "AC", "step s", "tok/s", "MFU", "HFU", "peak MiB"],
               [[r["model"], r["provider"], r["engine"], f"{r['micro_batch']}x{r['seq']}",
                 "on" if r["activation_checkpointing"] else "", r["step_s"], r["tokens_per_s"], r["mfu"], r["hfu"],
                 r["peak_mem_mb"]] for r in ok])
    rich_table("label rows vs full-logits baseline", ["model", "B x T", "speed-up (baseline/label_rows)",
                                                      "peak memory (label_rows/baseline)"],
               [[r["model"], f"{r['micro_batch']}x{r['seq']}", f"{r['speedup']:.2f}x", f"{r['mem_ratio']:.3f}x"]
                for r in ratios(rows)])


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny-qwen2 at RE length only")
    ap.add_argument("--cases", default="", help="MODEL,MICRO_BATCH,SEQ,LABELS[,DS_CONFIG[,ac]];... "
                    "(default by device)")
    ap.add_argument("--cases-from", default="", help="gpu:NAME: a case list of benchmarks/gpu_cases.py")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps (the first allocates AdamW state)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps; the median is reported")
    ap.add_argument("--dtype", default="float32", help="plain-engine dtype (ZeRO-3 takes the DS config's)")
    ap.add_argument("--loss-impl", default="auto", help="label_rows kernel: auto | chunked | triton | reference")
    ap.add_argument("--out", default=str(RESULTS / "train_throughput.csv"))
    ap.add_argument("--dry-run", action="store_true", help="validate the cases, build nothing, append plan rows")
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return []
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.cases and args.cases_from:
        raise SystemExit("give --cases or --cases-from, not both")
    if args.cases_from:
        cases = list(gpu_cases.train_cases(args.cases_from))
    elif args.cases:
        cases = parse_cases(args.cases)
    else:
        cases = QUICK_CASES if args.quick else (GPU_CASES if device.type == "cuda" else CPU_CASES)
    kw = dict(warmup=args.warmup, steps=args.steps, dtype=args.dtype, loss_impl=args.loss_impl, out=Path(args.out))
    if args.dry_run:
        return dry_run(cases, **kw)
    return run(cases, device=device, **kw)


if __name__ == "__main__":
    main()
