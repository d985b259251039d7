"""Run every benchmark that fits this machine and print one table: ``python -m benchmarks [--quick | --full]``.

Subjects (each its own script, each appending rows to benchmarks/results/<subject>.csv):
    train_throughput  bench_train_throughput.py  label-rows weighted loss vs the full-logits baseline
    weighted_ce       bench_weighted_ce.py       fused weighted linear CE vs naive torch (+ Triton, Liger, CCE on GPU)
    scoring           bench_scoring.py           scoring pass vs the seed-style per-example loop
    scaling           bench_scaling.py           scoring and one epoch at N and 2N examples
    optimizer         bench_optimizer.py         bitsandbytes AdamW8bit vs AdamW: state memory, loss curve
    qa4re             bench_qa4re.py             QA4RE batched option scoring vs one-example-at-a-time generate
    packing           bench_packing.py           packed vs padded micro-batches: tokens/s, padding, scoring FLOP eff.
--quick (default): the smallest case of each (a few minutes on 2 CPU cores). --full: each script's defaults
(on CPU this includes the Qwen2-0.5B-shape training step: ~8 GB of RAM and many minutes).
Each script runs in its own process; the rows it appended are read back from its CSV for the summary table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from benchmarks.common import RESULTS, SUBJECTS, read_rows

HERE = Path(__file__).resolve().parent
SCRIPTS = {"train_throughput": "bench_train_throughput.py", "weighted_ce": "bench_weighted_ce.py",
           "scoring": "bench_scoring.py", "scaling": "bench_scaling.py", "optimizer": "bench_optimizer.py",
           "qa4re": "bench_qa4re.py", "packing": "bench_packing.py"}
QUICK_ARGS = {"train_throughput": ["--quick"], "weighted_ce": ["--quick"],
              "scoring": ["--size", "200", "--seed-examples", "20", "--no-scaling"], "scaling": ["--size", "200"],
              "optimizer": ["--examples", "64", "--epochs", "1"], "qa4re": ["--examples", "16", "--repeats", "1"],
              "packing": ["--model", "tiny-qwen2", "--dataset", "synthetic", "--max-examples", "64", "--steps", "2",
                          "--score-examples", "32", "--score-tokens", "256"]}
FULL_ARGS = {"train_throughput": [], "weighted_ce": [], "scoring": [], "scaling": [], "optimizer": [], "qa4re": [],
             "packing": []}


def summary_row(subject: str, r: dict) -> list:
    """[subject, case, provider/mode, seconds, rate, peak MiB] of one CSV row."""
    if subject == "train_throughput":
        return [subject, f"{r['model']} {r['micro_batch']}x{r['seq']} {r['engine']}", r["provider"], r["step_s"],
                f"{r['tokens_per_s']} tok/s, MFU {r['mfu']}" + (f", HFU {r['hfu']}" if r.get("hfu") else ""),
                r["peak_mem_mb"]]
    if subject == "weighted_ce":
        return [subject, f"N={r['N']} H={r['H']} V={r['V']}", r["provider"], r["median_s"],
                f"{r['tflops']} TFLOP/s", r["peak_mb"]]
    if subject == "scoring":
        return [subject, f"{r['examples']} examples", r["mode"], r["seconds"],
                f"{r['examples_per_s']} ex/s ({r['speedup_vs_seed']}x seed)", ""]
    if subject == "scaling":
        secs = r["epoch_s"] or r["seconds"]
        return [subject, f"{r['examples']} examples", r["stage"], secs, f"time x{r['time_ratio']} vs N",
                r["peak_mb"]]
    if subject == "optimizer":
        return [subject, f"{r['model']} {r['steps']} steps", r["optimizer"], "",
                f"state x{r['state_ratio']}, max |dloss| {r['max_abs_loss_diff']}", ""]
    if subject == "qa4re":
        return [subject, f"{r['model']} {r['examples']} questions", r["mode"], r["seconds"],
                f"{r['examples_per_s']} ex/s ({r['speedup_vs_generate']}x generate)", ""]
    if subject == "packing":
        secs = r["step_s"] or r["seconds"]
        return [subject, f"{r['model']} {r['phase']} ({r['dataset']}, mean {r['len_mean']} tokens)", r["layout"], secs,
                f"{r['tokens_per_s']} tok/s, padding {r['padding']}"
                + (f", FLOP eff. {r['flop_efficiency']}" if r.get("flop_efficiency") else ""), ""]
    raise ValueError(f"unknown subject {subject!r}")


def run_subject(subject: str, extra: list[str], out: Path) -> list[dict]:
    before = len(read_rows(out))
    cmd = [sys.executable, str(HERE / SCRIPTS[subject]), *extra]
    cmd += ["--out", str(out)]
    print(f"== {subject}: {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark {subject} failed (rc={proc.returncode}): {' '.join(cmd)}")
    rows = read_rows(out)[before:]
    if not rows:
        raise RuntimeError(f"benchmark {subject} exited 0 but appended no rows to {out}")
    return rows


def main(argv=None) -> list[list]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smallest case of each subject (default)")
    mode.add_argument("--full", action="store_true", help="each script's default cases")
    ap.add_argument("--only", default=",".join(SUBJECTS), help=f"comma list of {SUBJECTS}")
    ap.add_argument("--results-dir", default=str(RESULTS), help="where the CSVs go")
    args = ap.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SUBJECTS))
    if unknown:
        raise SystemExit(f"--only: unknown subject(s) {unknown}; known: {list(SUBJECTS)}")
    results = Path(args.results_dir)
    table_rows = []
    for subject in chosen:
        extra = FULL_ARGS[subject] if args.full else QUICK_ARGS[subject]
        rows = run_subject(subject, extra, results / f"{subject}.csv")
        table_rows += [summary_row(subject, r) for r in rows]
    from harness.log import table

    device = rows[0]["device"] if table_rows else ""
    table(f"benchmarks ({'full' if args.full else 'quick'}) on {device}",
          ["subject", "case", "provider / mode", "seconds", "rate", "peak MiB"], table_rows)
    return table_rows


if __name__ == "__main__":
    main()
