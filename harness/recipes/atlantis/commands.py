"""atlantis: importance-weighted fine-tuning (ATLANTIS) against plain SFT, each stage a command.

    python -m harness atlantis score --config run.json [--run-dir DIR] [--set scoring.tokens_per_batch=2048]
    deepspeed --num_gpus G --module harness atlantis train --ds ds_configs/zero3.json --config run.json [--resume]
    torchrun --nnodes N --nproc_per_node G --rdzv_backend c10d --rdzv_endpoint HOST:PORT -m harness atlantis train ...
    python -m harness atlantis export --run-dir RUN [--tag stepN] [--out DIR]
    python -m harness atlantis eval --model RUN/export --config run.json [--split test]
    python -m harness atlantis semeval-score --key TEST_FILE_KEY_DIRECTIONAL.TXT --pred predictions.txt
    python -m harness atlantis compare --run-dir runs/sft --run-dir runs/atlantis
    python -m harness atlantis curves --run-dir A --run-dir B --out curves.png [--split dev]
    python -m harness atlantis weights --config run.json --out-dir plots/
    python -m harness atlantis experiment [--run-dir runs/experiment] [--overwrite] ...   (the whole pipeline)

score writes <run_dir>/score_config.json, the score memmaps (+ manifest; resumable: run the same command again
after a crash) and <run_dir>/weights/ when every model the weight formula needs has been scored; multi-node, every
node writes rows of the same memmaps, so run_dir must be on a filesystem all nodes share. train refuses a run
folder holding a training run unless --resume (same settings, checked) or --overwrite. eval runs an exported
model on a split and writes <run_dir>/eval.json (and, for the semeval19 label space, predictions.txt beside it in
the official scorer's format: score that file with semeval-score).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.cli import RESUME_EXPLICIT, Command, InputError, input_errors

EXPORT_HINT = ("give the folder `atlantis train` exported (<run_dir>/export), or export a checkpoint: "
               "python -m harness atlantis export --run-dir RUN --out DIR")


def train(args) -> int:
    from harness.config import load_config
    from harness.train.sft import SFTObjective
    from harness.train.trainer import finish, run

    cfg = load_config(args.config, args.set)
    out = run(SFTObjective(cfg), args.ds, resume=args.resume, overwrite=args.overwrite,
              dist_timeout_s=args.dist_timeout, export=not args.no_export)  # input errors: one line, exit 2
    return finish(out)


def export(args) -> int:
    from harness import log
    from harness.run import RunDir
    from harness.train.checkpoint import latest_tag
    from harness.train.export import export_checkpoint

    ckpt = Path(args.checkpoints) if args.checkpoints else RunDir(args.run_dir).checkpoints
    tag = args.tag or latest_tag(ckpt)
    out = export_checkpoint(ckpt, args.out or ckpt.parent / f"export-{tag}", tag=tag)
    log.info(f"exported {ckpt / tag} -> {out}")
    return 0


def score(args, on_batch=None) -> int:
    """``on_batch``: a test hook passed to ``run_scoring`` (tests/scoring/_score_driver.py)."""
    from harness import dist
    from harness.config import load_config
    from harness.data.dataset import prepare_splits
    from harness.log import info
    from harness.models.tokenizer import run_tokenizer
    from harness.recipes.atlantis.scoring.score import role_names, run_scoring
    from harness.recipes.atlantis.scoring.weights import missing_roles, print_stats, write_weights
    from harness.run import RunDir
    from harness.runstate import claim_run_folder

    cfg = load_config(args.config, args.set)
    dist.init()
    run = RunDir(cfg.run_dir, cfg.scoring.out_dir)
    lock = claim_run_folder(run.root, "score", lambda: _check_score_folder(run, cfg, args.overwrite))
    with input_errors():  # the data readers' errors name file and line
        splits = prepare_splits(cfg.data, run.data, is_writer=dist.rank() == 0, wait=dist.barrier)
    train, template = splits.train, splits.template
    tok = run_tokenizer(cfg.model, splits, run.tokenizer)
    scores_dir = run_scoring(cfg, train, template, tok, run.root, on_batch=on_batch)
    if dist.rank() == 0 and not args.skip_weights:
        missing = missing_roles(cfg.weights.formula, role_names(cfg))
        if missing:
            info(f"weights not written: formula {cfg.weights.formula!r} also needs the scores of {missing}")
        else:
            manifest = write_weights(scores_dir, run.weights_dir, train, template.hash, cfg.weights)
            print_stats(manifest["stats"])
            info(f"weights -> {run.weights}")
    dist.barrier()
    if lock is not None:
        lock.release()
    dist.destroy()
    return 0


def _check_score_folder(run, cfg, overwrite: bool) -> None:
    """(rank 0, under the folder's lock) Scores made under other settings are refused (same settings resume
    them), or deleted with --overwrite; then this run's settings are recorded."""
    from harness.runstate import check_same_config

    if overwrite:
        for d in (run.scores, run.weights_dir):
            shutil.rmtree(d, ignore_errors=True)
    elif run.score_config.is_file():
        check_same_config(run.score_config, cfg, "score", what="the scores in this folder",
                          way_out="score with the same settings (they resume), or pass --overwrite to score again")
    cfg.dump(run.score_config)


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
    from harness import log
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
    log.info(f"predictions.txt -> {path}{note}; score it: python -m harness atlantis semeval-score --key KEY "
             f"--pred {path}")


