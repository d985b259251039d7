"""LMRC's relation candidate proposal (harness/docre/rcp/), a temporary entry point until launch/docre.py gains
``rcp-train`` / ``rcp-propose``.

    python launch/docre_rcp.py train --config rcp.json [--set epochs=3] [--ds ds_configs/zero2.json]
                                     [--resume | --overwrite]
        trains RCP (RCPConfig: offline default trains on dev minus a held-out part, see harness/docre/rcp/config.py)
        into <run_dir>/rcp/ (checkpoints per epoch, metrics.jsonl, evals.jsonl, best/model.pt)
    python launch/docre_rcp.py propose --config rcp.json [--docs FILE] [--name test]
        tunes the threshold on the tuning documents and writes <run_dir>/rcp/candidates/<name>.jsonl (+ stats)
    torchrun --nproc_per_node 2 launch/docre_rcp.py train --ds ...   trains on 2 ranks (DeepSpeed)
A wrong input is one line `error: ...` on stderr and exit status 2 (harness.cli).
"""

from __future__ import annotations

import argparse
import json

from harness import dist
from harness.cli import input_errors, run_main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the RCP classifier")
    t.add_argument("--ds", default=None, help="DeepSpeed JSON (ZeRO-2/3); plain torch when omitted")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--overwrite", action="store_true")
    pr = sub.add_parser("propose", help="tune the threshold and write a candidates file")
    pr.add_argument("--docs", default="", help="DocRED-format documents (default: propose_file)")
    pr.add_argument("--name", default="test", help="candidates/<name>.jsonl")
    for q in (t, pr):
        q.add_argument("--config", default=None, help="RCPConfig JSON (defaults if omitted)")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from harness.config import load_config
    from harness.docre.rcp.config import RCPConfig, check
    from harness.docre.rcp.stage import rcp_propose
    from harness.docre.rcp.train import RCPTrainer

    args = parse_args(argv)
    cfg = load_config(args.config, args.set, cls=RCPConfig)
    check(cfg)
    if args.cmd == "train":
        trainer = RCPTrainer(cfg, args.ds, resume=args.resume, overwrite=args.overwrite)
        try:
            with input_errors():
                trainer.prepare()
            out = trainer.build().train()
        finally:
            trainer.close()
    else:
        dist.init()
        out = rcp_propose(cfg, docs_path=args.docs, name=args.name)
    if dist.rank() == 0:
        print(json.dumps(out, sort_keys=True))
    dist.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
