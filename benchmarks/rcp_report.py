"""Rows and the tuning-curve plot of a finished RCP run (LMRC's relation candidate proposal): reads the run folder
that ``launch/docre.py rcp-train`` / ``rcp-propose`` wrote and appends one row per proposal to
``benchmarks/results/rcp.csv``; it trains nothing (the training is the run itself, minutes to hours).

    python benchmarks/rcp_report.py --run runs/rcp_minilm_redocred --names test test_fixed05 \
        --label "all-MiniLM-L6-v2 RCP, Re-DocRED, offline protocol" --plot benchmarks/results/rcp_tuning_f1.png

Columns: the environment stamp; model, data, protocol; epochs, best epoch, the tuning documents' F1 per epoch;
threshold mode and value; on the proposal documents: related-pair precision / recall / F1, candidate and proposed
pairs, the kept fraction, recall of gold relation triples (a triple counts when its pair is proposed: the ceiling
of the LLM stage's recall); training wall time (``--train-wall-s``, e.g. from the launcher's start / end stamps),
training documents/s (batch_docs / step time over the logged steps: every log_every-th step, evaluation and
checkpoint time excluded) and forward documents/s (rcp-propose's timed prediction pass).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import RESULTS, append_rows, env_stamp  # noqa: E402
from harness.manifest import iter_jsonl  # noqa: E402
from harness.recipes.docre.rcp.config import RCPConfig, RCPFiles  # noqa: E402
from harness.recipes.docre.rcp.stage import load_docs  # noqa: E402
from harness.recipes.docre.reader import read_docred  # noqa: E402


def fact_recall(candidates: Path, docs_path: str) -> tuple[int, int]:
    """(gold relation triples whose pair is proposed, gold triples) over the proposal documents."""
    rows = [json.loads(x) for x in candidates.read_text().splitlines()]
    docs = {d.title: d for d in read_docred(docs_path)}
    hit = total = 0
    for r in rows:
        kept = {tuple(p) for p in r["pairs"]}
        for f in docs[r["title"]].facts:
            total += 1
            hit += (f.h, f.t) in kept
    return hit, total


def rows_of(run: Path, names: list[str], label: str, train_wall_s: float) -> list[dict]:
    files = RCPFiles(run)
    recorded = json.loads(files.config.read_text())  # the DocREConfig of the training (its rcp section; a run made
    cfg = RCPConfig(**recorded.get("rcp", recorded))  # before RCP became a section recorded the flat fields)
    evals = [rec for _, rec in iter_jsonl(files.evals, "evals.jsonl")]
    steps = [rec for _, rec in iter_jsonl(files.metrics, "metrics.jsonl")]
    train_docs, tune_docs = load_docs(cfg)
    step_s = statistics.mean(r["step_time_s"] for r in steps)
    best = max(evals, key=lambda r: r["f1"])
    out = []
    for name in names:
        st = json.loads(files.candidate_stats(name).read_text())
        hit, total = fact_recall(files.candidates(name), st["source"])
        out.append({**env_stamp("cpu"), "run": label, "encoder": cfg.encoder, "name": name,
                    "protocol": "offline: train 80% Re-DocRED dev, select/tune on 20%, propose on test" if not
                    cfg.train_file else "train_file / dev / propose_file",
                    "train_docs": len(train_docs), "tune_docs": len(tune_docs), "docs": st["documents"],
                    "epochs": cfg.epochs, "best_epoch": best["epoch"], "batch_docs": cfg.batch_docs, "lr": cfg.lr,
                    "head_lr": cfg.head_lr, "tuning_f1_per_epoch": " ".join(f"{r['f1']:.4f}" for r in evals),
                    "threshold": round(st["threshold"], 6),
                    "precision": round(st["related_precision"], 4), "recall": round(st["related_recall"], 4),
                    "f1": round(st["related_f1"], 4), "candidate_pairs": st["candidate_pairs"],
                    "proposed_pairs": st["proposed_pairs"], "kept_fraction": round(st["kept_fraction"], 4),
                    "fact_recall": round(hit / total, 4) if total else "", "gold_facts": total,
                    "train_wall_s": round(train_wall_s, 1), "train_step_s": round(step_s, 3),
                    "train_docs_per_s": round(cfg.batch_docs * cfg.grad_accum / step_s, 3),
                    "forward_docs_per_s": round(st.get("docs_per_s", 0.0), 3)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="the RCP run_dir (holding rcp/)")
    p.add_argument("--names", nargs="+", default=["test"], help="candidates/<name> proposals to report")
    p.add_argument("--label", required=True, help="model, data and protocol, for the row and the plot title")
    p.add_argument("--train-wall-s", type=float, default=0.0, help="rcp-train's wall time in seconds")
    p.add_argument("--plot", default="", help="PNG of the tuning F1 per epoch")
    p.add_argument("--out", default=str(RESULTS / "rcp.csv"))
    args = p.parse_args(argv)
    rows = rows_of(Path(args.run), args.names, args.label, args.train_wall_s)
    append_rows(args.out, rows)
    if args.plot:
        from harness.eval.plots import plot_epoch_detection

        evals = [rec for _, rec in iter_jsonl(RCPFiles(args.run).evals, "evals.jsonl")]
        plot_epoch_detection(evals, args.plot, title=f"{args.label}\nheld-out tuning documents, F1-best threshold per epoch")
    for r in rows:
        print(json.dumps({k: r[k] for k in ("name", "threshold", "precision", "recall", "f1", "kept_fraction",
                                            "fact_recall", "train_docs_per_s", "forward_docs_per_s")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
