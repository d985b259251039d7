"""The NCCL twin on CPU: a 2-process default group whose device map routes only ``cuda`` refuses CPU tensors
("No backend type associated with device type cpu") exactly as NCCL does. The harness's collective helpers and the
training loop's step bookkeeping must work under it (they route host values to a gloo host group). The scoring
pass and label ranking run their real 2-rank tests under the same twin (tests/scoring/test_distributed.py,
tests/eval/test_rank.py)."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from support import torchrun

from harness import dist

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("twin")
    env = {**os.environ, "HARNESS_DIST_BACKEND": "cuda:gloo", "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"}
    cmd = torchrun(ROOT / "tests" / "_nccl_twin_worker.py", out)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow
def test_dist_twin_default_group_refuses_cpu_tensors_like_nccl(twin):
    for rec in twin:
        assert rec["backend"] == "cuda:gloo"
        assert "No backend type associated with device type cpu" in rec["raw_all_reduce_cpu"]
        assert "No backend type associated with device type cpu" in rec["raw_barrier"]


@pytest.mark.slow
def test_dist_helpers_work_under_the_twin(twin):
    for rec in twin:
        assert rec["all_reduce_sum"] == [3.0]
        assert rec["all_reduce_max"] == [10]
        assert rec["all_gather_object"] == [{"rank": 0}, {"rank": 1}]
        assert rec["from_main"] == {"rank": 0, "f1": 0.5}


@pytest.mark.slow
def test_dist_step_bookkeeping_under_the_twin_equals_the_global_sums(twin):
    for rec in twin:
        for mode in ("token", "example", "sequence"):
            assert rec[f"z_{mode}"] == rec[f"z_{mode}_expected"] > 0
        assert rec["loss"] == rec["loss_expected"] == 0.75
        assert rec["grad_norm"] == 3.0


def test_dist_helpers_are_identity_for_one_process():
    import torch

    t = torch.tensor([2.0])
    assert dist.all_reduce_sum(t) is t and t.item() == 2.0
    assert dist.all_gather_object("x") == ["x"]
    assert dist.from_main("x") == "x" and dist.on_main(lambda: 3, "three") == 3
    assert dist.host_group() is None
    dist.barrier()


@pytest.mark.slow
def test_dist_init_timeout_bounds_the_host_group_under_the_twin(tmp_path):
    """Issue 22: ``dist.init(timeout_s=3)`` under a default group that refuses CPU tensors (so barriers go to the
    gloo host group): rank 1 stays 20 s away from a barrier; rank 0's barrier must fail on the timeout instead of
    waiting for it (before the fix the host group had gloo's 30-minute default)."""
    env = {**os.environ, "HARNESS_DIST_BACKEND": "cuda:gloo", "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"}
    env.pop("HARNESS_DIST_TIMEOUT_S", None)
    cmd = torchrun(ROOT / "tests" / "_late_barrier_worker.py", tmp_path, "3", "20")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    print(f"rank 0's barrier with rank 1 20 s late, timeout 3 s: {rank0}")
    assert rank0["error"], f"rank 0 waited for the late rank instead of timing out: {rank0}"
