"""qa4re: zero-shot relation extraction as multiple-choice QA (harness/recipes/qa4re/).

    python -m harness qa4re eval --config run.json [--run-dir DIR] [--model DIR_OR_PRESET] [--split test]
                                 [--prompting qa4re|vanilla] [--subset full|reference]
        scores every example of the split; writes <run_dir>/qa4re/<split>.predictions.jsonl (options, per-option
        scores, prediction, gold) and <split>.metrics.json (closed-set micro P/R/F1 without NoTA, accuracy, the
        SemEval official score when 19-way).
    python -m harness qa4re label --config run.json [--model ...] [--out weak_labels.jsonl]
        labels the training split; writes the weak-labels file harness.data.noise reads (data.weak_labels), with
        the option scores as confidence (default <run_dir>/qa4re/weak_labels.jsonl), plus train.* as eval does.
    torchrun --nproc_per_node 2 -m harness qa4re ...   shards the examples over ranks (same results).

--model: an exported / local Hugging Face folder, or a preset (default: model.large). --prompting: qa4re (the
multiple-choice question, default) or vanilla (the paper's vanilla-RE baseline: the relation names listed, the
model answers with one). --scoring: first-token (log p of the answer's first token, one forward per batch; the
qa4re default), sequence (answer + EOS) or greedy (the reference's constrained greedy decoding; the vanilla
default). --subset reference: the reference's evaluation subsets (1,000 test / 250 dev, seed 42; see stage.py).
--shuffle-seed shuffles each example's options (to measure option-position bias). Re-TACRED: --set
data.dataset=tacred --set data.label_space=retacred; TACREV is TACRED's format and label space.
"""

from __future__ import annotations

from pathlib import Path

from harness.cli import Command, InputError, input_errors


