"""Scoring throughput: this pass vs the seed's per-example loop, and 1 -> 2 processes.

    python benchmarks/bench_scoring.py [--size 600] [--seed-examples 60] [--no-scaling]

Same tiny models (large tiny-qwen2, small tiny-qwen2-small, reference tiny-qwen2-tied; vocab 1024), same
synthetic training set, same machine, one run. Throughput = training examples scored under ALL THREE models per
second (FLOPs are not the point here: both sides do the same transformer work per real token; the pass removes
per-example overhead, padding waste by length-sorted token-budget batches, and the [tokens, vocab] logits).

  seed_loop   faithful re-implementation of the seed notebooks: one example at a time, tokenise prompt + label,
              three full forwards (one per model) materialising all logits, log_softmax, gather the label
              tokens, sum. Timed on the first --seed-examples examples (it is slow), checked against the pass's scores.
  pass        harness.recipes.atlantis.scoring.score.run_scoring in this process (memmaps, manifest, flushes included).
  torchrun_k  worker of this script under torchrun --nproc_per_node k, OMP_NUM_THREADS=1 per rank; time from
              the barrier before run_scoring to the barrier after it (fresh scores folder; best of 2 after a
              warm-up run).
  *_v151936   the same tiny bodies with a Qwen2-size head (vocab 151936): what the seed's full logits cost at
              real vocabulary size; pass_core is the pass without its files (encode, batches, label-row forwards).
Rows append to benchmarks/results/scoring.csv with device, date, git revision and versions.

On a GPU both sides run on CUDA in the --dtype (auto: bf16), and the 1 -> 2 process rows need two GPUs.

Figures: benchmarks/README.md ("Latest figures"). On this 2-core CPU the pass is 4.4-5.2x the seed loop with 1
thread (6.6x with 2 threads, 7.6x as 2 torchrun ranks) and 7-9x with a Qwen2-size head; the issue's 20x target is
not met on CPU: with a 64-wide body both sides are compute-bound at the same FLOP rate, so the gain is the
per-forward overhead (tiny vocab) or the head rows, ~34 positions per example vs ~5 label rows (big vocab).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, append_rows, env_stamp, run_streaming, time_median  # noqa: E402
from harness.config import DataConfig, ModelConfig, RunConfig, ScoringConfig  # noqa: E402
from harness.data.dataset import load_splits  # noqa: E402
from harness.models.load import build_model  # noqa: E402
from harness.models.tokenizer import run_tokenizer  # noqa: E402

MODELS = {"large": "tiny-qwen2", "small": "tiny-qwen2-small", "reference": "tiny-qwen2-tied"}


def parse_models(text: str) -> dict:
    """``large=PRESET,small=PRESET,reference=PRESET`` (any subset overrides MODELS)."""
    out = dict(MODELS)
    for part in filter(None, (x.strip() for x in text.split(","))):
        role, eq, spec = part.partition("=")
        if not eq or role not in MODELS or not spec:
            raise ValueError(f"--models entry {part!r}: expected ROLE=PRESET with ROLE one of {list(MODELS)}")
        out[role] = spec
    return out


def setup(n: int, work: Path, models: dict | None = None, dtype: str = "auto", tokens_per_batch: int = 4096):
    cfg = RunConfig(run_dir=str(work), data=DataConfig(dataset="synthetic", synthetic_size=n),
                    model=ModelConfig(**(models or MODELS), dtype=dtype),
                    scoring=ScoringConfig(tokens_per_batch=tokens_per_batch))
    splits = load_splits(cfg.data)
    tok = run_tokenizer(cfg.model, splits, work / "tokenizer")
    return cfg, splits, tok


def seed_loop(models: dict, tok, template, examples, device="cpu") -> np.ndarray:
    """The seed notebooks' scoring: per example, per model, a full forward and full log-softmax."""
    out = np.zeros((len(models), len(examples)))
    with torch.no_grad():
        for i, ex in enumerate(examples):
            prompt = tok(template.render(ex), add_special_tokens=False)["input_ids"]
            label = tok(template.label_prefix + ex.train_label, add_special_tokens=False)["input_ids"]
            label = label + [tok.eos_token_id]
            ids = torch.tensor([prompt + label], device=device)
            for m, model in enumerate(models.values()):
                logits = model(input_ids=ids).logits[0]  # [T, V]
                logp = torch.log_softmax(logits.float(), dim=-1)
                pos = torch.arange(len(prompt) - 1, len(prompt) + len(label) - 1, device=device)
                out[m, i] = float(logp[pos, torch.tensor(label, device=device)].sum())  # syncs CUDA
    return out