def evaluate(args) -> int:
    from harness import dist, log
    from harness.config import load_config
    from harness.data.dataset import prepare_splits
    from harness.eval import eval_identity, evaluate_model, print_summary, write_eval_json
    from harness.models.load import build_model
    from harness.models.tokenizer import load_tokenizer
    from harness.run import RunDir

    cfg = load_config(args.config, args.set)
    model_dir = check_model_dir(args.model)
    names = eval_splits(args.split)
    first = Path(args.out) if args.out else RunDir(cfg.run_dir).eval_json
    dist.init()
    with input_errors():  # the data readers' errors name file and line
        splits = prepare_splits(cfg.data, RunDir(cfg.run_dir).data, is_writer=dist.rank() == 0, wait=dist.barrier)
    for name in names:
        if not getattr(splits, name):
            raise InputError(f"split {name!r} of data.dataset={cfg.data.dataset} is empty; choose another --split")
    tok = load_tokenizer(model_dir)
    model = build_model(str(model_dir), dtype=cfg.model.dtype, device=dist.device_for(),
                        attn_impl=cfg.model.attn_impl)
    for i, name in enumerate(names):  # one model load for every split asked
        out = first if i == 0 else first.with_name(f"eval-{name}.json")
        result = evaluate_model(model, tok, getattr(splits, name), splits.label_space, splits.template,
                                method=cfg.eval.method, batch_examples=cfg.eval.batch_examples,
                                max_new_tokens=cfg.eval.max_new_tokens)
        if dist.rank() == 0:
            write_eval_json(out, result, **eval_identity(splits, name, args.model, model.config, cfg))
            print_summary(result, f"{name} ({cfg.eval.method})")
            log.info(f"eval.json -> {out}")
            write_predictions_file(out, result)
    dist.destroy()
    return 0


def eval_splits(spec: str) -> list[str]:
    """--split: one split or a comma list (train, dev, test), each once."""
    names = [x.strip() for x in spec.split(",") if x.strip()]
    bad = [x for x in names if x not in ("train", "dev", "test")]
    if not names or bad or len(set(names)) != len(names):
        raise InputError(f"--split {spec!r}: give train, dev or test, or a comma list of them (each once)")
    return names


