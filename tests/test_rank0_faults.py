"""Issue 22: rank-0-only work that fails just before a collective must end every rank, not leave the others in
the collective until the timeout. Each case runs a real entry point as 2 plain processes under the NCCL twin with
a failure injected on rank 0 at one such place (tests/_rank0_fault_worker.py) and a 30 s collective timeout:
rank 1 must end with an error naming rank 0's failure (before the fix it ended with gloo's timeout after 30 s)."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from support import free_port

from harness.run import atomic_write_jsonl

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 30  # the collective timeout of the runs (HARNESS_DIST_TIMEOUT_S)
SCORE = ["launch/score.py", "--set", "data.dataset=synthetic", "--set", "data.synthetic_size=24", "--set",
         "model.reference=tiny-t5", "--set", "model.dtype=float32"]
GEN = ["launch/gen.py", "generate", "--set", "data.synthetic_size=24", "--set", "gen.relations=Works_For,Lives_In",
       "--set", "gen.samples_per_relation=1", "--set", "gen.candidates_per_step=2", "--set", "gen.max_steps=1", "--set",
       "gen.max_new_tokens=4", "--set", "gen.seed_gold=1", "--set", "gen.gold_per_relation=1"]
DPO = ["launch/gen.py", "dpo", "--ds", "ds_configs/zero3.json", "--set", "train.micro_batch=2", "--set", "train.epochs=1"]


def _pairs(path: Path) -> Path:
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "ran", "far"]
    atomic_write_jsonl(path, [{"id": f"p{i}", "prompt": f"Write about e{i}:", "relation": "Other", "rule": "crafted",
                               "chosen": " ".join(rng.choice(words) for _ in range(4)),
                               "rejected": " ".join(rng.choice(words) for _ in range(3))} for i in range(8)])
    return path


def run_two(tmp: Path, target: str, args: list[str]) -> list[dict]:
    port = free_port()
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "HARNESS_DIST_BACKEND": "cuda:gloo", "HARNESS_DIST_TIMEOUT_S": str(TIMEOUT_S),
               "DS_ACCELERATOR": "cpu", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, str(ROOT / "tests" / "_rank0_fault_worker.py"), str(tmp), target, *args,
               "--set", f"run_dir={tmp / 'run'}"]
        procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    try:
        logs = [p.communicate(timeout=TIMEOUT_S + 240)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    recs = []
    for rank in (0, 1):
        f = tmp / f"rank{rank}.json"
        assert f.exists(), f"rank {rank} wrote no record:\n{logs[rank][-3000:]}"
        recs.append(json.loads(f.read_text()))
    print(f"\n{target}: rank 0 {recs[0]}\n{target}: rank 1 {recs[1]}")
    return recs


CASES = {
    "score: scores folder preparation": ("harness.recipes.atlantis.scoring.store:prepare", SCORE),
    "score: the after-pass check": ("harness.recipes.atlantis.scoring.score:check_all_scored", SCORE),
    "gen: writing the outputs": ("harness.recipes.gen.stage:write_outputs", GEN),
    "dpo: reference folder preparation": ("harness.recipes.atlantis.scoring.store:prepare", DPO),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_rank0_failure_ends_both_ranks(tmp_path, case):
    target, args = CASES[case]
    if args is DPO:
        args = [*args, "--set", f"dpo.pairs_file={_pairs(tmp_path / 'pairs.jsonl')}"]
    r0, r1 = run_two(tmp_path, target, args)
    assert "injected rank-0 failure" in r0["error"], r0
    assert "rank 0 failed" in r1["error"] and "injected rank-0 failure" in r1["error"], r1
