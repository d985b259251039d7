"""Smoke tests of the benchmark scripts at the tiniest shapes: rows are produced with sane columns (no speed
assertions: the machine is shared)."""

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_train_throughput as btt  # noqa: E402
from harness.constants import IGNORE_INDEX  # noqa: E402


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_make_batch_labels_on_last_positions():
    b = btt.make_batch(3, 10, 4, vocab=50)
    assert b["input_ids"].shape == (3, 10) and int(b["attention_mask"].sum()) == 30
    assert (b["labels"][:, :6] == IGNORE_INDEX).all()
    assert (b["labels"][:, 6:] == b["input_ids"][:, 6:]).all()
    for bad in (0, 10):
        with pytest.raises(ValueError, match="label tokens"):
            btt.make_batch(2, 10, bad, vocab=50)


def test_parse_cases_and_ratios():
    assert btt.parse_cases("tiny-qwen2,8,100,5;qwen2-7b-shape,1,2048,5,ds_configs/zero3_offload.json") == [
        ("tiny-qwen2", 8, 100, 5, ""), ("qwen2-7b-shape", 1, 2048, 5, "ds_configs/zero3_offload.json")]
    with pytest.raises(ValueError, match="MODEL,MICRO_BATCH"):
        btt.parse_cases("tiny-qwen2,8")
    rows = [{"provider": "label_rows", "model": "m", "micro_batch": 2, "seq": 9, "step_s": 1.0, "peak_mem_mb": 50.0},
            {"provider": "baseline", "model": "m", "micro_batch": 2, "seq": 9, "step_s": 1.5, "peak_mem_mb": 100.0}]
    (r,) = btt.ratios(rows)
    assert r["speedup"] == pytest.approx(1.5) and r["mem_ratio"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="alternate"):
        btt.ratios(rows[::-1])


def test_matmul_params_counts_tied_head_once():
    from harness.models.load import build_model

    for preset in ("tiny-qwen2", "tiny-qwen2-tied"):
        m = build_model(preset, vocab_size=40)
        emb = m.get_input_embeddings().weight.numel()
        total = sum(p.numel() for p in m.parameters())  # a tied head is one parameter
        expect = total if preset.endswith("tied") else total - emb
        assert btt.matmul_params(m) == expect


def test_bench_train_throughput_tiny_rows(tmp_path):
    out = tmp_path / "tt.csv"
    rows = btt.main(["--cases", "tiny-qwen2,2,16,3", "--warmup", "1", "--steps", "1", "--out", str(out)])
    written = _rows(out)
    assert [r["provider"] for r in written] == ["label_rows", "baseline"] and len(rows) == 2
    for r in written:
        assert r["model"] == "tiny-qwen2" and r["engine"] == "plain" and r["dtype"] == "float32"
        assert r["device"] and r["date"] and r["git"] and r["v_torch"]
        step, tps = float(r["step_s"]), float(r["tokens_per_s"])
        assert step > 0 and tps == pytest.approx(2 * 16 / step, rel=0.01)
        assert float(r["flops_per_token"]) > 0 and float(r["mfu"]) > 0
        assert 0 < float(r["exec_flops_per_token"]) <= float(r["flops_per_token"]) and float(r["hfu"]) > 0
        assert float(r["peak_mem_mb"]) >= 0 and float(r["mem_base_mb"]) > 0
        assert len(r["times_s"].split()) == 1 and r["timing"] == "interleaved" and float(r["step_s_isolated"]) > 0
    assert float(written[0]["first_loss"]) == pytest.approx(float(written[1]["first_loss"]), rel=1e-4)


def test_executed_flops_drop_only_the_skipped_head_rows():
    from harness.models.load import build_model

    m = build_model("tiny-qwen2", vocab_size=40)
    h = m.config.hidden_size
    assert btt.head_params(m) == 40 * h
    fpt = 1000.0
    assert btt.executed_flops_per_token(fpt, 40 * h, "baseline", 10, 3) == fpt
    # 7 of 10 positions skip the head: 6 x N_head x 0.7 fewer FLOPs per token
    assert btt.executed_flops_per_token(fpt, 40 * h, "label_rows", 10, 3) == pytest.approx(fpt - 6 * 40 * h * 0.7)


def test_append_rows_widens_the_header_and_keeps_old_rows(tmp_path):
    from benchmarks.common import append_rows

    out = tmp_path / "r.csv"
    append_rows(out, [{"a": 1, "b": 2}])
    append_rows(out, [{"a": 3, "b": 4}])
    append_rows(out, [{"a": 5, "c": 6}, {"a": 7, "b": 8, "c": 9}])  # a new column, a missing one
    assert out.read_text().splitlines()[0] == "a,b,c"
    assert [dict(r) for r in _rows(out)] == [
        {"a": "1", "b": "2", "c": ""}, {"a": "3", "b": "4", "c": ""}, {"a": "5", "b": "", "c": "6"},
        {"a": "7", "b": "8", "c": "9"}]
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary file left behind
