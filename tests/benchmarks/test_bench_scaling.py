"""Smoke test of the doubling benchmark and the `python -m benchmarks` runner at the tiniest sizes."""

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as runner  # noqa: E402
from benchmarks import bench_scaling  # noqa: E402


@pytest.mark.slow
def test_bench_scaling_tiny_rows(tmp_path):
    out = tmp_path / "scaling.csv"
    bench_scaling.run(20, out, work=tmp_path / "work")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["stage"], int(r["synthetic_size"])) for r in rows] == [
        ("scoring", 20), ("scoring", 40), ("train", 20), ("train", 40)]
    for r in rows:
        assert float(r["seconds"]) > 0 and float(r["maxrss_mb"]) > 0 and float(r["peak_mb"]) >= 0
        assert 0 < float(r["epoch_s"]) < float(r["seconds"])  # the loops alone, inside the stage's wall time
        assert r["device"] and r["git"]
    assert int(rows[1]["examples"]) == 2 * int(rows[0]["examples"])
    assert float(rows[0]["time_ratio"]) == 1.0 and float(rows[2]["time_ratio"]) == 1.0
    assert int(rows[3]["steps"]) >= 2 * int(rows[2]["steps"]) and float(rows[2]["epoch_s"]) > 0


def test_bench_scaling_refuses_tiny_size(tmp_path):
    with pytest.raises(ValueError, match="--size"):
        bench_scaling.run(5, tmp_path / "x.csv")


def test_runner_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit, match="unknown subject"):
        runner.main(["--only", "nope"])


def test_runner_one_table_from_new_rows(tmp_path, monkeypatch):
    monkeypatch.setitem(runner.QUICK_ARGS, "train_throughput",
                        ["--cases", "tiny-qwen2,2,12,2", "--warmup", "0", "--steps", "1"])
    table = runner.main(["--quick", "--only", "train_throughput", "--results-dir", str(tmp_path)])
    assert [r[0] for r in table] == ["train_throughput"] * 2
    assert [r[2] for r in table] == ["label_rows", "baseline"]
    assert all(float(r[3]) > 0 for r in table)


def test_merge_appends_device_rows(tmp_path, monkeypatch):
    from benchmarks import merge

    results, device_out = tmp_path / "results", tmp_path / "out"
    results.mkdir()
    device_out.mkdir()
    (results / "scoring.csv").write_text("device,mode\ncpu,pass\n")
    (device_out / "scoring.csv").write_text("device,mode,dtype\nNVIDIA H200,pass,bfloat16\n")
    monkeypatch.setattr(merge, "RESULTS", results)
    assert merge.merge([str(device_out)]) == {"scoring.csv": 1}
    assert (results / "scoring.csv").read_text().splitlines() == [
        "device,mode,dtype", "cpu,pass,", "NVIDIA H200,pass,bfloat16"]
    (device_out / "notes.csv").write_text("a\n1\n")
    with pytest.raises(SystemExit, match="not a benchmark results file"):
        merge.merge([str(device_out / "notes.csv")])
