"""dpo: DPO / IPO fine-tuning of the generator on preference pairs (harness.recipes.dpo.objective).

    python -m harness dpo train --pairs runs/gen/pairs.jsonl [--config run.json] [--set dpo.beta=0.1] [--resume]
    torchrun --nproc_per_node 2 -m harness dpo train --ds ds_configs/zero3.json --pairs ...   (under ZeRO-3)

Trains model.large of a harness.config.RunConfig: the reference model is scored once into <run_dir>/dpo_ref
(resumable, manifest-checked), then the harness's loop trains (checkpoints, --resume, export).
"""

from __future__ import annotations

from harness.cli import RESUME_EXPLICIT, Command


def train(args, on_step=None) -> int:
    """``on_step``: a test hook called after each optimizer step (tests/train/dpo_driver.py)."""
    from harness.config import load_config
    from harness.recipes.dpo.objective import run_dpo
    from harness.train.trainer import finish

    sets = args.set + ([f"dpo.pairs_file={args.pairs}"] if args.pairs else [])
    cfg = load_config(args.config, sets)
    out = run_dpo(cfg, args.ds, resume=args.resume, overwrite=args.overwrite, dist_timeout_s=args.dist_timeout,
                  export=not args.no_export, on_step=on_step)
    return finish(out)


def _train_args(p) -> None:
    p.add_argument("--pairs", default="", help="preference pairs JSONL (= --set dpo.pairs_file=; e.g. <gen run>/pairs.jsonl)")
    p.add_argument("--no-export", action="store_true", help="skip the final Hugging Face export")


COMMANDS = [
    Command("train", "DPO / IPO fine-tuning on preference pairs (reference scored once, then the training loop)", train,
            _train_args, config="RunConfig", run_dir="set", ds=True, dist=True, hooks=("on_step",),
            restart=(RESUME_EXPLICIT[0], "start the training over (reference scores are kept when they match)")),
]
