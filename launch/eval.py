"""Evaluation entry point.

    python launch/eval.py score --key TEST_FILE_KEY_DIRECTIONAL.TXT --pred predictions.txt
        drop-in for the official SemEval-2010 Task 8 Perl scorer; the official score is the LAST line.
    python launch/eval.py run --model EXPORTED_DIR [--config run.json --set eval.method=generate] [--split test]
        evaluates an exported HF model folder (model + tokenizer); writes <run_dir>/eval.json (or --out) and, for
        the semeval19 label space, predictions.txt beside it in the official scorer's format (score it with the
        `score` command). torchrun --nproc_per_node 2 launch/eval.py run ...   shards the examples over ranks.
    python launch/eval.py compare RUN_DIR [RUN_DIR ...]
        one row per run folder (keyed by its name): macro-F1, the SemEval official score where defined, and the
        delta vs the SFT run of the same setting.
    python launch/eval.py curves RUN_DIR [RUN_DIR ...] --out curves.png [--split dev]
        learning curves of several runs (from each run's evals.jsonl) on one chart.
    python launch/eval.py weights --config run.json --out-dir plots/
        weight distribution per gold label and clean vs corrupted (from <run_dir>/weights/weights.f32, checked
        against its manifest and this config's training split).

A wrong input (config, --set, file, folder) is one line `error: ...` on stderr and exit status 2 (harness.cli).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from harness import dist, log
from harness.cli import InputError, input_errors, run_main
from harness.run import RunDir


def cmd_score(args) -> int:
    from harness.eval.semeval import align_files, format_report, read_scorer_file, semeval_scores

    key = read_scorer_file(args.key)  # ScorerFileError (an InputError) names file and line
    pred = read_scorer_file(args.pred)
    _, gold, predicted = align_files(key, pred, args.pred)
    s = semeval_scores(gold, predicted)
    if s["n_skipped"]:
        print(f"warning: {s['n_skipped']} id(s) of the key have no prediction (skipped, scored wrong)")
    print("\n".join(format_report(s)))
    return 0


EXPORT_HINT = ("give the folder launch/train.py exported (<run_dir>/export), or export a checkpoint: "
               "python launch/train.py export --checkpoint RUN/checkpoints --out DIR")


def check_model_dir(path: str) -> Path:
    """``--model`` must be an exported Hugging Face folder (config.json and a tokenizer): checked before anything
    loads, so a wrong path is one line, not a hub error."""
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"--model {path}: no such folder; {EXPORT_HINT}")
    if not any(p.iterdir()):
        raise InputError(f"--model {path}: the folder is empty; {EXPORT_HINT}")
    if not (p / "config.json").is_file():
        raise InputError(f"--model {path}: no config.json, not a Hugging Face model folder; {EXPORT_HINT}")
    if not any((p / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json")):
        raise InputError(f"--model {path}: no tokenizer (tokenizer.json / tokenizer_config.json); {EXPORT_HINT}")
    return p


def write_predictions_file(out: Path, result: dict) -> None:
    """predictions.txt beside ``out`` in the official scorer's format, when the label space has one."""
    from harness.eval.evaluate import official_predictions, predictions_path, write_predictions

    if not official_predictions(result):
        log.info(f"predictions.txt not written: the official scorer's format needs the semeval19 label space "
                 f"(this run: {result['label_space']}); eval.json holds every prediction")
        return
    bad = [p["id"] for p in result["predictions"] if not str(p["id"]).isdigit()]
    if bad:
        log.warn(f"predictions.txt not written: example ids such as {bad[0]!r} are not numeric, and the official "
                 f"scorer's format needs numeric ids; eval.json holds every prediction")
        return
    path = predictions_path(out)
    n_invalid = write_predictions(path, result)
    note = f" ({n_invalid} invalid prediction(s) written as Other)" if n_invalid else ""
    log.info(f"predictions.txt -> {path}{note}; score it: python launch/eval.py score --key KEY --pred {path}")


def cmd_run(args) -> int:
    from harness.config import load_config
    from harness.data.dataset import prepare_splits
    from harness.eval import eval_identity, evaluate_model, print_summary, write_eval_json
    from harness.models.load import build_model
    from harness.models.tokenizer import load_tokenizer

    cfg = load_config(args.config, args.set)
    model_dir = check_model_dir(args.model)
    out = Path(args.out) if args.out else RunDir(cfg.run_dir).eval_json
    dist.init()
    with input_errors():  # the data readers' errors name file and line
        splits = prepare_splits(cfg.data, RunDir(cfg.run_dir).data, is_writer=dist.rank() == 0, wait=dist.barrier)
    examples = getattr(splits, args.split)
    if not examples:
        raise InputError(f"split {args.split!r} of data.dataset={cfg.data.dataset} is empty; choose another --split")
    tok = load_tokenizer(model_dir)
    model = build_model(str(model_dir), dtype=cfg.model.dtype, device=dist.device_for(),
                        attn_impl=cfg.model.attn_impl)
    result = evaluate_model(model, tok, examples, splits.label_space, splits.template, method=cfg.eval.method,
                            batch_examples=cfg.eval.batch_examples, max_new_tokens=cfg.eval.max_new_tokens)
    if dist.rank() == 0:
        write_eval_json(out, result, **eval_identity(splits, args.split, args.model, model.config, cfg))
        print_summary(result, f"{args.split} ({cfg.eval.method})")
        log.info(f"eval.json -> {out}")
        write_predictions_file(out, result)
    dist.destroy()
    return 0


def cmd_compare(args) -> int:
    from harness.eval.compare import compare_table, fold_constant_columns

    common, columns, rows = fold_constant_columns(*compare_table(args.run_dirs))
    title = ", ".join(f"{k} {v}" for k, v in common.items())
    log.table(f"runs compared ({title or 'eval.json of each folder'})", columns, rows)
    return 0


def cmd_curves(args) -> int:
    from harness.eval.plots import plot_learning_curves, read_evals_jsonl

    runs = {}
    for d in args.run_dirs:
        name = Path(d).name
        if name in runs:
            raise InputError(f"two runs are named {name!r}; give run directories distinct names")
        with input_errors():  # a missing evals.jsonl or a bad line: file and line
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
    with input_errors():  # data readers; a missing weights file or a manifest that does not match
        splits = load_splits(cfg.data)
        train = splits.train
        path = args.weights or RunDir(cfg.run_dir).weights
        w = load_weights(path, n=len(train), dataset_fingerprint=fingerprint(train),
                         template_hash=splits.template.hash)
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
    r.add_argument("--out", default="", help="eval.json path (default <run_dir>/eval.json); semeval19: predictions "
                   "beside it (predictions.txt, or <stem>.predictions.txt for another file name)")
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
    """The commands; input errors propagate as ``InputError`` (``run_main`` turns them into one line, exit 2)."""
    args = parse_args(argv)
    return {"score": cmd_score, "run": cmd_run, "compare": cmd_compare, "curves": cmd_curves,
            "weights": cmd_weights}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(run_main(main))
