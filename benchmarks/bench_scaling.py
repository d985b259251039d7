"""Benchmark: the cost of doubling the dataset - scoring and one training epoch at N and 2N examples.

Claim under test: both stages stream (length-sorted batches, scores written to memmaps, the loader yields example
indices), so doubling the data doubles the time and leaves the peak memory unchanged.

Per (stage, size), a fresh subprocess (so ru_maxrss is that stage's own high-water mark):
    scoring  harness.recipes.atlantis.scoring.score.run_scoring of the synthetic training split under the large (tiny-qwen2) and
             small (tiny-qwen2-small) models, fp32, token budget 4096 per batch
    train    harness.train.sft.train, plain torch single process, tiny-qwen2, 1 epoch, micro-batch 8, no
             evaluation, no export (its end-of-epoch checkpoint is included)
The synthetic set, its dev split and the tokenizer (trained once on a fixed 200-example text set, identical for
both sizes) are built before the timer starts. ``seconds`` = wall time of the stage call; ``epoch_s`` (train) =
sum of the loop's own per-step times from metrics.jsonl (the epoch without model build / checkpoint); scoring
= sum of the per-model scoring loops (``score_model``: batches, forwards, memmap writes; no model build);
``peak_mb`` = ru_maxrss minus the RSS just before the call (benchmarks/common.PeakMemory); ``maxrss_mb`` = the
process's absolute peak RSS. Ratios are 2N over N. Rows append to benchmarks/results/scaling.csv.

    python benchmarks/bench_scaling.py [--size 4000]     # sizes N and 2N of synthetic_size
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, PeakMemory, _maxrss_bytes, append_rows, env_stamp, run_worker  # noqa: E402

STAGES = ("scoring", "train")
TOKENIZER_TEXTS = 200  # synthetic examples the (shared) tokenizer is trained on


def _config(n: int, run_dir: Path):
    from harness.config import DataConfig, ModelConfig, RunConfig, ScoringConfig, TrainConfig

    return RunConfig(run_dir=str(run_dir), data=DataConfig(dataset="synthetic", synthetic_size=n),
                     model=ModelConfig(large="tiny-qwen2", small="tiny-qwen2-small", dtype="float32"),
                     scoring=ScoringConfig(tokens_per_batch=4096),
                     train=TrainConfig(epochs=1, micro_batch=8, grad_accum=1, eval_split="", log_every=1))


def _tokenizer(cfg, run_dir: Path):
    """One tokenizer for every size: trained on a fixed synthetic text set, cached where train() looks."""
    from harness.data.prompts import get_template
    from harness.data.registry import get_dataset
    from harness.data.synthetic import make_synthetic
    from harness.models.tokenizer import resolve_tokenizer

    template = get_template(get_dataset("synthetic").default_template)
    train, _ = make_synthetic(TOKENIZER_TEXTS, 12345)
    texts = [template.render(ex) + template.label_prefix + ex.train_label for ex in train]
    return resolve_tokenizer(cfg.model, texts, run_dir / "tokenizer")


def measure(stage: str, n: int, work: Path) -> dict:
    """Runs in the worker: set up outside the timer, then time one stage call under PeakMemory."""
    from harness.data.dataset import load_splits

    run_dir = work / f"{stage}_{n}"
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = _config(n, run_dir)
    splits = load_splits(cfg.data)
    tok = _tokenizer(cfg, run_dir)
    if stage == "scoring":
        from harness.recipes.atlantis.scoring import score

        loop_s = []
        inner = score.score_model

        def timed(*a, **kw):  # the per-model scoring loops (run_scoring looks score_model up at call time)
            t = time.perf_counter()
            out = inner(*a, **kw)
            loop_s.append(time.perf_counter() - t)
            return out

        score.score_model = timed
        with PeakMemory("cpu") as mem:
            t0 = time.perf_counter()
            score.run_scoring(cfg, splits.train, splits.template, tok, run_dir)
            seconds = time.perf_counter() - t0
        score.score_model = inner
        epoch_s, steps = sum(loop_s), None
    elif stage == "train":
        from harness.train.sft import train

        with PeakMemory("cpu") as mem:
            t0 = time.perf_counter()
            out = train(cfg, splits=splits, export=False)
            seconds = time.perf_counter() - t0
        recs = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln.strip()]
        epoch_s, steps = sum(r["step_time_s"] for r in recs), out["steps"]
        if len(recs) != steps:
            raise RuntimeError(f"{run_dir}/metrics.jsonl has {len(recs)} records for {steps} steps")
    else:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    maxrss = _maxrss_bytes() / 2**20
    return {"n_train": len(splits.train), "seconds": seconds, "epoch_s": epoch_s, "steps": steps,
            "peak_mb": mem.peak_bytes / 2**20, "maxrss_mb": maxrss}


def run(size: int, out: Path, work: Path | None = None) -> list[dict]:
    if size < 20:
        raise ValueError(f"--size must be >= 20 (one global batch of 8 after the dev split), got {size}")
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="bench_scaling.")) if own else work
    stamp = env_stamp("cpu")
    res = {}
    for stage in STAGES:
        for n in (size, 2 * size):
            res[stage, n] = run_worker([__file__, "--worker", json.dumps({"stage": stage, "n": n,
                                                                          "work": str(work)})], timeout=3600)
            r = res[stage, n]
            print(f"{stage:8s} synthetic_size={n}: {r['n_train']} examples, {r['seconds']:.2f} s, "
                  f"peak +{r['peak_mb']:.0f} MiB (max RSS {r['maxrss_mb']:.0f} MiB)", flush=True)
    rows = []
    for stage in STAGES:
        small = res[stage, size]
        for n in (size, 2 * size):
            r = res[stage, n]
            t_key = "epoch_s"
            rows.append({**stamp, "stage": stage, "synthetic_size": n, "examples": r["n_train"],
                         "seconds": round(r["seconds"], 3),
                         "epoch_s": round(r["epoch_s"], 3),
                         "steps": r["steps"] if r["steps"] is not None else "",
                         "time_ratio": round(r[t_key] / small[t_key], 3),
                         "wall_ratio": round(r["seconds"] / small["seconds"], 3),
                         "peak_mb": round(r["peak_mb"], 1), "maxrss_mb": round(r["maxrss_mb"], 1),
                         "maxrss_ratio": round(r["maxrss_mb"] / small["maxrss_mb"], 3)})
    append_rows(out, rows)
    if own:
        shutil.rmtree(work, ignore_errors=True)
    from harness.log import table

    table("doubling the dataset (ratios: 2N over N of epoch_s: the training epoch / the scoring loops)",
          ["stage", "examples", "wall s", "epoch s", "time x", "peak +MiB", "max RSS MiB", "RSS x"],
          [[r["stage"], r["examples"], r["seconds"], r["epoch_s"], r["time_ratio"], r["peak_mb"], r["maxrss_mb"],
            r["maxrss_ratio"]] for r in rows])
    return rows


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4000, help="N = synthetic_size; 2N is run too (~0.9 of it trains)")
    ap.add_argument("--out", default=str(RESULTS / "scaling.csv"))
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(measure(spec["stage"], spec["n"], Path(spec["work"]))))
        return []
    return run(args.size, Path(args.out))


if __name__ == "__main__":
    main()