def load_model(cfg, spec: str, splits, run):
    """(model, tokenizer): a preset uses the run's tokenizer (harness.models.tokenizer.run_tokenizer), a folder its
    own (or model.tokenizer when set)."""
    from harness import dist
    from harness.models.load import build_model, is_preset
    from harness.models.tokenizer import load_tokenizer, run_tokenizer

    if is_preset(spec) or cfg.model.tokenizer:
        tok = run_tokenizer(cfg.model, splits, run.tokenizer)
    elif (Path(spec) / "config.json").is_file():
        tok = load_tokenizer(spec)
    else:
        raise InputError(f"--model {spec}: neither a preset nor a Hugging Face model folder (no config.json)")
    model = build_model(spec, vocab_size=len(tok), dtype=cfg.model.dtype, device=dist.device_for(),
                        attn_impl=cfg.model.attn_impl, pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
    return model, tok


def run_command(args) -> int:
    from harness import dist
    from harness.config import load_config
    from harness.run import RunDir
    from harness.runstate import claim_run_folder

    cfg = load_config(args.config, args.set)
    if args.cmd == "label" and cfg.data.weak_labels:
        raise InputError("qa4re label writes the weak labels: run it without data.weak_labels")
    run = RunDir(cfg.run_dir)
    split = "train" if args.cmd == "label" else args.split
    dist.init()
    lock = claim_run_folder(run.root, "qa4re", lambda: None)  # one stage at a time in a run folder (RunFolderBusy)
    try:
        _run(args, cfg, run, split)
    finally:
        if lock is not None:
            lock.release()
    dist.barrier()
    dist.destroy()
    return 0


def _run(args, cfg, run, split: str) -> None:
    from harness import dist, log
    from harness.data.dataset import prepare_splits
    from harness.recipes.qa4re import stage
    from harness.recipes.qa4re.prompts import qa_set_for
    from harness.recipes.qa4re.types import entity_types
    from harness.run import atomic_write_json

    with input_errors():  # data readers (file:line), a label space without QA4RE templates
        splits = prepare_splits(cfg.data, run.data, is_writer=dist.rank() == 0, wait=dist.barrier)
        examples = getattr(splits, split)
        if not examples:
            raise InputError(f"split {split!r} of data.dataset={cfg.data.dataset} is empty")
        examples = stage.subset_examples(examples, split, args.subset)
        qa_set_for(splits.label_space.name)
        types = None if args.no_type_constraints else entity_types(cfg.data)
    scoring = args.scoring or ("first-token" if args.prompting == "qa4re" else "greedy")
    model, tok = load_model(cfg, args.model or cfg.model.large, splits, run)
    with input_errors():  # a tokenizer whose answers share a first token under first-token scoring
        qa, records = stage.score_examples(model, tok, examples, splits.label_space, mode=scoring,
                                     batch_examples=args.batch_examples, shuffle_seed=args.shuffle_seed,
                                     types=types, prompting=args.prompting)
    if dist.rank() == 0:
        metrics = stage.records_metrics(records, qa, splits.label_space)
        metrics.update(split=split, model=args.model or cfg.model.large, scoring=scoring, prompting=args.prompting,
                       subset=args.subset, shuffle_seed=args.shuffle_seed, qa_set=qa.name, label_space=splits.label_space.name,
                       type_constraints=types is not None)
        stage.write_rows(run.qa4re.predictions(split), records)
        atomic_write_json(run.qa4re.metrics(split), metrics)
        m = metrics["micro"]
        log.table(f"QA4RE {split} ({args.prompting}, {scoring}, {args.subset})",
                  ["n", "micro P", "micro R", "micro F1", "accuracy", "official %"],
                  [[metrics["n"], m["precision"], m["recall"], m["f1"], metrics["accuracy"],
                    "-" if metrics["official"] is None else metrics["official"]]])
        log.info(f"predictions -> {run.qa4re.predictions(split)}; metrics -> {run.qa4re.metrics(split)}")
        if args.cmd == "label":
            out = Path(args.out) if args.out else run.qa4re.weak_labels
            stage.write_rows(out, [stage.weak_label_row(r, splits.label_space) for r in records])
            log.info(f"weak labels -> {out} (use: --set data.weak_labels={out})")


def _common(p) -> None:
    p.add_argument("--model", default="", help="HF model folder or preset (default: model.large)")
    p.add_argument("--prompting", default="qa4re", choices=["qa4re", "vanilla"],
                   help="qa4re: the multiple-choice question; vanilla: the paper's vanilla-RE prompt (relation names)")
    p.add_argument("--scoring", default=None, choices=["first-token", "sequence", "greedy"],
                   help="default: first-token (qa4re), greedy (vanilla: the reference's constrained decoding)")
    p.add_argument("--batch-examples", type=int, default=8, help="questions per forward batch")
    p.add_argument("--shuffle-seed", type=int, default=None, help="shuffle each example's options (seeded)")
    p.add_argument("--no-type-constraints", action="store_true", help="offer every relation (TACRED, CoNLL04 "
                   "otherwise offer only those the entity types allow, read from the dataset files)")


def _eval_args(p) -> None:
    p.add_argument("--split", default="test", choices=["train", "dev", "test"])
    p.add_argument("--subset", default="full", choices=["full", "reference"],
                   help="reference: the reference code's evaluation subsets (1,000 test / 250 dev, seed 42)")
    _common(p)


def _label_args(p) -> None:
    p.add_argument("--out", default="", help="weak-labels file (default <run_dir>/qa4re/weak_labels.jsonl)")
    p.set_defaults(subset="full")  # weak labels cover the whole training split
    _common(p)


COMMANDS = [
    Command("eval", "zero-shot QA4RE on a split -> <run_dir>/qa4re/<split>.{predictions.jsonl,metrics.json}",
            run_command, _eval_args, config="RunConfig", run_dir="set", dist=True),
    Command("label", "weak labels for the training split -> <run_dir>/qa4re/weak_labels.jsonl (+ train metrics)",
            run_command, _label_args, config="RunConfig", run_dir="set", dist=True),
]
