"""The stages behind `python -m harness gen`: ``generate`` (sharded, resumable) and ``pairs`` (rank 0 only, from the recorded
candidates). Both refuse a run folder whose recorded gen_config.json differs in a field that changes the samples."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from harness import dist, log
from harness.cli import InputError, input_errors
from harness.manifest import iter_jsonl, read_json, read_manifest
from harness.recipes.gen.config import RESULT_SECTIONS, GenRunConfig, check_gen_config
from harness.recipes.gen.files import GenFiles
from harness.recipes.gen.generate import gold_keys, load_states, relation_labels, run_steps
from harness.recipes.gen.output import read_states, write_outputs
from harness.recipes.gen.pairs import build_pairs
from harness.recipes.gen.report import print_metrics
from harness.run import atomic_write_json, atomic_write_jsonl
from harness.runstate import check_settings, claim_run_folder


def result_fields(cfg) -> dict:
    """The settings the samples depend on (harness.config.settings over RESULT_SECTIONS)."""
    from harness.config import settings

    return settings(cfg, RESULT_SECTIONS, cls=GenRunConfig)


def check_folder(files: GenFiles, cfg: GenRunConfig, overwrite: bool) -> None:
    """(rank 0, under the lock) Same settings resume; other settings are refused, or wiped with --overwrite."""
    if overwrite:
        for p in (files.state_dir.parent, files.samples, files.run.data, files.run.tokenizer, files.warmup):
            shutil.rmtree(p, ignore_errors=True)
        for p in (files.candidates, files.rejects, files.metrics, files.pairs):
            p.unlink(missing_ok=True)
    elif files.config.is_file():
        check_settings(result_fields(read_json(files.config, "generation config")), result_fields(cfg),
                       where=files.root, what="samples were generated here under other settings",
                       way_out="run with the same settings (they resume), pass --overwrite, or use another run_dir")
    cfg.dump(files.config)


def _generator(cfg: GenRunConfig, splits, files: GenFiles, labels: list[str], ds_path=None):
    """(model, tokenizer, identity) of the generator: model.large, or its warm-up export (gen.warmup_epochs > 0)."""
    from harness.models.load import build_model, family_of, is_preset, model_identity, resolve_config
    from harness.models.tokenizer import run_tokenizer

    tok = run_tokenizer(cfg.model, splits, files.run.tokenizer)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if family_of(resolve_config(cfg.model.large, len(tok), pad_id=pad, eos_id=tok.eos_token_id)) != "causal":
        raise InputError(f"model.large={cfg.model.large!r} is a seq2seq model; the generator must be causal")
    spec = cfg.model.large
    if cfg.gen.warmup_epochs > 0:
        from harness.recipes.gen.warmup import run_warmup

        shared = cfg.model.tokenizer or (str(files.run.tokenizer) if is_preset(spec) else "")
        spec = str(run_warmup(cfg, splits, labels, files.warmup, shared, ds_path))
    model = build_model(spec, vocab_size=len(tok), dtype=cfg.model.dtype, device=dist.device_for(),
                        attn_impl=cfg.model.attn_impl, seed=cfg.gen.seed, pad_id=pad, eos_id=tok.eos_token_id)
    model.eval()
    return model, tok, model_identity(spec, model.config)


def generate(cfg: GenRunConfig, *, overwrite: bool = False, on_step: Callable[[int], None] | None = None,
             ds_path: str | None = None) -> dict | None:
    """The generate stage on this rank; returns the manifest on rank 0 (None elsewhere). ``ds_path``: the
    DeepSpeed config of the generator warm-up (needed for it at more than one rank; harness.recipes.gen.warmup)."""
    check_gen_config(cfg)
    dist.init()
    files = GenFiles(cfg.run_dir)
    lock = claim_run_folder(files.root, "gen", lambda: check_folder(files, cfg, overwrite))
    try:
        return _generate(cfg, files, on_step, ds_path)
    finally:
        if lock is not None:
            lock.release()


def _generate(cfg: GenRunConfig, files: GenFiles, on_step, ds_path=None) -> dict | None:
    from harness.data.dataset import prepare_splits

    with input_errors():
        splits = prepare_splits(cfg.data, files.run.data, is_writer=dist.rank() == 0, wait=dist.barrier)
    labels = relation_labels(cfg.gen, splits.label_space.labels)
    model, tok, model_id = _generator(cfg, splits, files, labels, ds_path)
    mine = dist.shard_range(len(labels), dist.rank(), dist.world())
    states = load_states(files, labels, mine, splits.train, cfg.gen)
    run_steps(model, tok, states, cfg.gen, files, gold_keys(splits.train), on_step)
    dist.barrier()
    manifest = dist.on_main(lambda: _write_outputs(cfg, splits, files, labels, model_id), "to write the outputs")
    if manifest is not None:
        log.info(f"generated {manifest['counts']} -> {files.samples}")
    return manifest


def _write_outputs(cfg, splits, files: GenFiles, labels, model_id) -> dict:
    """Rank 0: the samples, metrics and manifest from every rank's states (metrics printed even when there are no
    training samples: the InputError that follows stops every rank through ``dist.on_main``)."""
    try:
        return write_outputs(cfg, splits, read_states(files, len(labels)), files, model_id)
    finally:
        if files.metrics.exists():
            print_metrics(read_json(files.metrics, "generation metrics"))


def read_candidates(files: GenFiles) -> list[dict]:
    """The candidates of a complete generate stage (its manifest must exist); errors name file:line."""
    read_manifest(files.manifest)
    out = []
    for lineno, rec in iter_jsonl(files.candidates, "candidates file"):
        if not isinstance(rec, dict) or not {"relation", "step", "prompt", "candidates"} <= set(rec):
            raise ValueError(f"{files.candidates}:{lineno}: not a candidates record (relation, step, prompt, "
                             "candidates)")
        out.append(rec)
    return out


def pairs(run_dir: str) -> dict:
    """Preference pairs of a finished generate stage -> pairs.jsonl; returns the counts."""
    files = GenFiles(run_dir)
    with input_errors():
        recs = read_candidates(files)
    if recs and max(len(r["candidates"]) for r in recs) < 2:
        raise InputError(f"{files.candidates}: every prompt has one candidate (one-by-one at "
                         "gen.candidates_per_step=1, the paper's procedure, or batch at gen.k=1), so no preference pair "
                         "can be formed; generate with gen.candidates_per_step >= 2 (best-of-k) or gen.k >= 2")
    rows, counts = build_pairs(recs)
    atomic_write_jsonl(files.pairs, rows)
    log.info(f"pairs: {counts} -> {files.pairs}")
    return counts


def metrics(run_dir: str, verifier: str = "") -> dict:
    """Print a finished generate stage's metrics; with ``verifier`` (an exported HF folder) first add its label
    agreement on the generated samples to metrics.json. Returns the metrics."""
    from harness.recipes.gen.output import generated_examples
    from harness.recipes.gen.verify import verify

    files = GenFiles(run_dir)
    with input_errors():
        man = read_manifest(files.manifest)
        out = read_json(files.metrics, "generation metrics")
        if verifier:
            model, tok = _verifier(verifier)
    if verifier:
        from harness.data.dataset import read_splits

        splits = read_splits(files.run.data)
        n = len(list(files.state_dir.glob("*.json")))
        examples = generated_examples(read_states(files, n))
        found = verify(model, tok, examples, splits.label_space.labels, splits.template)
        out["verifier"] = {"model": verifier, **found}
        atomic_write_json(files.metrics, out)
    print_metrics(out)
    if "verifier" in out:
        log.info(f"verifier label agreement: {out['verifier']['overall']} ({man['counts']['generated']} generated)")
    return out


def _verifier(path: str):
    from harness.models.load import build_model
    from harness.models.tokenizer import load_tokenizer

    tok = load_tokenizer(path)
    model = build_model(path, dtype="float32", device=dist.device_for())
    return model.eval(), tok
