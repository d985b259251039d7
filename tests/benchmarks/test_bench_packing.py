"""bench_packing.py at the tiniest size: one row per (phase, layout, order) with both orders in one run, padding
and score agreement sane (no speed
assertions: the machine is shared)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_packing_tiny_rows(tmp_path):
    out = tmp_path / "packing.csv"
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_packing.py"), "--model", "tiny-qwen2",
                           "--dataset", "synthetic", "--max-examples", "64", "--warmup", "1", "--steps", "1",
                           "--order", "both", "--score-examples", "24", "--score-tokens", "128", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["phase"], r["layout"], r["order"]) for r in rows] == [
        ("train", "padded", "harness"), ("train", "packed", "harness"), ("train", "packed_segments", "harness"),
        ("train", "padded", "random"), ("train", "packed", "random"), ("train", "packed_segments", "random"),
        ("score", "padded", ""), ("score", "packed", "")]
    train_pad, train_pack, train_seg = rows[3:6]
    score_pad, score_pack = rows[6:]
    assert float(train_pack["padding"]) == 0.0 < float(train_pad["padding"])  # random order: one row, no padding
    for r in (train_pack, train_seg):
        assert float(r["first_loss"]) == pytest.approx(float(train_pad["first_loss"]), rel=1e-5)
        assert float(r["speedup"]) > 0
    assert {r["attn"] for r in rows[:6]} == {"sdpa", "sdpa_segments"}
    assert float(score_pack["padding"]) <= float(score_pad["padding"])
    assert float(score_pack["max_abs_score_diff"]) < 1e-3
    assert float(score_pack["flop_efficiency"]) > 0 and rows[0]["git"] and rows[0]["device"]