def semeval_score(args) -> int:
    from harness.eval.semeval import align_files, format_report, read_scorer_file, semeval_scores

    key = read_scorer_file(args.key)  # ScorerFileError (an InputError) names file and line
    pred = read_scorer_file(args.pred)
    _, gold, predicted = align_files(key, pred, args.pred)
    s = semeval_scores(gold, predicted)
    if s["n_skipped"]:
        print(f"warning: {s['n_skipped']} id(s) of the key have no prediction (skipped, scored wrong)")
    print("\n".join(format_report(s)))
    return 0


def compare(args) -> int:
    from harness import log
    from harness.eval.compare import aggregate_table, compare_table, fold_constant_columns, read_rows

    common, columns, rows = fold_constant_columns(*compare_table(args.run_dirs))
    title = ", ".join(f"{k} {v}" for k, v in common.items())
    log.table(f"runs compared ({title or 'eval.json of each folder'})", columns, rows)
    records = read_rows(args.run_dirs)
    if len({r["seed"] for r in records}) > 1:  # more than one seed: the table over seeds, with intervals
        columns, rows, _ = aggregate_table(records)
        common, columns, rows = fold_constant_columns(columns, rows, ("setting", "split", "noise rate"))
        title = ", ".join(f"{k} {v}" for k, v in common.items())
        log.table(f"over seeds ({title or 'by setting and method'})", columns, rows)
    return 0


def curves(args) -> int:
    from harness import log
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


def weights(args) -> int:
    import numpy as np

    from harness import log
    from harness.config import load_config
    from harness.data.dataset import load_splits
    from harness.data.examples import fingerprint
    from harness.eval.plots import plot_weights_noisy, plot_weights_per_label
    from harness.recipes.atlantis.scoring.weights import load_weights
    from harness.run import RunDir

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


def experiment(args) -> int:
    from harness.recipes.atlantis.experiment import run_experiment

    return run_experiment(args)


def _train_args(p) -> None:
    p.add_argument("--no-export", action="store_true", help="skip the final Hugging Face export")


def _export_args(p) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--run-dir", default=None, metavar="DIR", help="the training run folder (its checkpoints/)")
    where.add_argument("--checkpoints", default="", metavar="DIR", help="a checkpoints folder (instead of --run-dir; "
                       "the old --checkpoint spelling of launch/train.py export)")
    p.add_argument("--tag", default=None, help="checkpoint tag (default: the folder's latest)")
    p.add_argument("--out", default=None, help="output folder (default: <run_dir>/export-<tag>)")


def _score_args(p) -> None:
    p.add_argument("--skip-weights", action="store_true", help="score only; do not write weights")


def _eval_args(p) -> None:
    p.add_argument("--model", required=True, help="exported HF model folder (with its tokenizer)")
    p.add_argument("--split", default="test", help="train, dev or test, or a comma list (test,train): the model is "
                   "loaded once; the first split's figures go to --out, each other split's to eval-<split>.json beside "
                   "it (train: scored against gold; the training labels are in <run_dir>/data)")
    p.add_argument("--out", default="", help="eval.json path (default <run_dir>/eval.json); semeval19: predictions "
                   "beside it (predictions.txt, or <stem>.predictions.txt for another file name)")


def _semeval_args(p) -> None:
    p.add_argument("--key", required=True, help="key file (e.g. TEST_FILE_KEY_DIRECTIONAL.TXT)")
    p.add_argument("--pred", required=True, help="predictions file in the official scorer's format")


def _curves_args(p) -> None:
    p.add_argument("--out", required=True, help="the chart (.png)")
    p.add_argument("--split", default="dev")


def _weights_args(p) -> None:
    p.add_argument("--weights", default="", help="weights.f32 (default <run_dir>/weights/weights.f32)")
    p.add_argument("--out-dir", required=True)


