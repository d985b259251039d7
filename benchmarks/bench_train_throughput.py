"""Benchmark: steady-state training throughput of the harness step vs the full-logits baseline, same run.

Providers (same model init, same batch, same optimizer; only the loss module differs):
    label_rows  harness.train.engine's WeightedLoss: body forward, gather the ~5 label rows per example, fused
                weighted linear CE on those rows only (train.norm_mode=token, unit weights)
    baseline    harness.train.baseline.BaselineLoss: HF ``model(**batch, labels=...)``, [B, T, V] logits
Both run through the engine interface (forward / backward / step): PlainEngine (single-process torch) on CPU,
DeepSpeed ZeRO-3 (DSEngine, one process) on GPU. Both compute the same step objective; the first step's losses
are checked to agree (the run fails otherwise).

Batches: ``micro_batch`` sequences of ``seq`` random token ids (no padding), the last ``labels`` positions being
label tokens (RE-length: seq 100, 5 labels). Each step = forward + backward + optimizer step (AdamW, grad clip).
Timing: ``--warmup`` untimed steps (the first allocates the optimizer state) then the median of ``--steps``
timed steps. On a plain engine (CPU) the reported ``step_s`` comes from an *interleaved* worker: one model and
optimizer, the loss module alternating label_rows / baseline step by step, so both see the same load on a shared
machine; ``step_s_isolated`` is the median of the provider's own fresh-process run (the memory run). On
DeepSpeed (GPU) the isolated run is the timing. tokens/s = micro_batch x seq / step_s (per process).
FLOPs per token (the model FLOP formula, loop.flops_per_token, identical for both providers):
    6 x N_matmul + 12 x layers x hidden x seq,  N_matmul = all parameters but the input embedding (+ it when tied)
MFU = tokens/s x FLOPs/token / peak. The model formula credits the label-rows path with the LM-head work it skips,
so its MFU can exceed what the hardware did: ``exec_flops_per_token`` removes the head matmuls on the prompt
positions (6 x N_head x (seq - labels) / seq) and ``hfu`` = tokens/s x exec_flops_per_token / peak.
Peak: on CUDA the dense bf16 figure of harness.train.loop.peak_flops; on CPU
the fp32 matmul throughput measured in this run (best of 10 2048^3 torch.mm, 2 x 2048^3 FLOP each, the process's
default threads), so CPU MFU says how close the step gets to what torch's GEMM achieves on this machine.
Peak memory: CPU - every (model, provider) runs in a fresh subprocess; once the model is built the RSS high-water
mark is reset (/proc/self/clear_refs) and the peak is ru_maxrss over the warm-up + timed steps minus that RSS (grads, AdamW state, activations,
logits; ``mem_base_mb`` is that RSS); CUDA - torch.cuda.max_memory_allocated above the allocation after build.
Rows append to benchmarks/results/train_throughput.csv with device, date, git revision and versions.

    python benchmarks/bench_train_throughput.py [--quick | --cases MODEL,B,T,L[,DS];...] [--warmup 2 --steps 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import (  # noqa: E402
    RESULTS,
    ROOT,
    PeakMemory,
    append_rows,
    env_stamp,
    reset_cpu_peak,
    run_worker,
)
from harness.constants import IGNORE_INDEX  # noqa: E402

TINY_VOCAB = 1024  # tiny presets take the vocabulary from a tokenizer; the benchmark uses random ids
PROVIDERS = ("label_rows", "baseline")
# (preset, micro_batch, seq, label tokens, DeepSpeed config or "")
CPU_CASES = [("tiny-qwen2", 8, 100, 5, ""), ("tiny-qwen2", 8, 512, 5, ""), ("tiny-qwen2", 2, 2048, 5, ""),
             ("tiny-qwen2", 8, 100, 5, "ds_configs/cpu_test.json"), ("qwen2-0.5b-shape", 8, 100, 5, "")]
QUICK_CASES = [("tiny-qwen2", 8, 100, 5, "")]
GPU_CASES = [("qwen2-1.5b-shape", 8, 100, 5, "ds_configs/zero3.json"),
             ("qwen2-1.5b-shape", 8, 512, 5, "ds_configs/zero3.json"),
             ("qwen2-1.5b-shape", 2, 2048, 5, "ds_configs/zero3.json"),
             ("qwen2-7b-shape", 8, 100, 5, "ds_configs/zero3_offload.json"),
             ("qwen2-7b-shape", 4, 512, 5, "ds_configs/zero3_offload.json"),
             ("qwen2-7b-shape", 1, 2048, 5, "ds_configs/zero3_offload.json")]


def make_batch(batch: int, seq: int, n_labels: int, vocab: int, seed: int = 0) -> dict:
    """Random ids, full attention, labels on the last ``n_labels`` positions (the causal collate layout)."""
    if not 0 < n_labels < seq:
        raise ValueError(f"need 0 < label tokens ({n_labels}) < sequence length ({seq})")
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq), generator=g)
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, -n_labels:] = ids[:, -n_labels:]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def matmul_params(model) -> int:
    """Parameters that take part in a matmul per token: all but the input embedding (+ it when tied)."""
    numel = [int(getattr(p, "ds_numel", p.numel())) for p in model.parameters()]
    emb = model.get_input_embeddings().weight
    n_emb = int(getattr(emb, "ds_numel", emb.numel()))
    tied = getattr(model.config, "tie_word_embeddings", False)
    return sum(numel) - (0 if tied else n_emb)


def head_params(model) -> int:
    """Parameters of the LM head (the tied embedding when tied)."""
    w = model.get_output_embeddings().weight
    return int(getattr(w, "ds_numel", w.numel()))


def executed_flops_per_token(model_flops: float, n_head: int, provider: str, seq: int, n_labels: int) -> float:
    """FLOPs/token the provider actually executes: the model formula, less the LM-head matmuls (fwd + bwd, 6 x
    N_head per row) the label-rows path skips on the seq - n_labels prompt positions."""
    if provider == "baseline":
        return model_flops
    return model_flops - 6.0 * n_head * (seq - n_labels) / seq


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
    """One (case, provider): build, warm up, time. Runs in a fresh worker process on CPU."""
    from harness import dist
    from harness.config import ModelConfig, TrainConfig
    from harness.models.load import family_of
    from harness.train import engine as eng
    from harness.train.dsconfig import read_ds_config, resolve_ds_config
    from harness.train.loop import flops_per_token
    from harness.train.loss import batch_normaliser

    device = dist.device_for(dist.env_info())
    total = spec["warmup"] + spec["steps"]
    tc = TrainConfig(micro_batch=spec["batch"], grad_accum=1, lr=1e-5, warmup_ratio=0.0, schedule="constant",
                     grad_clip=1.0, norm_mode="token", loss_impl=spec["loss_impl"], seed=0, epochs=1)
    ds = None
    if spec["ds"]:
        ds = resolve_ds_config(read_ds_config(ROOT / spec["ds"]), tc, 1, source=spec["ds"])
        dist.ensure_single_process_env()
        eng.dist_timeout_init(600)
    mc = ModelConfig(large=spec["model"], dtype=spec["dtype"] if ds is None else "auto")
    model, keep = eng.construct_model(mc, vocab_size=TINY_VOCAB, pad_id=0, eos_id=1, seed=0, device=device, ds=ds)
    interleaved = spec["provider"] == "interleaved"
    if interleaved and ds is not None:
        raise ValueError("interleaved timing swaps the loss module of a plain engine; DeepSpeed cases use isolated")
    engine = _engine("label_rows" if interleaved else spec["provider"], model, tc, total, ds, keep)
    vocab = model.config.vocab_size
    batch = {k: v.to(device) for k, v in make_batch(spec["batch"], spec["seq"], spec["labels"], vocab).items()}
    z = batch_normaliser(batch, family_of(model.config), "token")
    w = torch.ones(spec["batch"])

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
    fpt = flops_per_token(model.config, matmul_params(model), spec["seq"])
    efpt = executed_flops_per_token(fpt, head_params(model), spec["provider"], spec["seq"], spec["labels"])
    return {"times_s": times, "losses": losses, "peak_mb": mem.peak_bytes / 2**20,
            "base_mb": getattr(mem, "_base", 0) / 2**20, "flops_per_token": fpt, "exec_flops_per_token": efpt,
            "dtype": str(next(model.parameters()).dtype).replace("torch.", ""), "threads": torch.get_num_threads()}


def parse_cases(text: str) -> list[tuple]:
    cases = []
    for part in text.split(";"):
        f = [x.strip() for x in part.split(",")]
        if len(f) not in (4, 5):
            raise ValueError(f"--cases entry {part!r}: expected MODEL,MICRO_BATCH,SEQ,LABELS[,DS_CONFIG]")
        cases.append((f[0], int(f[1]), int(f[2]), int(f[3]), f[4] if len(f) == 5 else ""))
    return cases


def run(cases, *, warmup: int, steps: int, device: torch.device, dtype: str, loss_impl: str, out: Path) -> list:
    if steps < 1 or warmup < 0:
        raise ValueError(f"need --steps >= 1 and --warmup >= 0, got {steps}, {warmup}")
    from harness.train.loop import cpu_matmul_peak, peak_flops

    peak = peak_flops() if device.type == "cuda" else cpu_matmul_peak()
    peak_src = "tabulated bf16 dense" if device.type == "cuda" else "measured fp32 torch.mm 2048^3, best of 10"
    stamp = env_stamp(device)
    rows = []
    for model, b, t, n_lab, ds in cases:
        got = {}
        spec = {"model": model, "batch": b, "seq": t, "labels": n_lab, "ds": ds, "warmup": warmup, "steps": steps,
                "dtype": dtype, "loss_impl": loss_impl}
        # ZeRO-3 builds need a fresh process group each time, so every case runs in a worker on GPU too
        inter = None if ds else run_worker([__file__, "--worker", json.dumps({**spec, "provider": "interleaved"})],
                                           timeout=3600)["times_s"]
        for prov in PROVIDERS:
            res = run_worker([__file__, "--worker", json.dumps({**spec, "provider": prov})], timeout=3600)
            got[prov] = res
            iso = statistics.median(res["times_s"])
            timed = inter[prov] if inter else res["times_s"]
            med = statistics.median(timed)
            tps = b * t / med
            rows.append({**stamp, "model": model, "provider": prov, "engine": Path(ds).stem if ds else "plain",
                         "dtype": res["dtype"], "loss_impl": loss_impl if prov == "label_rows" else "hf",
                         "micro_batch": b, "seq": t, "label_tokens": n_lab, "warmup": warmup, "steps": steps,
                         "timing": "interleaved" if inter else "isolated", "step_s": float(f"{med:.6g}"),
                         "times_s": " ".join(f"{x:.3f}" for x in timed), "step_s_isolated": float(f"{iso:.6g}"),
                         "tokens_per_s": round(tps, 1), "flops_per_token": f"{res['flops_per_token']:.4e}",
                         "achieved_tflops": round(tps * res["flops_per_token"] / 1e12, 4),
                         "peak_tflops": round(peak / 1e12, 4) if peak else "", "peak_source": peak_src,
                         "mfu": round(tps * res["flops_per_token"] / peak, 4) if peak else "",
                         "exec_flops_per_token": f"{res['exec_flops_per_token']:.4e}",
                         "hfu": round(tps * res["exec_flops_per_token"] / peak, 4) if peak else "",
                         "peak_mem_mb": round(res["peak_mb"], 1), "mem_base_mb": round(res["base_mb"], 1),
                         "first_loss": f"{res['losses'][0]:.6f}", "threads": res["threads"]})
            print(f"{model} B={b} T={t} {prov:10s}: {med:.3f} s/step  {tps:.0f} tok/s  "
                  f"peak {res['peak_mb']:.0f} MiB", flush=True)
        a, c = got["label_rows"]["losses"][0], got["baseline"]["losses"][0]
        tol = 1e-4 if got["baseline"]["dtype"] == "float32" else 2e-2
        if abs(a - c) > tol * max(1.0, abs(c)):
            raise AssertionError(f"{model}: first-step losses differ (label_rows {a}, baseline {c}): the providers "
                                 "do not compute the same objective")
    append_rows(out, rows)
    table(rows)
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """Per case: baseline / label_rows step time and peak memory (label_rows first, baseline second)."""
    out = []
    for lr, bl in zip(rows[0::2], rows[1::2]):
        if (lr["provider"], bl["provider"]) != PROVIDERS:
            raise ValueError("rows must alternate label_rows, baseline")
        mem = lr["peak_mem_mb"] / bl["peak_mem_mb"] if bl["peak_mem_mb"] > 0 else float("nan")
        out.append({"model": lr["model"], "micro_batch": lr["micro_batch"], "seq": lr["seq"],
                    "speedup": bl["step_s"] / lr["step_s"], "mem_ratio": mem})
    return out


def table(rows: list[dict]) -> None:
    from harness.log import console
    from harness.log import table as rich_table

    if not rows:
        return
    console.print("FLOPs/token = 6 x N_matmul + 12 x layers x hidden x seq; MFU = tokens/s x FLOPs/token / peak "
                  f"({rows[0]['peak_source']}, {rows[0]['peak_tflops']} TFLOP/s)")
    rich_table(f"training step throughput on {rows[0]['device']}",
               ["model", "provider", "engine", "B x T", "step s", "tok/s", "MFU", "HFU", "peak MiB"],
               [[r["model"], r["provider"], r["engine"], f"{r['micro_batch']}x{r['seq']}", r["step_s"],
                 r["tokens_per_s"], r["mfu"], r["hfu"], r["peak_mem_mb"]] for r in rows])
    rich_table("label rows vs full-logits baseline", ["model", "B x T", "speed-up (baseline/label_rows)",
                                                      "peak memory (label_rows/baseline)"],
               [[r["model"], f"{r['micro_batch']}x{r['seq']}", f"{r['speedup']:.2f}x", f"{r['mem_ratio']:.3f}x"]
                for r in ratios(rows)])


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny-qwen2 at RE length only")
    ap.add_argument("--cases", default="", help="MODEL,MICRO_BATCH,SEQ,LABELS[,DS_CONFIG];... (default by device)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps (the first allocates AdamW state)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps; the median is reported")
    ap.add_argument("--dtype", default="float32", help="plain-engine dtype (ZeRO-3 takes the DS config's)")
    ap.add_argument("--loss-impl", default="auto", help="label_rows kernel: auto | chunked | triton | reference")
    ap.add_argument("--out", default=str(RESULTS / "train_throughput.csv"))
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return []
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.cases:
        cases = parse_cases(args.cases)
    else:
        cases = QUICK_CASES if args.quick else (GPU_CASES if device.type == "cuda" else CPU_CASES)
    return run(cases, warmup=args.warmup, steps=args.steps, device=device, dtype=args.dtype,
               loss_impl=args.loss_impl, out=Path(args.out))


if __name__ == "__main__":
    main()
