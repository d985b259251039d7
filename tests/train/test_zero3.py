"""Real 2-process ZeRO-3 runs on CPU (gloo, fp32) against single-process plain-torch runs of the same loss.

One module-scoped set of runs serves every assertion (each 2-rank start costs ~15 s here):
  plain-untied   plain torch, tiny-qwen2 (untied head), micro 4, no weights file (packed: the default)
  plain-padded   as plain-untied with train.packing=false (the padded path)
  plain-tied     plain torch, tiny-qwen2-tied, micro 4
  ds-untied      2 ranks ZeRO-3, micro 2 x GAS 1, weights file of all ones, evaluation on; exports
  ds-tied        2 ranks ZeRO-3, tied head, micro 1 x GAS 2
  ds-killed      as ds-untied, every rank SIGKILLs itself after step 4 (checkpoint at step 3), then --resume
  two-node       torchrun --nnodes 2 (two node ranks on loopback, one process each), as ds-untied
  ds-rows        2 ranks ZeRO-3, micro 2, packed rows of <= 72 tokens (the synthetic examples are 34-40 tokens:
                 some micro-batches are one packed row, others two rows padded to the longest)
Every causal run here packs its micro-batches (train.packing defaults to true), so the ZeRO-3 runs above are packed
2-rank runs checked against packed single-process runs.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from support import cli, free_port, torchrun

from harness.config import load_config
from harness.data.dataset import load_splits
from harness.data.examples import fingerprint
from harness.manifest import write_manifest
from harness.train.sft import train

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "train" / "driver.py"
CPU_DS = ROOT / "ds_configs" / "cpu_test.json"
COMMON = ["data.synthetic_size=40", "data.max_train_examples=16", "data.max_eval_examples=8", "train.epochs=2",
          "train.lr=1e-3", "train.save_every=3", "train.eval_split="]
pytestmark = pytest.mark.slow


def _env() -> dict:
    env = dict(os.environ)
    env.update(DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1",
               TORCH_EXTENSIONS_DIR=str(ROOT / ".venv" / "torch_extensions"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return env


def _torchrun(run_dir: Path, sets: list[str], *extra: str, check: bool = True,
              ds: Path = CPU_DS) -> subprocess.CompletedProcess:
    cmd = torchrun(DRIVER, "--ds", ds, *[f"--set={s}" for s in COMMON + sets + [f"run_dir={run_dir}"]], *extra)
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    if check and out.returncode != 0:
        raise AssertionError(f"torchrun failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}")
    return out


def _two_node(run_dir: Path, sets: list[str]) -> None:
    port = free_port()
    procs = []
    for node in (0, 1):
        cmd = torchrun(DRIVER, "--ds", CPU_DS, *[f"--set={s}" for s in COMMON + sets + [f"run_dir={run_dir}"]],
                       nproc=1, nnodes=2, node_rank=node, port=port)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"two-node torchrun failed:\n{out[-2000:]}\n{err[-6000:]}"


def _metrics(run_dir: Path) -> dict[int, float]:
    """Per-step losses from metrics.jsonl (the last record of a step wins: a resumed run re-logs it)."""
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out[rec["step"]] = rec["loss"]
    return out


def _plain(run_dir: Path, sets: list[str]) -> dict:
    cfg = load_config(None, COMMON + sets + [f"run_dir={run_dir}"])
    out = train(cfg, None)
    return {"losses": out["losses"], "params": {k: v.detach().clone() for k, v in out["engine"].model.state_dict().items()}}


def _exported(run_dir: Path, sub: str = "export") -> dict:
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(str(run_dir / sub), local_files_only=True)
    return m


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("zero3")
    r = {"base": base}
    r["plain_untied"] = _plain(base / "plain_untied", ["train.micro_batch=4"])
    r["plain_padded"] = _plain(base / "plain_padded", ["train.micro_batch=4", "train.packing=false"])
    r["plain_tied"] = _plain(base / "plain_tied", ["model.large=tiny-qwen2-tied", "train.micro_batch=4"])
    # a weights file of all ones for this dataset and template (plain SFT in disguise)
    cfg = load_config(None, COMMON)
    splits = load_splits(cfg.data)
    wdir = base / "weights"
    wdir.mkdir()
    np.ones(len(splits.train), dtype=np.float32).tofile(wdir / "weights.f32")
    write_manifest(wdir / "weights.json", {"dataset_fingerprint": fingerprint(splits.train),
                                           "template_hash": splits.template.hash, "n_examples": len(splits.train)})
    r["weights"] = wdir / "weights.f32"
    ones = [f"train.weights_file={r['weights']}"]
    _torchrun(base / "ds_untied", ones + ["train.micro_batch=2", "train.eval_split=dev"], "--probe",
              str(base / "probe.pt"))
    _torchrun(base / "ds_tied", ["model.large=tiny-qwen2-tied", "train.micro_batch=1", "train.grad_accum=2"])
    killed = _torchrun(base / "ds_killed", ones + ["train.micro_batch=2"], "--kill-after", "4", check=False)
    r["killed_rc"] = killed.returncode
    r["killed_metrics"] = _metrics(base / "ds_killed")
    half = base / "ds_killed" / "checkpoints" / "step6"  # a newer, half-written checkpoint: must be ignored
    half.mkdir()
    (half / "mp_rank_00_model_states.pt").write_bytes(b"truncated")
    _torchrun(base / "ds_killed", ones + ["train.micro_batch=2"], "--resume")
    _two_node(base / "two_node", ["train.micro_batch=1", "train.grad_accum=2"])
    _torchrun(base / "ds_rows", ["train.micro_batch=2", "train.tokens_per_micro_batch=72"])
    return r


def test_packed_plain_run_equals_padded_plain_run(runs):
    torch.testing.assert_close(torch.tensor(runs["plain_untied"]["losses"]),
                               torch.tensor(runs["plain_padded"]["losses"]), rtol=1e-5, atol=1e-6)
    for k, v in runs["plain_padded"]["params"].items():
        torch.testing.assert_close(runs["plain_untied"]["params"][k], v, rtol=1e-4, atol=2e-5, msg=k)


def test_zero3_packed_rows_losses_equal_plain_torch(runs):
    ds = _metrics(runs["base"] / "ds_rows")
    assert len(ds) == 8
    torch.testing.assert_close(torch.tensor([ds[s] for s in sorted(ds)]),
                               torch.tensor(runs["plain_untied"]["losses"]), rtol=1e-5, atol=1e-5)


def test_zero3_untied_losses_and_params_equal_plain_torch(runs):
    ds = _metrics(runs["base"] / "ds_untied")
    torch.testing.assert_close(torch.tensor([ds[s] for s in sorted(ds)]),
                               torch.tensor(runs["plain_untied"]["losses"]), rtol=1e-5, atol=1e-5)
    assert len(ds) == 8
    model = _exported(runs["base"] / "ds_untied")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, runs["plain_untied"]["params"][k], rtol=1e-4, atol=2e-5, msg=k)


def test_zero3_tied_gas2_losses_and_params_equal_plain_torch_micro4(runs):
    ds = _metrics(runs["base"] / "ds_tied")
    torch.testing.assert_close(torch.tensor([ds[s] for s in sorted(ds)]),
                               torch.tensor(runs["plain_tied"]["losses"]), rtol=1e-5, atol=1e-5)
    model = _exported(runs["base"] / "ds_tied")
    assert model.config.tie_word_embeddings
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, runs["plain_tied"]["params"][k], rtol=1e-4, atol=2e-5, msg=k)


def test_zero3_kill9_resume_reproduces_uninterrupted(runs):
    assert runs["killed_rc"] != 0, "the killed run was expected to die"
    assert max(runs["killed_metrics"]) == 4, "the kill happened at step 4 (mid-run)"
    resumed = _metrics(runs["base"] / "ds_killed")
    full = _metrics(runs["base"] / "ds_untied")
    assert sorted(resumed) == sorted(full)
    for s in full:
        assert resumed[s] == pytest.approx(full[s], rel=1e-6, abs=1e-6), s
    latest = (runs["base"] / "ds_killed" / "checkpoints" / "latest").read_text().strip()
    assert latest == "step8"


def test_zero3_export_round_trip_equals_live_model(runs):
    live = torch.load(runs["base"] / "probe.pt")
    ids = torch.arange(3, 23).reshape(2, 10)
    model = _exported(runs["base"] / "ds_untied")
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    torch.testing.assert_close(out, live, rtol=1e-5, atol=1e-5)
    # export from the checkpoint (zero_to_fp32 consolidation) through the CLI gives the same model
    ckpt = runs["base"] / "ds_untied" / "checkpoints"
    out = cli(ROOT / "launch" / "train.py", "export", "--checkpoint", ckpt, "--out",
              runs["base"] / "ds_untied" / "export_ckpt", env=_env())
    assert out.rc == 0, out.stderr[-3000:]
    again = _exported(runs["base"] / "ds_untied", "export_ckpt")
    with torch.no_grad():
        out2 = again(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    torch.testing.assert_close(out2, live, rtol=1e-5, atol=1e-5)


def test_zero3_evaluation_records_written(runs):
    recs = [json.loads(x) for x in (runs["base"] / "ds_untied" / "evals.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [1, 2]
    for r in recs:
        assert r["split"] == "dev" and 0.0 <= r["macro_f1"] <= 1.0 and 0.0 <= r["accuracy"] <= 1.0
        assert "train_loss" in r


def test_two_node_torchrun_agrees_with_one_node(runs):
    two = _metrics(runs["base"] / "two_node")
    plain_losses = runs["plain_untied"]["losses"]
    torch.testing.assert_close(torch.tensor([two[s] for s in sorted(two)]), torch.tensor(plain_losses),
                               rtol=1e-5, atol=1e-5)
    one = _metrics(runs["base"] / "ds_untied")
    torch.testing.assert_close(torch.tensor([two[s] for s in sorted(two)]),
                               torch.tensor([one[s] for s in sorted(one)]), rtol=1e-5, atol=1e-5)


def test_zero2_losses_equal_plain_torch(runs, tmp_path):
    """The same run under ZeRO stage 2 (the CPU test config with the stage changed)."""
    ds = json.loads(CPU_DS.read_text())
    ds["zero_optimization"] = {"stage": 2, "contiguous_gradients": True, "overlap_comm": False}
    path = tmp_path / "zero2.json"
    path.write_text(json.dumps(ds))
    _torchrun(tmp_path / "ds_zero2", ["train.micro_batch=2"], ds=path)
    plain = runs["plain_untied"]["losses"]
    got = _metrics(tmp_path / "ds_zero2")
    np.testing.assert_allclose([got[s] for s in sorted(got)], plain, rtol=1e-5, atol=1e-6)
