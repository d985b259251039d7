"""Train (or export) the large model.

    deepspeed --num_gpus G launch/train.py --ds ds_configs/zero3.json [--config run.json] [--set k=v ...] [--resume]
    torchrun --nnodes N --nproc_per_node G --rdzv_backend c10d --rdzv_endpoint HOST:PORT launch/train.py --ds ...
    python launch/train.py --config run.json                   (one process, plain torch, no DeepSpeed)
A run folder holding a training run is refused unless --resume (same settings, checked) or --overwrite.
    python launch/train.py export --checkpoint RUN/checkpoints [--tag stepN] --out DIR

The deepspeed launcher passes ``--local_rank``; torchrun only sets LOCAL_RANK (both end up in the env).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ds", default=None, help="DeepSpeed JSON config (omit for single-process plain torch)")
    p.add_argument("--config", default=None, help="run config JSON (harness.config.RunConfig)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.lr=2e-5")
    p.add_argument("--resume", action="store_true", help="continue from <run_dir>/checkpoints/latest (same settings)")
    p.add_argument("--overwrite", action="store_true", help="start over in a run folder that holds a training run "
                                                            "(deletes its checkpoints, metrics, evals and export)")
    p.add_argument("--no-export", action="store_true", help="skip the final Hugging Face export")
    p.add_argument("--dist-timeout", type=float, default=None, help="process-group timeout, seconds")
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    return p


def _export(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py export")
    p.add_argument("--checkpoint", required=True, help="a run's checkpoints folder")
    p.add_argument("--tag", default=None, help="checkpoint tag (default: the folder's latest)")
    p.add_argument("--out", default=None, help="output folder (default: <checkpoint>/../export-<tag>)")
    a = p.parse_args(argv)
    from harness import log
    from harness.train.checkpoint import latest_tag
    from harness.train.export import export_checkpoint

    ckpt = Path(a.checkpoint)
    tag = a.tag or latest_tag(ckpt)
    out = export_checkpoint(ckpt, a.out or ckpt.parent / f"export-{tag}", tag=tag)
    log.info(f"exported {ckpt / tag} -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        return _export(argv[1:])
    a = _parser().parse_args(argv)
    if a.local_rank is not None:
        os.environ.setdefault("LOCAL_RANK", str(a.local_rank))
    from harness import dist, log
    from harness.cli import input_errors
    from harness.config import load_config
    from harness.train.sft import SFTObjective
    from harness.train.trainer import Trainer

    cfg = load_config(a.config, a.set)
    trainer = Trainer(SFTObjective(cfg), a.ds, resume=a.resume, overwrite=a.overwrite, dist_timeout_s=a.dist_timeout,
                      export=not a.no_export)
    with input_errors():  # a bad config, run folder, data or weights file: one line, exit 2 (harness.cli)
        trainer.prepare()
    trainer.build()
    out = trainer.train()
    last = f", last step's loss {out['losses'][-1]:.4f}" if out["losses"] else " (nothing left to train)"
    log.info(f"done: {out['steps']} steps{last}, run dir {out['run_dir']}")
    del out
    trainer.close()  # drop the engine before the process group goes (see harness.dist.destroy)
    dist.destroy()
    return 0


if __name__ == "__main__":
    from harness.cli import run_main

    sys.exit(run_main(main))
