"""The LLM stage under ZeRO-3 at world size 2 (torchrun, CPU gloo): the pipeline's losses equal the plain-torch
run's with the same global batch, and the 2-rank sharded decoding gives the same generations as one process on the
same model. ~70 s on 2 CPU cores (DeepSpeed start-up dominates)."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from support import load_launch, torchrun

from harness.cli import run_main
from harness.recipes.docre.stage import DocREFiles

ROOT = Path(__file__).resolve().parents[2]
FIX = Path(__file__).parent / "fixtures"
SETS = [f"data.train_file={FIX / 'docs.json'}", f"data.eval_file={FIX / 'docs.json'}",
        f"data.rel_info={FIX / 'rel_info.json'}", f"data.facts={FIX / 'facts_mara.fact'}", "train.epochs=3",
        "train.lr=3e-3", "decode.max_new_tokens=16"]
pytestmark = pytest.mark.slow


def _losses(files: DocREFiles) -> torch.Tensor:
    rows = [json.loads(line) for line in (files.llm / "metrics.jsonl").read_text().splitlines()]
    return torch.tensor([r["loss"] for r in rows], dtype=torch.float64)


def _generations(files: DocREFiles) -> list[str]:
    return [json.loads(line)["generation"] for line in files.generations("docs").read_text().splitlines()]


def test_zero3_two_ranks_matches_plain_torch(tmp_path):
    z3, plain, one = (DocREFiles(tmp_path / n) for n in ("z3", "plain", "one"))
    env = dict(os.environ, DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1",
               TORCH_EXTENSIONS_DIR=os.environ.get("TORCH_EXTENSIONS_DIR", str(ROOT / ".venv" / "torch_extensions")),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = torchrun(ROOT / "launch" / "docre.py", "pipeline", "--ds", ROOT / "ds_configs" / "cpu_test.json",
                   *[f"--set={s}" for s in SETS + [f"run_dir={z3.root}"]])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert out.returncode == 0, f"torchrun failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    mod = load_launch("docre")
    sets = [a for s in SETS + [f"run_dir={plain.root}", "train.micro_batch=2"] for a in ("--set", s)]
    assert run_main(mod.main, ["train-llm", *sets]) == 0  # the same global batch (2) on one process
    torch.testing.assert_close(_losses(z3), _losses(plain), rtol=1e-5, atol=1e-5)
    assert len(_losses(z3)) == 3
    sets = [a for s in SETS + [f"run_dir={one.root}"] for a in ("--set", s)]
    assert run_main(mod.main, ["predict", "--model", str(z3.export), *sets]) == 0
    assert _generations(one) == _generations(z3)
