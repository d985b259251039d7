"""Evaluation entry point.

    python launch/eval.py score --key TEST_FILE_KEY_DIRECTIONAL.TXT --pred predictions.txt
        drop-in for the official SemEval-2010 Task 8 Perl scorer; the official score is the LAST line.
    python launch/eval.py run --model EXPORTED_DIR [--config run.json --set eval.method=generate] [--split test]
        evaluates an exported HF model folder (model + tokenizer); writes <run_dir>/eval.json (or --out).
        torchrun --nproc_per_node 2 launch/eval.py run ...   shards the examples over ranks.
    python launch/eval.py compare RUN_DIR [RUN_DIR ...]
        side-by-side macro-F1 table (SFT vs ATLANTIS per setting, with the noise rate).
    python launch/eval.py curves RUN_DIR [RUN_DIR ...] --out curves.png [--split dev]
        learning curves of several runs (from each run's evals.jsonl) on one chart.
    python launch/eval.py weights --config run.json --out-dir plots/
        weight distribution per gold label and clean vs corrupted (from <run_dir>/weights/weights.f32, checked
        against its manifest and this config's training split).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from harness import dist, log
from harness.run import RunDir


def cmd_score(args) -> int:
    from harness.eval.semeval import (
        ScorerFileError,
        align_files,
        format_report,
        read_scorer_file,
        semeval_scores,
    )

    try:
        key = read_scorer_file(args.key)
        pred = read_scorer_file(args.pred)
        _, gold, predicted = align_files(key, pred, args.pred)
    except ScorerFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = semeval_scores(gold, predicted)
    if s["n_skipped"]:
        print(f"warning: {s['n_skipped']} id(s) of the key have no prediction (skipped, scored wrong)")
    print("\n".join(format_report(s)))
    return 0


def cmd_run(args) -> int:
    from harness.config import load_config
    from harness.data.dataset import prepare_splits
    from harness.eval import eval_identity, evaluate_model, print_summary, write_eval_json
    from harness.models.load import build_model
    from harness.models.tokenizer import load_tokenizer

    cfg = load_config(args.config, args.set)
    dist.init()
    splits = prepare_splits(cfg.data, RunDir(cfg.run_dir).data, is_writer=dist.rank() == 0, wait=dist.barrier)
    examples = getattr(splits, args.split)
    if not examples:
        raise SystemExit(f"error: split {args.split!r} of data.dataset={cfg.data.dataset} is empty")
    tok = load_tokenizer(args.model)
    model = build_model(args.model, dtype=cfg.model.dtype, device=dist.device_for(), attn_impl=cfg.model.attn_impl)
    result = evaluate_model(model, tok, examples, splits.label_space, splits.template, method=cfg.eval.method,
                            batch_examples=cfg.eval.batch_examples, max_new_tokens=cfg.eval.max_new_tokens)
    out = Path(args.out) if args.out else RunDir(cfg.run_dir).eval_json
    if dist.rank() == 0:
        write_eval_json(out, result, **eval_identity(splits, args.split, args.model, model.config, cfg))
        print_summary(result, f"{args.split} ({cfg.eval.method})")
        log.info(f"eval.json -> {out}")
    dist.destroy()
    return 0


def cmd_compare(args) -> int:
    from harness.eval.compare import compare_table

    columns, rows = compare_table(args.run_dirs)
    log.table("SFT vs weighted fine-tuning (test macro-F1)", columns, rows)
    return 0


def cmd_curves(args) -> int:
    from harness.eval.plots import plot_learning_curves, read_evals_jsonl

    runs = {}
    for d in args.run_dirs:
        name = Path(d).name
        if name in runs:
            raise SystemExit(f"error: two runs are named {name!r}; give run directories distinct names")
        runs[name] = read_evals_jsonl(d)
    log.info(f"learning curves -> {plot_learning_curves(runs, args.out, split=args.split)}")
    return 0


def cmd_weights(args) -> int:
    from harness.config import load_config
    from harness.data.dataset import load_splits
    from harness.data.examples import fingerprint
    from harness.eval.plots import plot_weights_noisy, plot_weights_per_label
    from harness.scoring.weights import load_weights

    cfg = load_config(args.config, args.set)
    splits = load_splits(cfg.data)
    train = splits.train
    path = args.weights or RunDir(cfg.run_dir).weights
    try:
        w = load_weights(path, n=len(train), dataset_fingerprint=fingerprint(train),
                         template_hash=splits.template.hash)
    except (FileNotFoundError, ValueError) as e:  # ManifestMismatch is a ValueError
        raise SystemExit(f"error: {e}") from e
    out = Path(args.out_dir)
    a = plot_weights_per_label(w, [ex.label for ex in train], out / "weights_per_label.png")
    b = plot_weights_noisy(w, np.array([ex.is_noisy for ex in train], dtype=bool), out / "weights_clean_vs_noisy.png")
    log.info(f"plots -> {a}, {b}")
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("score", help="score a prediction file against a key file (official scorer format)")
    s.add_argument("--key", required=True)
    s.add_argument("--pred", required=True)
    r = sub.add_parser("run", help="evaluate an exported model folder")
    r.add_argument("--model", required=True, help="exported HF model folder (with its tokenizer)")
    r.add_argument("--split", default="test", choices=["dev", "test"])
    r.add_argument("--out", default="", help="eval.json path (default <run_dir>/eval.json)")
    c = sub.add_parser("compare", help="side-by-side table of run directories")
    c.add_argument("run_dirs", nargs="+")
    cu = sub.add_parser("curves", help="learning curves of several runs on one chart")
    cu.add_argument("run_dirs", nargs="+")
    cu.add_argument("--out", required=True)
    cu.add_argument("--split", default="dev")
    w = sub.add_parser("weights", help="weight plots of a run's training split")
    w.add_argument("--weights", default="", help="weights.f32 (default <run_dir>/weights/weights.f32)")
    w.add_argument("--out-dir", required=True)
    for q in (r, w):
        q.add_argument("--config", default=None, help="run config JSON (defaults if omitted)")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return {"score": cmd_score, "run": cmd_run, "compare": cmd_compare, "curves": cmd_curves,
            "weights": cmd_weights}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
