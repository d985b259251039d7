"""Test driver run under torchrun: train() on the synthetic set with ``--set`` overrides; optional self-kill
(SIGKILL on every rank after step N, i.e. kill -9 mid-run) and a dump of the live model's logits."""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness import dist  # noqa: E402
from harness.config import load_config  # noqa: E402
from harness.train.sft import train  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--ds", default=None)
p.add_argument("--set", action="append", default=[])
p.add_argument("--resume", action="store_true")
p.add_argument("--kill-after", type=int, default=0)
p.add_argument("--probe", default=None, help="write the live model's logits on a fixed batch here (rank 0)")
a = p.parse_args()


def hook(rec):
    if a.kill_after and rec["step"] == a.kill_after:
        os.kill(os.getpid(), signal.SIGKILL)


cfg = load_config(None, a.set)
out = train(cfg, a.ds, resume=a.resume, dist_timeout_s=60, on_step=hook)
if a.probe:
    ids = torch.arange(3, 23).reshape(2, 10)
    with torch.no_grad():
        logits = out["engine"].model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    if dist.rank() == 0:
        torch.save(logits, a.probe)
if dist.rank() == 0:
    Path(cfg.run_dir, "losses.json").write_text(json.dumps(out["losses"]))
del out  # the engine must not live until interpreter finalization (see harness.dist.destroy)
dist.destroy()
