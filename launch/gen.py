"""Generated training samples (harness.gen): one-by-one / batch generation, preference pairs, metrics.

    python launch/gen.py generate --config gen.json --set gen.mode=one-by-one --set gen.k=4
    torchrun --nproc_per_node 2 launch/gen.py generate --config gen.json      (relations split between ranks)
    python launch/gen.py pairs --run-dir runs/gen
    python launch/gen.py metrics --run-dir runs/gen
    python launch/gen.py dpo --pairs runs/gen/pairs.jsonl [--config run.json] [--set dpo.beta=0.1] [--resume]
    torchrun --nproc_per_node 2 launch/gen.py dpo --ds ds_configs/zero3.json --pairs ...   (DPO under ZeRO-3)

generate writes <run_dir>/samples/{train,dev,test}.jsonl (a data.dataset=jsonl folder; test = the real test split),
candidates.jsonl, rejects.jsonl, metrics.json and the manifest (harness.gen.files.GenFiles). It resumes after a
crash (same command); a folder generated under other settings is refused (--overwrite starts it again). With
gen.warmup_epochs > 0 the generator is first fine-tuned on gold generation lines in <run_dir>/warmup (harness.gen.warmup;
--ds: its DeepSpeed config, needed at more than one rank) and generation loads that export.
dpo fine-tunes the generator (model.large of a harness.config.RunConfig) on preference pairs (harness.train.dpo):
the reference model is scored once into <run_dir>/dpo_ref (resumable, manifest-checked), then the harness's loop
trains (checkpoints, --resume, export).
A wrong input is one line `error: ...` on stderr and exit status 2 (harness.cli).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cli import run_main  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate samples (sharded over ranks, resumable)")
    g.add_argument("--config", default=None, help="generation config JSON (harness.gen.config.GenRunConfig)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. gen.k=4")
    g.add_argument("--overwrite", action="store_true", help="delete samples generated here under other settings")
    g.add_argument("--ds", default=None, help="DeepSpeed JSON config of the generator warm-up (gen.warmup_epochs > 0; "
                   "needed at more than one rank; omit for single-process plain torch)")
    g.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    for name, what in (("pairs", "preference pairs -> <run_dir>/pairs.jsonl"),
                       ("metrics", "print the diversity metrics of <run_dir>/metrics.json")):
        s = sub.add_parser(name, help=what)
        s.add_argument("--run-dir", required=True, help="a generate stage's run folder")
    s.add_argument("--verifier", default="", help="an exported HF model folder: its label ranking of the generated "
                   "samples -> label agreement (written into metrics.json)")
    _dpo_parser(sub)
    return p.parse_args(argv)


def _dpo_parser(sub) -> None:
    d = sub.add_parser("dpo", help="DPO / IPO fine-tuning of the generator on preference pairs")
    d.add_argument("--pairs", default="", help="preference pairs JSONL (sets dpo.pairs_file; e.g. <gen run>/pairs.jsonl)")
    d.add_argument("--ds", default=None, help="DeepSpeed JSON config (omit for single-process plain torch)")
    d.add_argument("--config", default=None, help="run config JSON (harness.config.RunConfig)")
    d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. dpo.beta=0.1")
    d.add_argument("--resume", action="store_true", help="continue from <run_dir>/checkpoints/latest (same settings)")
    d.add_argument("--overwrite", action="store_true", help="start the training over (reference scores are kept "
                                                            "when they match)")
    d.add_argument("--no-export", action="store_true", help="skip the final Hugging Face export")
    d.add_argument("--dist-timeout", type=float, default=None, help="process-group timeout, seconds")
    d.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)


def dpo(args, on_step=None) -> None:
    from harness import dist, log
    from harness.config import load_config
    from harness.train.dpo import run_dpo

    if args.local_rank is not None:  # the deepspeed launcher passes --local_rank instead of LOCAL_RANK
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    sets = args.set + ([f"dpo.pairs_file={args.pairs}"] if args.pairs else [])
    cfg = load_config(args.config, sets)
    out = run_dpo(cfg, args.ds, resume=args.resume, overwrite=args.overwrite, dist_timeout_s=args.dist_timeout,
                  export=not args.no_export, on_step=on_step)
    last = f", last step's loss {out['losses'][-1]:.4f}" if out["losses"] else " (nothing left to train)"
    log.info(f"done: {out['steps']} steps{last}, run dir {out['run_dir']}")
    del out  # drop the engine before the process group goes (see harness.dist.destroy)
    dist.destroy()


def main(argv=None, on_step=None) -> int:
    """``on_step``: a test hook called after each loop step of generate (tests/gen) or each DPO optimizer step
    (tests/train/dpo_driver.py); None here."""
    args = parse_args(argv)
    if args.command == "dpo":
        dpo(args, on_step)
    elif args.command == "generate":
        from harness import dist
        from harness.config import load_config
        from harness.gen.config import GenRunConfig
        from harness.gen.stage import generate

        cfg = load_config(args.config, args.set, cls=GenRunConfig)
        generate(cfg, overwrite=args.overwrite, on_step=on_step, ds_path=args.ds)
        dist.destroy()
    elif args.command == "pairs":
        from harness.gen.stage import pairs

        pairs(args.run_dir)
    else:
        from harness.gen.stage import metrics

        metrics(args.run_dir, args.verifier)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
