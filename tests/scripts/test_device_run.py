"""scripts/device_run.sh, the GPU session kit: its plan against the device budget, and its CPU dry-run (every step,
every python command line with --dry-run, every case of benchmarks/gpu_cases.py, the packing of $OUT) run here, so
no syntax, path, config or budget error is left for the GPU to find."""

import csv
import io
import os
import re
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


DEVICE_BUDGET_S = 900  # the device tool: 15 minutes of device time per session, start-up included
STARTUP_S = 180  # allowance per machine start
MAX_CALL_S = 600  # at most 10 minutes per command


def test_plan_fits_the_device_budget():
    """``--plan``: every call's timeout_s within a command's limit, and the total (a start-up allowance per
    machine start + every call's timeout_s) within the session's device time."""
    proc = subprocess.run(["bash", str(SCRIPT), "--plan"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(proc.stdout)
    timeouts = [int(t) for t in re.findall(r"timeout_s=(\d+)", proc.stdout)]
    starts = int(re.search(r"machine starts: (\d+) x (\d+) s", proc.stdout).group(1))
    assert timeouts and all(t <= MAX_CALL_S for t in timeouts)
    total = starts * STARTUP_S + sum(timeouts)
    assert f"total: {STARTUP_S} + {' + '.join(map(str, timeouts))} = {total} s of {DEVICE_BUDGET_S} s" in proc.stdout
    assert total <= DEVICE_BUDGET_S
    assert starts == len(timeouts) == 1  # a second call could need a second start: 180 + 240 s more


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict:
    """The one call's dry run, twice concurrently: as on the GPU, and packing its CSVs into a tarball
    (MAX_CSVS=1)."""
    env = {**os.environ, "PYTHON": sys.executable, "DS_ACCELERATOR": "cpu",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    procs = {}
    for name, extra in (("packed", {"MAX_CSVS": "1"}), ("loose", {})):
        out = tmp_path_factory.mktemp(name)
        args = ["bash", str(SCRIPT), "--dry-run", "call1"]
        procs[name] = (out, subprocess.Popen(args, env={**env, **extra, "OUT": str(out)}, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True))
    return {name: (out, p.communicate(timeout=600)[0], p.returncode) for name, (out, p) in procs.items()}


def test_dry_run_call1_exits_0_with_its_files(dry_runs):
    out, output, rc = dry_runs["packed"]
    assert rc == 0, output[-4000:]
    assert sorted(p.name for p in out.iterdir()) == ["device.txt", "device_run_call1.log", "results.tar.gz"]
    log = (out / "device_run_call1.log").read_text()
    for step in ("wheels", "device", "gpu_tests", "kernel", "train15", "train7"):
        assert f"step {step} rc=0" in log
    assert "--cases-from gpu:kernel" in log and "--cases-from gpu:train15" in log and "--cases-from gpu:train7" in log
    assert "test_gpu_packed_loss_and_gradients_equal_padded" in log  # the packed path's GPU tests are collected
    assert "torch " in (out / "device.txt").read_text()
    with tarfile.open(out / "results.tar.gz") as tar:
        csvs = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert sorted(csvs) == ["train_throughput.csv", "weighted_ce.csv"]
    train = _csv(csvs["train_throughput.csv"])
    cases = [*gpu_cases.TRAIN["train15"], *gpu_cases.TRAIN["train7"]]
    assert [(r["model"], int(r["micro_batch"]), int(r["seq"]), int(r["pack_len"]), r["attn"]) for r in train] == [
        (c.model, c.micro_batch, c.seq, c.pack_len, c.attn) for c in cases]
    assert any(int(r["pack_len"]) for r in train if "1.5b" in r["model"])  # packed 1.5B rows
    assert all(r["provider"] == "label_rows" for r in train if "7b" in r["model"])  # no full-logits case at 7B
    kernel = _csv(csvs["weighted_ce.csv"])
    assert [(int(r["N"]), int(r["H"]), int(r["V"])) for r in kernel] == list(gpu_cases.KERNEL["kernel"].shapes)
    assert all(int(r["N"]) == 16384 for r in kernel)
    assert all(r["dry_run"] == "plan" for r in train + kernel)


def test_dry_run_leaves_loose_csvs_under_the_limit(dry_runs):
    out, output, rc = dry_runs["loose"]
    assert rc == 0, output[-4000:]
    assert sorted(p.name for p in out.iterdir()) == ["device.txt", "device_run_call1.log", "train_throughput.csv",
                                                     "weighted_ce.csv"]


def test_merge_refuses_what_a_dry_run_wrote(dry_runs, tmp_path, monkeypatch):
    from benchmarks import merge

    monkeypatch.setattr(merge, "RESULTS", tmp_path)
    for name in ("packed", "loose"):
        with pytest.raises(SystemExit, match="dry-run plan rows"):
            merge.merge([str(dry_runs[name][0])])
    assert list(tmp_path.iterdir()) == []


def test_unknown_call_is_refused(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", "call3"], capture_output=True, text=True,
                          env={**os.environ, "OUT": str(tmp_path)})
    assert proc.returncode == 2 and "unknown call" in proc.stderr
