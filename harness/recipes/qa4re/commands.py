"""qa4re: zero-shot relation extraction as multiple-choice QA (harness/recipes/qa4re/).

    python -m harness qa4re eval --config run.json [--run-dir DIR] [--model DIR_OR_PRESET] [--split test]
        scores every example of the split; writes <run_dir>/qa4re/<split>.predictions.jsonl (options, per-option
        scores, prediction, gold) and <split>.metrics.json (closed-set micro P/R/F1 without NoTA, accuracy, the
        SemEval official score when 19-way).
    python -m harness qa4re label --config run.json [--model ...] [--out weak_labels.jsonl]
        labels the training split; writes the weak-labels file harness.data.noise reads (data.weak_labels), with
        the option scores as confidence (default <run_dir>/qa4re/weak_labels.jsonl), plus train.* as eval does.
    torchrun --nproc_per_node 2 -m harness qa4re ...   shards the examples over ranks (same results).

--model: an exported / local Hugging Face folder, or a preset (default: model.large). --scoring: first-token
(log p of the option letter after "Option:", one forward per batch) or sequence (letter + EOS). --shuffle-seed
shuffles each example's options (to measure option-position bias).
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
    from harness.recipes.qa4re.stage import records_metrics, score_examples, weak_label_row, write_rows
    from harness.run import atomic_write_json

    with input_errors():  # data readers (file:line), a label space without QA4RE templates
        splits = prepare_splits(cfg.data, run.data, is_writer=dist.rank() == 0, wait=dist.barrier)
        examples = getattr(splits, split)
        if not examples:
            raise InputError(f"split {split!r} of data.dataset={cfg.data.dataset} is empty")
        from harness.recipes.qa4re.prompts import qa_set_for

        qa_set_for(splits.label_space.name)
        from harness.recipes.qa4re.types import entity_types

        types = None if args.no_type_constraints else entity_types(cfg.data)
    model, tok = load_model(cfg, args.model or cfg.model.large, splits, run)
    qa, records = score_examples(model, tok, examples, splits.label_space, mode=args.scoring,
                                 batch_examples=args.batch_examples, shuffle_seed=args.shuffle_seed, types=types)
    if dist.rank() == 0:
        metrics = records_metrics(records, qa, splits.label_space)
        metrics.update(split=split, model=args.model or cfg.model.large, scoring=args.scoring,
                       shuffle_seed=args.shuffle_seed, qa_set=qa.name, label_space=splits.label_space.name,
                       type_constraints=types is not None)
        write_rows(run.qa4re.predictions(split), records)
        atomic_write_json(run.qa4re.metrics(split), metrics)
        m = metrics["micro"]
        log.table(f"QA4RE {split} ({args.scoring})", ["n", "micro P", "micro R", "micro F1", "accuracy", "official %"],
                  [[metrics["n"], m["precision"], m["recall"], m["f1"], metrics["accuracy"],
                    "-" if metrics["official"] is None else metrics["official"]]])
        log.info(f"predictions -> {run.qa4re.predictions(split)}; metrics -> {run.qa4re.metrics(split)}")
        if args.cmd == "label":
            out = Path(args.out) if args.out else run.qa4re.weak_labels
            write_rows(out, [weak_label_row(r, splits.label_space) for r in records])
            log.info(f"weak labels -> {out} (use: --set data.weak_labels={out})")


def _common(p) -> None:
    p.add_argument("--model", default="", help="HF model folder or preset (default: model.large)")
    p.add_argument("--scoring", default="first-token", choices=["first-token", "sequence"])
    p.add_argument("--batch-examples", type=int, default=8, help="questions per forward batch")
    p.add_argument("--shuffle-seed", type=int, default=None, help="shuffle each example's options (seeded)")
    p.add_argument("--no-type-constraints", action="store_true", help="offer every relation (TACRED, CoNLL04 "
                   "otherwise offer only those the entity types allow, read from the dataset files)")


def _eval_args(p) -> None:
    p.add_argument("--split", default="test", choices=["train", "dev", "test"])
    _common(p)


def _label_args(p) -> None:
    p.add_argument("--out", default="", help="weak-labels file (default <run_dir>/qa4re/weak_labels.jsonl)")
    _common(p)


COMMANDS = [
    Command("eval", "zero-shot QA4RE on a split -> <run_dir>/qa4re/<split>.{predictions.jsonl,metrics.json}",
            run_command, _eval_args, config="RunConfig", run_dir="set", dist=True),
    Command("label", "weak labels for the training split -> <run_dir>/qa4re/weak_labels.jsonl (+ train metrics)",
            run_command, _label_args, config="RunConfig", run_dir="set", dist=True),
]
