"""Scoring stage: per-example label log-likelihoods under the frozen models, then the ATLANTIS weights.

    python launch/score.py --config run.json --set scoring.tokens_per_batch=2048
    torchrun --nproc_per_node 2 launch/score.py --config run.json          (also multi-node torchrun)
    deepspeed --num_gpus 2 launch/score.py --config run.json               (--local_rank is accepted, ignored)

Writes <run_dir>/score_config.json, <run_dir>/tokenizer (tiny presets), <run_dir>/<scoring.out_dir>/ (score
memmaps + manifest; resumable: run the same command again after a crash) and <run_dir>/weights/ (weights.f32,
weights.json, weights_stats.json) when every model the weight formula needs has been scored.
Multi-node: every node writes rows of the same memmaps, so run_dir must be on a filesystem all nodes share.
A wrong input (config, --set, data files) is one line `error: ...` on stderr and exit status 2 (harness.cli).
"""

from __future__ import annotations

import argparse
import shutil

from harness import dist
from harness.cli import input_errors, run_main
from harness.config import load_config
from harness.log import info
from harness.models.tokenizer import run_tokenizer
from harness.run import RunDir
from harness.runstate import check_same_config, claim_run_folder
from harness.scoring.score import OnBatch, role_names, run_scoring
from harness.scoring.weights import missing_roles, print_stats, write_weights


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="run config JSON (defaults if omitted)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. data.dataset=x")
    p.add_argument("--skip-weights", action="store_true", help="score only; do not write weights")
    p.add_argument("--overwrite", action="store_true", help="delete scores and weights made under other settings")
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None, on_batch: OnBatch | None = None) -> int:
    """``on_batch``: a test hook passed to ``run_scoring`` (tests/scoring/_score_driver.py); None here."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.set)
    dist.init()
    run = RunDir(cfg.run_dir, cfg.scoring.out_dir)
    lock = claim_run_folder(run.root, "score", lambda: _check_folder(run, cfg, args.overwrite))
    from harness.data.dataset import prepare_splits

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


def _check_folder(run: RunDir, cfg, overwrite: bool) -> None:
    """(rank 0, under the folder's lock) Scores made under other settings are refused (same settings resume
    them), or deleted with --overwrite; then this run's settings are recorded."""
    if overwrite:
        for d in (run.scores, run.weights_dir):
            shutil.rmtree(d, ignore_errors=True)
    elif run.score_config.is_file():
        check_same_config(run.score_config, cfg, "score", what="the scores in this folder",
                          way_out="score with the same settings (they resume), or pass --overwrite to score again")
    cfg.dump(run.score_config)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
