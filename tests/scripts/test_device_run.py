"""scripts/device_run.sh, the GPU session kit, in its CPU dry-run: every step, every python command line (with
--dry-run), every case of benchmarks/gpu_cases.py, and the packing of $OUT run here, so no syntax, path or config
error is left for the GPU to find."""

import csv
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "device_run.sh"
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_cases  # noqa: E402


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_device_run_is_valid_bash():
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict:
    """Both calls' dry runs, concurrently (call1 packs its CSVs into a tarball: MAX_CSVS=1)."""
    env = {**os.environ, "PYTHON": sys.executable, "DS_ACCELERATOR": "cpu",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    procs = {}
    for call, extra in (("call1", {"MAX_CSVS": "1"}), ("call2", {})):
        out = tmp_path_factory.mktemp(call)
        args = ["bash", str(SCRIPT), "--dry-run", call]
        procs[call] = (out, subprocess.Popen(args, env={**env, **extra, "OUT": str(out)}, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True))
    return {call: (out, p.communicate(timeout=600)[0], p.returncode) for call, (out, p) in procs.items()}


def test_dry_run_call1_exits_0_with_its_files(dry_runs):
    out, output, rc = dry_runs["call1"]
    assert rc == 0, output[-4000:]
    assert sorted(p.name for p in out.iterdir()) == ["device.txt", "device_run_call1.log", "results.tar.gz"]
    log = (out / "device_run_call1.log").read_text()
    for step in ("wheels", "device", "gpu_tests", "kernel", "train15"):
        assert f"step {step} rc=0" in log
    assert "--cases-from gpu:kernel" in log and "--cases-from gpu:train15" in log
    assert "torch " in (out / "device.txt").read_text()
    with tarfile.open(out / "results.tar.gz") as tar:
        csvs = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert sorted(csvs) == ["train_throughput.csv", "weighted_ce.csv"]
    train = _csv(csvs["train_throughput.csv"])
    assert [(r["model"], int(r["micro_batch"]), int(r["seq"])) for r in train] == [
        (c.model, c.micro_batch, c.seq) for c in gpu_cases.TRAIN["train15"]]
    kernel = _csv(csvs["weighted_ce.csv"])
    assert [(int(r["N"]), int(r["H"]), int(r["V"])) for r in kernel] == list(gpu_cases.KERNEL["kernel"].shapes)
    assert all(r["dry_run"] == "plan" for r in train + kernel)


def test_dry_run_call2_runs_the_7b_list(dry_runs):
    out, output, rc = dry_runs["call2"]
    assert rc == 0, output[-4000:]
    assert sorted(p.name for p in out.iterdir()) == ["device.txt", "device_run_call2.log", "train_throughput.csv"]
    rows = _csv((out / "train_throughput.csv").read_text())
    assert [(r["model"], int(r["micro_batch"]), int(r["seq"]), r["activation_checkpointing"]) for r in rows] == [
        (c.model, c.micro_batch, c.seq, "True") for c in gpu_cases.TRAIN["train7"]]
    assert "step gpu_tests" not in (out / "device_run_call2.log").read_text()


def test_merge_refuses_what_a_dry_run_wrote(dry_runs, tmp_path, monkeypatch):
    from benchmarks import merge

    monkeypatch.setattr(merge, "RESULTS", tmp_path)
    for call in ("call1", "call2"):
        with pytest.raises(SystemExit, match="dry-run plan rows"):
            merge.merge([str(dry_runs[call][0])])
    assert list(tmp_path.iterdir()) == []


def test_unknown_call_is_refused(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", "call3"], capture_output=True, text=True,
                          env={**os.environ, "OUT": str(tmp_path)})
    assert proc.returncode == 2 and "unknown call" in proc.stderr
