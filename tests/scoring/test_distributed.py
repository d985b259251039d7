"""The real entry point at world size 1 and 2 (torchrun, CPU fp32): bitwise identical arrays, and bitwise
identical after kill -9 (one rank, or every rank) + restart. Multi-rank runs use the NCCL twin: a default group
whose device map routes only ``cuda`` (``HARNESS_DIST_BACKEND=cuda:gloo``) refuses CPU tensors as NCCL does."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import torchrun

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--set", "data.dataset=synthetic", "--set", "data.synthetic_size=48", "--set", "model.reference=tiny-t5",
        "--set", "scoring.tokens_per_batch=160", "--set", "model.dtype=float32"]
FILES = [f"{m}.{ext}" for m in ("large", "small", "reference") for ext in ("f32", "ntok.i32", "done.u8")]


def run(run_dir: Path, world: int, kill: str = "", expect_ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "HARNESS_DIST_TIMEOUT_S": "120", "HARNESS_DIST_BACKEND": "cuda:gloo"}
    env.pop("HARNESS_SCORING_KILL_AFTER", None)
    if kill:
        env["HARNESS_SCORING_KILL_AFTER"] = kill
    script = [str(ROOT / "tests" / "scoring" / "_score_driver.py"), "--set", f"run_dir={run_dir}", *ARGS]
    if world == 1:
        cmd = [sys.executable, *script]
    else:
        cmd = torchrun(*script, nproc=world)
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if expect_ok:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    else:
        assert out.returncode != 0, "the kill hook did not fire"
    return out


def arrays(run_dir: Path) -> dict[str, bytes]:
    d = run_dir / "scores"
    out = {f: (d / f).read_bytes() for f in FILES}
    out["weights"] = (run_dir / "weights" / "weights.f32").read_bytes()
    return out


def _done_fraction(run_dir: Path) -> float:
    done = [np.fromfile(run_dir / "scores" / f, dtype=np.uint8) for f in FILES if f.endswith("done.u8")
            if (run_dir / "scores" / f).exists()]
    return float(np.concatenate(done).mean()) if done else 0.0


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("w1")
    run(d, 1)
    a = arrays(d)
    scores = np.frombuffer(a["large.f32"], dtype=np.float32)
    assert scores.size > 30 and np.isfinite(scores).all()
    return a


def assert_bitwise_equal(reference: dict, run_dir, when: str) -> None:
    got = arrays(run_dir)
    for name in reference:
        assert got[name] == reference[name], f"{name} differs {when}"


@pytest.mark.slow
def test_world_size_2_bitwise_equals_world_size_1(reference_run, tmp_path):
    run(tmp_path, 2)
    assert_bitwise_equal(reference_run, tmp_path, "between world size 1 and 2")


@pytest.mark.slow
def test_kill9_one_rank_then_resume_is_bitwise_identical(reference_run, tmp_path):
    run(tmp_path, 2, kill="2:1", expect_ok=False)  # rank 1 SIGKILLs itself after 2 batches (scores written, not done)
    frac = _done_fraction(tmp_path)
    assert 0.0 < frac < 1.0, frac
    run(tmp_path, 2)
    assert_bitwise_equal(reference_run, tmp_path, "after kill -9 + resume")


@pytest.mark.slow
def test_kill9_all_ranks_twice_then_resume_at_other_world_size(reference_run, tmp_path):
    run(tmp_path, 2, kill="1", expect_ok=False)  # every rank dies after its first batch
    first = _done_fraction(tmp_path)
    run(tmp_path, 1, kill="3", expect_ok=False)  # restart single-process, killed again
    assert first < _done_fraction(tmp_path) < 1.0
    run(tmp_path, 1)
    assert_bitwise_equal(reference_run, tmp_path, "after repeated kill -9 + resume")
