"""bitsandbytes AdamW8bit vs torch AdamW: optimizer-state memory and the effect on the loss curve.

    python benchmarks/bench_optimizer.py [--model tiny-qwen2] [--examples 128] [--epochs 2]

Both runs go through ``harness.train.sft.train`` (plain torch, one process, same data, seed and schedule); only
``train.optimizer`` differs. Measured: the bytes of optimizer state tensors after training (bitsandbytes keeps
tensors under 4096 elements in fp32, so small models save less than the 4x of pure 8-bit state), and the
per-step loss curves (max |diff|, mean relative diff, mean of the last 4 steps). Under DeepSpeed the 8-bit
optimizer is a client optimizer with ``"zero_allow_untested_optimizer": true`` (not with optimizer offload).
Rows append to benchmarks/results/optimizer.csv.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, append_rows, env_stamp  # noqa: E402
from harness import log  # noqa: E402
from harness.config import load_config  # noqa: E402
from harness.train.sft import train  # noqa: E402


def state_bytes(optimizer) -> int:
    return sum(v.numel() * v.element_size() for st in optimizer.state.values() for v in st.values()
               if torch.is_tensor(v))


def run(model: str, examples: int, epochs: int, work: Path) -> dict:
    out = {}
    for opt in ("adamw", "adamw8bit"):
        cfg = load_config(None, [f"model.large={model}", "data.synthetic_size=400",
                                 f"data.max_train_examples={examples}", "train.micro_batch=8",
                                 f"train.epochs={epochs}", "train.lr=1e-3", "train.eval_split=",
                                 f"train.optimizer={opt}", f"run_dir={work / opt}"])
        res = train(cfg, None, export=False)
        out[opt] = {"state_bytes": state_bytes(res["engine"].optimizer), "losses": np.array(res["losses"])}
    return out


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny-qwen2")
    p.add_argument("--examples", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--out", default=str(RESULTS / "optimizer.csv"))
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        res = run(a.model, a.examples, a.epochs, Path(d))
    base, q = res["adamw"], res["adamw8bit"]
    diff = np.abs(base["losses"] - q["losses"])
    stamp = env_stamp("cpu")
    rows = []
    for opt, r in res.items():
        rows.append({**stamp, "model": a.model, "examples": a.examples, "steps": len(r["losses"]),
                     "optimizer": opt, "state_bytes": r["state_bytes"],
                     "state_ratio": round(r["state_bytes"] / base["state_bytes"], 4),
                     "first_loss": round(float(r["losses"][0]), 6),
                     "last4_mean_loss": round(float(r["losses"][-4:].mean()), 6),
                     "max_abs_loss_diff": round(float(diff.max()), 6),
                     "mean_rel_loss_diff": float(np.mean(diff / np.abs(base["losses"])))})
    append_rows(a.out, rows)
    log.table("optimizer state and loss: AdamW8bit vs AdamW", list(rows[0])[-8:],
              [list(r.values())[-8:] for r in rows])
    return rows


if __name__ == "__main__":
    main()
