"""DPO / IPO on preference pairs (temporary entry point: to be folded into ``launch/gen.py dpo``).

    python launch/dpo.py --set dpo.pairs_file=PAIRS.jsonl [--config run.json] [--set k=v ...] [--resume]
    torchrun --nproc_per_node 2 launch/dpo.py --ds ds_configs/zero3.json --set dpo.pairs_file=...
Scores the reference model once into <run_dir>/dpo_ref (or dpo.ref_scores; resumable, manifest-checked), then
trains model.large with the harness's loop (checkpoints, --resume, export). A wrong input is one line
`error: ...` on stderr and exit status 2 (harness.cli).
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
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. dpo.beta=0.1")
    p.add_argument("--resume", action="store_true", help="continue from <run_dir>/checkpoints/latest (same settings)")
    p.add_argument("--overwrite", action="store_true", help="start the training over (reference scores are kept "
                                                            "when they match)")
    p.add_argument("--no-export", action="store_true", help="skip the final Hugging Face export")
    p.add_argument("--dist-timeout", type=float, default=None, help="process-group timeout, seconds")
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None, on_step=None) -> int:
    a = _parser().parse_args(argv)
    if a.local_rank is not None:
        os.environ.setdefault("LOCAL_RANK", str(a.local_rank))
    from harness import dist, log
    from harness.config import load_config
    from harness.train.dpo import run_dpo

    cfg = load_config(a.config, a.set)
    out = run_dpo(cfg, a.ds, resume=a.resume, overwrite=a.overwrite, dist_timeout_s=a.dist_timeout,
                  export=not a.no_export, on_step=on_step)
    last = f", last step's loss {out['losses'][-1]:.4f}" if out["losses"] else " (nothing left to train)"
    log.info(f"done: {out['steps']} steps{last}, run dir {out['run_dir']}")
    del out  # drop the engine before the process group goes (see harness.dist.destroy)
    dist.destroy()
    return 0


if __name__ == "__main__":
    from harness.cli import run_main

    sys.exit(run_main(main))