def pass_core(models: dict, tok, template, examples, tokens_per_batch: int, device="cpu") -> np.ndarray:
    """The pass without its files: encode, token-budget batches, one label-row forward per batch per model."""
    from harness.data.tokenize import collate, encode
    from harness.recipes.atlantis.scoring.score import plan_batches, score_batch

    enc = encode(examples, tok, template, "causal")
    out = np.zeros((len(models), len(examples)))
    for m, model in enumerate(models.values()):
        for b in plan_batches(enc, tokens_per_batch):
            out[m, b] = score_batch(model, collate(enc, b), device)[0].numpy()
    return out


def run_pass(cfg, splits, tok, work: Path) -> Path:
    from harness.recipes.atlantis.scoring.score import run_scoring

    shutil.rmtree(work / "scores", ignore_errors=True)
    return run_scoring(cfg, splits.train, splits.template, tok, work)


def worker(n: int, work: Path, models: dict, dtype: str) -> None:
    """Under torchrun: time run_scoring between two barriers; rank 0 prints one JSON line."""
    from harness import dist

    dist.init()
    cfg, splits, tok = setup(n, work, models, dtype) if dist.rank() == 0 else (None, None, None)
    dist.barrier()
    if tok is None:
        cfg, splits, tok = setup(n, work, models, dtype)
    from harness.recipes.atlantis.scoring.score import run_scoring

    times = []
    for _ in range(3):  # the first is the warm-up
        if dist.rank() == 0:
            shutil.rmtree(work / "scores", ignore_errors=True)
        dist.barrier()
        t0 = time.perf_counter()
        run_scoring(cfg, splits.train, splits.template, tok, work)
        dist.barrier()
        times.append(time.perf_counter() - t0)
    dt = min(times[1:])
    if dist.rank() == 0:
        print(json.dumps({"seconds": dt, "n": len(splits.train), "world": dist.world()}))
    dist.destroy()


