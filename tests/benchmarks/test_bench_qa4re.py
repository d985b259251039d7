"""bench_qa4re.py at the tiniest size: rows with the shared stamp and sane columns (no speed assertions)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_qa4re  # noqa: E402
from benchmarks.__main__ import summary_row  # noqa: E402


def test_bench_qa4re_tiny_rows(tmp_path):
    rows = bench_qa4re.main(["--examples", "3", "--repeats", "1", "--models", "tiny-qwen2",
                             "--out", str(tmp_path / "qa4re.csv")])
    assert [r["mode"] for r in rows] == ["generate_loop", "first-token", "sequence"]
    for r in rows:
        assert r["examples"] == 3 and r["git"] and r["device"] and r["v_torch"]
        assert r["examples_per_s"] == pytest.approx(3 / r["seconds"], rel=0.02)
    assert rows[1]["agree_with_generate"] == 1.0  # distinct first tokens: the first generated token decides the answer
    assert summary_row("qa4re", rows[1])[2] == "first-token"
    assert (tmp_path / "qa4re.csv").read_text().count("\n") == 4
