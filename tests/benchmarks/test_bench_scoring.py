"""bench_scoring.py at the tiniest size: rows with sane columns, the pass checked against the seed loop (no speed
assertions: the machine is shared)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_scoring  # noqa: E402


def test_parse_models_overrides_roles():
    assert bench_scoring.parse_models("") == bench_scoring.MODELS
    got = bench_scoring.parse_models("large=qwen2-0.5b-shape")
    assert got == {**bench_scoring.MODELS, "large": "qwen2-0.5b-shape"}
    for bad in ("huge=tiny-qwen2", "large", "large="):
        with pytest.raises(ValueError, match="ROLE=PRESET"):
            bench_scoring.parse_models(bad)


def test_bench_scoring_tiny_rows(tmp_path):
    out = tmp_path / "scoring.csv"
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_scoring.py"), "--size", "40",
                           "--seed-examples", "4", "--big-vocab", "0", "--no-scaling", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["mode"] for r in rows] == ["seed_loop", "pass"]
    seed, ps = rows
    assert seed["dtype"] == ps["dtype"] == "float32" and "tiny-qwen2" in ps["models"]
    assert int(seed["examples"]) == 4 and int(ps["examples"]) > 4
    assert float(ps["examples_per_s"]) == pytest.approx(int(ps["examples"]) / float(ps["seconds"]), rel=0.01)
    assert float(ps["speedup_vs_seed"]) == pytest.approx(
        float(ps["examples_per_s"]) / float(seed["examples_per_s"]), rel=0.01)
    assert float(ps["note"].split("=")[1].split()[0]) <= 1e-3  # max |seed - pass| in nats
