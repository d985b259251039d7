"""launch/gen.py generate at world size 2 (torchrun, CPU, the NCCL twin: HARNESS_DIST_BACKEND=cuda:gloo) writes
the same files as at world size 1: relations are split between the ranks, each completion is drawn with its own
seeded generator."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import torchrun

ROOT = Path(__file__).resolve().parents[2]
SETS = ["data.synthetic_size=24", "gen.relations=Works_For,Lives_In,Causes", "gen.samples_per_relation=2",
        "gen.candidates_per_step=2", "gen.max_steps=2", "gen.max_new_tokens=8", "gen.seed_gold=1",
        "gen.gold_per_relation=1"]
FILES = ["candidates.jsonl", "rejects.jsonl", "metrics.json", "samples/train.jsonl", "samples/test.jsonl"]


def run(run_dir: Path, world: int) -> dict[str, bytes]:
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "HARNESS_DIST_TIMEOUT_S": "120", "HARNESS_DIST_BACKEND": "cuda:gloo", "OMP_NUM_THREADS": "1"}
    args = ["launch/gen.py", "generate", "--set", f"run_dir={run_dir}"]
    for s in SETS:
        args += ["--set", s]
    cmd = [sys.executable, *args] if world == 1 else torchrun(*args, nproc=world)
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return {f: (run_dir / f).read_bytes() for f in FILES}


@pytest.mark.slow
def test_generate_world_size_2_equals_world_size_1(tmp_path):
    one = run(tmp_path / "w1", 1)
    two = run(tmp_path / "w2", 2)
    for name in FILES:
        assert two[name] == one[name], f"{name} differs between world size 1 and 2"
    assert b"Causes" in one["candidates.jsonl"]  # the second rank's relation is there
