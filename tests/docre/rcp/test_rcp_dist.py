"""RCP under DeepSpeed at world size 2 (torchrun, gloo, ZeRO-3 CPU config) trains like the plain 1-rank engine
with the same global batch: the same step losses, tuning figures and best weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import torchrun

from harness.config import load_config
from harness.recipes.docre.config import DocREConfig
from harness.recipes.docre.rcp.config import RCPFiles
from harness.recipes.docre.rcp.train import rcp_train

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "docre" / "fixtures" / "docs.json"
CPU_DS = ROOT / "ds_configs" / "cpu_test.json"
pytestmark = pytest.mark.slow


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.executable).parents[1] / "torch_extensions"))
    env.update(DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1", HARNESS_DIST_TIMEOUT_S="120",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return env


def _sets(run: Path, batch_docs: int) -> list[str]:
    f = str(FIXTURE)
    return [f"run_dir={run}"] + [f"rcp.{x}" for x in (
        f"dev_file={f}", f"train_file={f}", f"propose_file={f}", "emb_size=16", "block_size=4", "max_len=24",
        "max_doc_len=40", f"batch_docs={batch_docs}", "epochs=3", "log_every=1", "lr=1e-3", "head_lr=1e-3",
        "warmup_ratio=0")]


def _records(path: Path) -> list[dict]:
    out = [json.loads(x) for x in path.read_text().splitlines()]
    for r in out:
        r.pop("step_time_s", None)
    return out


def test_two_ranks_zero3_equal_one_rank_plain(tmp_path):
    plain = load_config(None, _sets(tmp_path / "plain", 2), cls=DocREConfig)
    rcp_train(plain)
    cmd = torchrun(ROOT / "launch" / "docre.py", "rcp-train", "--ds", CPU_DS,
                   *[a for s in _sets(tmp_path / "ds", 1) for a in ("--set", s)])
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert out.returncode == 0, f"torchrun failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    a, b = RCPFiles(tmp_path / "plain"), RCPFiles(tmp_path / "ds")
    ma, mb = _records(a.metrics), _records(b.metrics)
    assert [r["step"] for r in ma] == [r["step"] for r in mb] == [1, 2, 3]
    for ra, rb in zip(ma, mb):
        assert ra["pairs"] == rb["pairs"] and ra["loss"] == pytest.approx(rb["loss"], rel=1e-5, abs=1e-6)
        assert ra["grad_norm"] == pytest.approx(rb["grad_norm"], rel=1e-4)
    ea, eb = _records(a.evals), _records(b.evals)
    assert [(r["epoch"], r["proposed"], r["best"]) for r in ea] == [(r["epoch"], r["proposed"], r["best"]) for r in eb]
    wa = torch.load(a.best_model, weights_only=True)["model"]
    wb = torch.load(b.best_model, weights_only=True)["model"]
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wb[k].float(), wa[k].float(), rtol=1e-4, atol=1e-5, msg=k)
