"""benchmarks.merge: what comes back from the GPU machine ($OUT: CSVs, or one tarball of them, beside the log and
device.txt) is appended to benchmarks/results/; plans of a --dry-run and foreign files are refused."""

import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import merge  # noqa: E402


@pytest.fixture
def results(tmp_path, monkeypatch):
    path = tmp_path / "results"
    path.mkdir()
    (path / "weighted_ce.csv").write_text("device,provider\ncpu,naive\n")
    monkeypatch.setattr(merge, "RESULTS", path)
    return path


def _device_out(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "device_run_call1.log").write_text("=== step kernel rc=0\n")
    (out / "device.txt").write_text("NVIDIA H200\n")
    return out


def test_merge_reads_a_tarball_beside_the_log(tmp_path, results):
    out = _device_out(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "weighted_ce.csv").write_text("device,provider,error\nNVIDIA H200,cce,\nNVIDIA H200,liger,ImportError\n")
    (src / "train_throughput.csv").write_text("device,model,provider\nNVIDIA H200,qwen2-7b-shape,label_rows\n")
    with tarfile.open(out / "results.tar.gz", "w:gz") as tar:
        for f in src.iterdir():
            tar.add(f, arcname=f.name)
    assert merge.merge([str(out)]) == {"train_throughput.csv": 1, "weighted_ce.csv": 2}
    assert (results / "weighted_ce.csv").read_text().splitlines() == [
        "device,provider,error", "cpu,naive,", "NVIDIA H200,cce,", "NVIDIA H200,liger,ImportError"]
    assert merge.merge([str(out / "results.tar.gz")]) == {"train_throughput.csv": 1, "weighted_ce.csv": 2}


def test_merge_refuses_dry_run_plans_before_writing_anything(tmp_path, results):
    out = _device_out(tmp_path)
    (out / "train_throughput.csv").write_text("device,model\nNVIDIA H200,m\n")
    (out / "weighted_ce.csv").write_text("device,provider,dry_run\nNVIDIA H200 (dry run),naive,plan\n")
    before = (results / "weighted_ce.csv").read_text()
    with pytest.raises(SystemExit, match="dry-run plan rows"):
        merge.merge([str(out)])
    assert (results / "weighted_ce.csv").read_text() == before and not (results / "train_throughput.csv").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match="no .csv or tarball"):
        merge.merge([str(empty)])