def _experiment_args(p) -> None:
    """The experiment's own flags (``--config``, ``--set``, ``--ds``, ``--resume`` / ``--overwrite`` are the shared
    ones of harness.cli; ``--run-dir`` is the experiment folder, stages in subfolders)."""
    p.add_argument("--run-dir", default="runs/experiment", metavar="DIR", help="experiment folder (stages go in "
                   "subfolders; relative: under the repository)")
    p.add_argument("--dataset", default="", help="a name of harness.data.registry.DATASETS ('' = embedded default)")
    p.add_argument("--data-dir", default="", help="folder with the dataset's files")
    p.add_argument("--large", default="", help="large base checkpoint (default: tiny-qwen2 preset)")
    p.add_argument("--small", default="", help="small base checkpoint (default: tiny-qwen2-small preset)")
    p.add_argument("--reference", default="", help="reference checkpoint ('' = fine-tune the small model here)")
    p.add_argument("--noise", type=float, default=None, help="uniform label-noise rate on the training split")
    p.add_argument("--nproc", type=int, default=2, help="processes per stage (torchrun --nproc_per_node)")
    p.add_argument("--seeds", default="", help="training seeds: a count N (seeds 0..N-1) or a list 0,4,7 (one seed: "
                   "7,); default 3 on the embedded default, else 1")
    p.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2", help="ablation: one experiment "
                   "(every seed) per value, e.g. data.noise_rate=0.1,0.3,0.5; repeat for a grid over several keys")
    p.add_argument("--weak-labels", default="", choices=["", "qa4re"], help="qa4re: train on QA4RE zero-shot "
                   "weak labels of the training split instead of uniform noise")
    p.add_argument("--labeller", default="", help="QA4RE model (HF folder or preset; default: model.large)")
    p.add_argument("--qa4re-scoring", default="first-token", choices=["first-token", "sequence"])
    p.add_argument("--train-data", default="gold", choices=["gold", "generated"],
                   help="generated: train on samples written by a generator first (stage generate, gen "
                   "generate); evaluation stays on the real test split")
    p.add_argument("--generator", default="", help="generator model (HF folder or preset; default: model.large)")
    p.add_argument("--gen-config", default=None, help="generation config JSON (harness.recipes.gen.config.GenRunConfig)")
    p.add_argument("--gen-set", action="append", default=[], metavar="KEY=VALUE", help="generation override, "
                   "e.g. gen.candidates_per_step=2")


_CONFIG = dict(config="RunConfig", run_dir="set")
COMMANDS = [
    Command("score", "score the training labels under the frozen models, then the weights -> <run_dir>/weights/",
            score, _score_args, **_CONFIG, dist=True, hooks=("on_batch",),
            restart=("continue the scores made here (also what the same command does by itself)",
                     "delete the scores and weights made here under other settings and score again")),
    Command("train", "train the large model (SFT; ATLANTIS with train.weights_file) -> checkpoints, export",
            train, _train_args, **_CONFIG, ds=True, dist=True, restart=RESUME_EXPLICIT),
    Command("export", "export a training checkpoint as a Hugging Face folder", export, _export_args),
    Command("eval", "run an exported model on a split -> <run_dir>/eval.json (+ predictions.txt)", evaluate,
            _eval_args, **_CONFIG, dist=True),
    Command("compare", "side-by-side table of run folders (macro-F1, official score, delta vs SFT; over seeds: mean, "
            "sd, paired interval)", compare,
            run_dir="many"),
    Command("curves", "learning curves of several runs on one chart", curves, _curves_args, run_dir="many"),
    Command("weights", "weight plots of a run's training split", weights, _weights_args, **_CONFIG),
    Command("semeval-score", "the official SemEval-2010 Task 8 scorer of a predictions file (no model run)",
            semeval_score, _semeval_args),
    Command("experiment", "the whole experiment: [generate | QA4RE labels] -> reference -> score -> SFT and ATLANTIS "
            "-> eval -> table", experiment, _experiment_args, config="RunConfig", ds=True,
            restart=("continue the stages in the run folder (also the default)",
                     "delete the run folder first and run every stage again")),
]
