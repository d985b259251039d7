"""Generated training samples (harness.gen): one-by-one / batch generation, preference pairs, metrics.

    python launch/gen.py generate --config gen.json --set gen.mode=one-by-one --set gen.k=4
    torchrun --nproc_per_node 2 launch/gen.py generate --config gen.json      (relations split between ranks)
    python launch/gen.py pairs --run-dir runs/gen
    python launch/gen.py metrics --run-dir runs/gen

generate writes <run_dir>/samples/{train,dev,test}.jsonl (a data.dataset=jsonl folder; test = the real test split),
candidates.jsonl, rejects.jsonl, metrics.json and the manifest (harness.gen.files.GenFiles). It resumes after a
crash (same command); a folder generated under other settings is refused (--overwrite starts it again).
A wrong input is one line `error: ...` on stderr and exit status 2 (harness.cli).
"""

from __future__ import annotations

import argparse
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
    g.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    for name, what in (("pairs", "preference pairs -> <run_dir>/pairs.jsonl"),
                       ("metrics", "print the diversity metrics of <run_dir>/metrics.json")):
        s = sub.add_parser(name, help=what)
        s.add_argument("--run-dir", required=True, help="a generate stage's run folder")
    s.add_argument("--verifier", default="", help="an exported HF model folder: its label ranking of the generated "
                   "samples -> label agreement (written into metrics.json)")
    return p.parse_args(argv)


def main(argv=None, on_step=None) -> int:
    """``on_step``: a test hook called after each loop step of generate (tests/gen); None here."""
    args = parse_args(argv)
    if args.command == "generate":
        from harness import dist
        from harness.config import load_config
        from harness.gen.config import GenRunConfig
        from harness.gen.stage import generate

        cfg = load_config(args.config, args.set, cls=GenRunConfig)
        generate(cfg, overwrite=args.overwrite, on_step=on_step)
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