def torchrun(k: int, n: int, work: Path, models_arg: str, dtype: str) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(k), "--master_port", str(port),
           __file__, "--worker", "--size", str(n), "--work", str(work), "--models", models_arg, "--dtype", dtype]
    lines = run_streaming(cmd, env=env, timeout=1800)  # raises WorkerError (stderr tail) when torchrun fails
    return json.loads([ln for ln in lines if ln.startswith("{")][-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=600, help="synthetic_size (training examples ~ 0.9 n)")
    ap.add_argument("--seed-examples", type=int, default=60, help="examples the seed loop scores")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for pass and seed loop (0 = torch "
                    "default); 1 keeps numbers stable on a shared 2-core box (2 threads under load: ~10x slower)")
    ap.add_argument("--big-vocab", type=int, default=151936, help="also time both with this head size (Qwen2's; "
                    "the tiny body is unchanged, token ids stay < the tokenizer's size); 0 = skip")
    ap.add_argument("--models", default="", help="ROLE=PRESET,... overrides of the tiny presets (e.g. "
                    "large=qwen2-0.5b-shape on a GPU)")
    ap.add_argument("--dtype", default="auto", help="auto = bf16 on CUDA, fp32 on CPU (pass and seed loop alike)")
    ap.add_argument("--out", default=str(RESULTS / "scoring.csv"))
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--work", default="")
    args = ap.parse_args(argv)
    roles = parse_models(args.models)
    if args.worker:
        return worker(args.size, Path(args.work), roles, args.dtype)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    work = Path(tempfile.mkdtemp(prefix="bench_scoring."))
    cfg, splits, tok = setup(args.size, work, roles, args.dtype)
    n = len(splits.train)
    t_pass, _ = time_median(lambda: run_pass(cfg, splits, tok, work), warmup=1, repeats=3)
    ids = dict(pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, dtype=args.dtype, device=device)
    models = {k: build_model(v, vocab_size=len(tok), **ids).eval() for k, v in roles.items()}
    fp32 = next(iter(models.values())).dtype == torch.float32
    tol = 1e-3 if fp32 else 0.5  # bf16: a different padding/batching moves sequence scores by ~0.1 nats
    sub = splits.train[: args.seed_examples]
    t_seed, _ = time_median(lambda: seed_loop(models, tok, splits.template, sub, device), warmup=1, repeats=3)
    seed_scores = seed_loop(models, tok, splits.template, sub, device)
    from harness.recipes.atlantis.scoring.store import open_arrays

    pass_scores = np.stack([np.asarray(open_arrays(work / "scores", k, n, "r").scores[: len(sub)]) for k in roles])
    max_diff = float(np.abs(seed_scores - pass_scores).max())
    if max_diff > tol:
        raise AssertionError(f"the pass and the seed loop disagree by {max_diff} nats (tolerance {tol})")
    stamp = env_stamp(device)
    rows = []
    rate_pass, rate_seed = n / t_pass, len(sub) / t_seed

    def row(mode, examples, seconds, rate, note):
        return {**stamp, "mode": mode, "models": " ".join(f"{k}={v}" for k, v in roles.items()),
                "dtype": str(next(iter(models.values())).dtype).replace("torch.", ""),
                "examples": examples, "seconds": round(seconds, 4),
                "examples_per_s": round(rate, 2), "speedup_vs_seed": round(rate / rate_seed, 2),
                "threads": torch.get_num_threads() if mode in ("pass", "seed_loop") else 1, "note": note}

    rows.append(row("seed_loop", len(sub), t_seed, rate_seed, "per example, 3 full forwards, full logits"))
    rows.append(row("pass", n, t_pass, rate_pass, f"max |seed - pass| = {max_diff:.2e} nats"))
    if args.big_vocab:
        big = {k: build_model(v, **{**ids, "vocab_size": args.big_vocab}).eval() for k, v in roles.items()}
        sub2 = splits.train[: max(args.seed_examples // 3, 1)]
        t_s2, _ = time_median(lambda: seed_loop(big, tok, splits.template, sub2, device), warmup=1, repeats=3)
        t_p2, _ = time_median(lambda: pass_core(big, tok, splits.template, splits.train, 4096, device), warmup=1,
                              repeats=3)
        d2 = float(np.abs(seed_loop(big, tok, splits.template, sub2, device)
                          - pass_core(big, tok, splits.template, splits.train, 4096, device)[:, : len(sub2)]).max())
        if d2 > tol:
            raise AssertionError(f"vocab {args.big_vocab}: the pass and the seed loop disagree by {d2} nats")
        r_s2 = len(sub2) / t_s2
        rows.append({**row(f"seed_loop_v{args.big_vocab}", len(sub2), t_s2, r_s2, "tiny body, Qwen2-size head"),
                     "speedup_vs_seed": 1.0})
        rows.append({**row(f"pass_core_v{args.big_vocab}", n, t_p2, n / t_p2,
                           f"no files; max |seed - pass| = {d2:.2e} nats"),
                     "speedup_vs_seed": round((n / t_p2) / r_s2, 2)})
    if not args.no_scaling and device.type == "cuda" and torch.cuda.device_count() < 2:
        print("1 -> 2 process scaling skipped: one CUDA device (each rank needs its own GPU)", flush=True)
    elif not args.no_scaling:
        for k in (1, 2):
            r = torchrun(k, args.size, work / f"w{k}", args.models, args.dtype)
            rows.append(row(f"torchrun_{k}", r["n"], r["seconds"], r["n"] / r["seconds"], "OMP_NUM_THREADS=1"))
    append_rows(args.out, rows)
    from harness.log import table

    table("scoring throughput (3 models)", ["mode", "examples", "s", "ex/s", "x seed", "note"],
          [[r["mode"], r["examples"], r["seconds"], r["examples_per_s"], r["speedup_vs_seed"], r["note"]]
           for r in rows])
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
