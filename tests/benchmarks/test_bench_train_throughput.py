"""Smoke tests of the benchmark scripts at the tiniest shapes: rows are produced with sane columns (no speed
assertions: the machine is shared)."""

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_train_throughput as btt  # noqa: E402
from benchmarks.common import read_rows  # noqa: E402
from benchmarks.gpu_cases import TrainCase  # noqa: E402
from harness.constants import IGNORE_INDEX  # noqa: E402


def test_make_batch_labels_on_last_positions():
    b = btt.make_batch(3, 10, 4, vocab=50)
    assert b["input_ids"].shape == (3, 10) and int(b["attention_mask"].sum()) == 30
    assert (b["labels"][:, :6] == IGNORE_INDEX).all()
    assert (b["labels"][:, 6:] == b["input_ids"][:, 6:]).all()
    for bad in (0, 10):
        with pytest.raises(ValueError, match="label tokens"):
            btt.make_batch(2, 10, bad, vocab=50)


def test_parse_cases_and_ratios():
    assert btt.parse_cases("tiny-qwen2,8,100,5;qwen2-7b-shape,1,2048,5,ds_configs/zero3.json,ac") == [
        TrainCase("tiny-qwen2", 8, 100, 5, "", False),
        TrainCase("qwen2-7b-shape", 1, 2048, 5, "ds_configs/zero3.json", True)]
    for bad in ("tiny-qwen2,8", "tiny-qwen2,8,100,5,ds_configs/zero3.json,yes"):
        with pytest.raises(ValueError, match="MODEL,MICRO_BATCH"):
            btt.parse_cases(bad)
    rows = [{"provider": "label_rows", "model": "m", "micro_batch": 2, "seq": 9, "step_s": 1.0, "peak_mem_mb": 50.0},
            {"provider": "baseline", "model": "m", "micro_batch": 2, "seq": 9, "step_s": 1.5, "peak_mem_mb": 100.0}]
    (r,) = btt.ratios(rows)
    assert r["speedup"] == pytest.approx(1.5) and r["mem_ratio"] == pytest.approx(0.5)
    assert btt.ratios(rows[::-1]) == [] and btt.ratios(rows[:1]) == []  # label_rows-only cases have no ratio
    with pytest.raises(ValueError, match="unknown provider"):
        btt.ratios([{**rows[0], "provider": "interleaved"}])
    failed = [{**rows[0], "error": "worker rc=1: OOM"}, rows[1]]
    assert btt.ratios(failed + rows) == [r]  # a case with a failed provider has no ratio


def test_make_packed_batch_layout_and_loss_equal_the_examples_padded():
    """The GPU cases' packed rows: examples of ~pack_len tokens fill each row exactly, labels on each one's last
    positions; the harness loss on them (sdpa_segments and the 4-D mask) equals the examples one per row, float64."""
    import torch

    from harness.models.load import build_model
    from harness.train.loss import WeightedLoss
    from harness.train.normaliser import batch_normaliser

    b = btt.make_packed_batch(2, 64, 3, vocab=50, pack_len=12)
    n = len(b["example_index"])
    assert n > 2 * (64 // 18) and int(b["seq_ids"].max()) == n - 1 and (b["labels"] != IGNORE_INDEX).sum() == 3 * n
    rows = []
    for slot in range(n):
        at = b["seq_ids"] == slot
        ids, lab, pos = b["input_ids"][at], b["labels"][at], b["position_ids"][at]
        assert pos.tolist() == list(range(len(ids))) and len(ids) >= 6 and (lab[-3:] == ids[-3:]).all()
        rows.append((ids, lab))
    width = max(len(i) for i, _ in rows)
    padded = {"input_ids": torch.zeros(n, width, dtype=torch.long), "attention_mask": torch.zeros(n, width,
              dtype=torch.long), "labels": torch.full((n, width), IGNORE_INDEX)}
    for r, (ids, lab) in enumerate(rows):
        padded["input_ids"][r, :len(ids)], padded["labels"][r, :len(ids)] = ids, lab
        padded["attention_mask"][r, :len(ids)] = 1
    z = batch_normaliser(padded, "causal", "token")
    assert batch_normaliser(b, "causal", "token") == z
    w = torch.ones(n, dtype=torch.float64)
    losses = {}
    for attn, batch in (("sdpa", padded), ("sdpa", b), ("sdpa_segments", b)):
        torch.manual_seed(0)
        model = build_model("tiny-qwen2", vocab_size=50, attn_impl=attn).double()
        losses[(attn, "seq_ids" in batch)] = float(WeightedLoss(model, norm_mode="token")(batch, w, z))
    ref = losses[("sdpa", False)]
    assert losses[("sdpa", True)] == pytest.approx(ref, rel=1e-10)
    assert losses[("sdpa_segments", True)] == pytest.approx(ref, rel=1e-10)


def test_matmul_params_counts_tied_head_once():
    """The benchmark's FLOP counts come from harness.train.metrics (shared with the trainer)."""
    from harness.models.load import build_model
    from harness.train.metrics import matmul_params

    for preset in ("tiny-qwen2", "tiny-qwen2-tied"):
        m = build_model(preset, vocab_size=40)
        emb = m.get_input_embeddings().weight.numel()
        total = sum(p.numel() for p in m.parameters())  # a tied head is one parameter
        expect = total if preset.endswith("tied") else total - emb
        assert matmul_params(m) == expect


def test_bench_train_throughput_tiny_rows(tmp_path):
    out = tmp_path / "tt.csv"
    rows = btt.main(["--cases", "tiny-qwen2,2,16,3", "--warmup", "1", "--steps", "1", "--out", str(out)])
    written = read_rows(out)
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
    from harness.train.metrics import head_params

    m = build_model("tiny-qwen2", vocab_size=40)
    h = m.config.hidden_size
    assert head_params(m) == 40 * h
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
    assert [dict(r) for r in read_rows(out)] == [
        {"a": "1", "b": "2", "c": ""}, {"a": "3", "b": "4", "c": ""}, {"a": "5", "b": "", "c": "6"},
        {"a": "7", "b": "8", "c": "9"}]
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary file left behind


def test_make_batch_draws_on_the_device():
    b = btt.make_batch(2, 8, 3, vocab=50, device=torch.device("cpu"))
    assert all(v.device.type == "cpu" for v in b.values())
    assert torch.equal(b["input_ids"], btt.make_batch(2, 8, 3, vocab=50)["input_ids"])  # same seed, same ids


def test_gpu_peak_is_tabulated_for_the_h200(monkeypatch):
    from harness.train.metrics import PEAK_FLOPS

    assert btt.tabulated_gpu("NVIDIA H200") == "H200" and PEAK_FLOPS["H200"] == 989e12
    assert btt.tabulated_gpu("NVIDIA H100 80GB HBM3") == "H100"
    assert btt.tabulated_gpu("Some Future GPU") is None
    monkeypatch.setattr(btt, "device_name", lambda device: "NVIDIA H200")
    monkeypatch.delenv("HARNESS_PEAK_FLOPS", raising=False)
    got = btt.gpu_peak(torch.device("cpu"))  # what a CUDA worker reports, named as on the H200
    assert got["device"] == "NVIDIA H200" and got["peak_source"] == "tabulated bf16 dense (H200)"


@pytest.mark.slow  # DeepSpeed workers: the longest test of the unit tier (315 s of its 28 min under load 8)
def test_ds_case_with_activation_checkpointing(tmp_path):
    """The GPU path on CPU: ZeRO-3 (cpu_test.json) in isolated workers, activation checkpointing on."""
    out = tmp_path / "tt.csv"
    btt.main(["--cases", "tiny-qwen2,2,16,3,ds_configs/cpu_test.json,ac", "--warmup", "1", "--steps", "1",
              "--out", str(out)])
    rows = read_rows(out)
    assert [(r["provider"], r["engine"], r["activation_checkpointing"], r["timing"], r["error"]) for r in rows] == [
        ("label_rows", "cpu_test", "True", "isolated", ""), ("baseline", "cpu_test", "True", "isolated", "")]
    assert float(rows[0]["first_loss"]) == pytest.approx(float(rows[1]["first_loss"]), rel=1e-4)


def test_workers_stream_their_output_and_fail_with_the_last_stderr_line(capfd):
    from benchmarks.common import WorkerError, run_worker

    code = "import sys; print('progress'); print('warn', file=sys.stderr); print('{\"ok\": 1}')"
    assert run_worker(["-c", code]) == {"ok": 1}
    got = capfd.readouterr()
    assert "progress" in got.out and "warn" in got.err  # forwarded, not swallowed
    with pytest.raises(WorkerError) as e:
        run_worker(["-c", "import sys; print('step 1', file=sys.stderr); raise MemoryError('CUDA out of memory')"])
    assert e.value.rc == 1 and e.value.summary() == "worker rc=1: MemoryError: CUDA out of memory"
    assert "Traceback" in capfd.readouterr().err
    with pytest.raises(WorkerError, match="timed out") as e:
        run_worker(["-c", "import time; time.sleep(30)"], timeout=1)
    assert e.value.rc is None


def _fake_result(loss=2.0):
    return {"times_s": [0.5], "losses": [loss], "peak_mb": 10.0, "base_mb": 5.0, "flops_per_token": 1e9,
            "exec_flops_per_token": 9e8, "dtype": "bfloat16", "threads": 1}


def test_out_of_memory_skips_the_baseline_and_larger_cases(tmp_path, monkeypatch):
    from benchmarks.common import WorkerError

    calls = []

    def fake_worker(spec, prov):
        calls.append((spec["batch"], spec["seq"], prov))
        if spec["batch"] * spec["seq"] >= 2048:
            raise WorkerError("boom", 1, ["Traceback ...", "torch.OutOfMemoryError: CUDA out of memory."])
        return _fake_result()

    monkeypatch.setattr(btt, "_worker", fake_worker)
    cases = [TrainCase("m", 1, 2048, 5, "z.json", True), TrainCase("m", 4, 512, 5, "z.json", True),
             TrainCase("m", 2, 512, 5, "z.json", True)]
    with pytest.raises(SystemExit, match="out of memory"):
        btt.run(cases, warmup=1, steps=1, device=torch.device("cpu"), dtype="float32", loss_impl="auto",
                out=tmp_path / "tt.csv")
    assert calls == [(1, 2048, "label_rows"), (2, 512, "label_rows"), (2, 512, "baseline")]
    rows = read_rows(tmp_path / "tt.csv")
    assert rows[0]["error"] == "worker rc=1: torch.OutOfMemoryError: CUDA out of memory."
    assert all(r["error"] == "skipped: out of memory at 2048 tokens per micro-batch" for r in rows[1:4])
    assert [r["error"] for r in rows[4:]] == ["", ""]
    assert rows[-1]["mfu"] and rows[-1]["peak_source"]


def test_dry_run_resolves_every_gpu_case(tmp_path):
    """Every GPU case of benchmarks/gpu_cases.py (what scripts/device_run.sh runs) resolves its DeepSpeed config
    as the worker would, with the batch fields filled from the case; nothing is built."""
    from benchmarks import gpu_cases, train_plan

    for name, cases in gpu_cases.TRAIN.items():
        out = tmp_path / f"{name}.csv"
        rows = btt.main(["--dry-run", "--cases-from", f"gpu:{name}", "--warmup", "1", "--steps", "3",
                         "--out", str(out)])
        assert len(rows) == len(cases) == len(read_rows(out))
        for case, row in zip(cases, read_rows(out)):
            spec = train_plan.case_spec(case, warmup=1, steps=3, dtype="float32", loss_impl="auto")
            ds = train_plan.ds_config(spec, train_plan.train_config(spec))
            assert ds["train_micro_batch_size_per_gpu"] == case.micro_batch and ds["train_batch_size"] == \
                case.micro_batch and ds["gradient_accumulation_steps"] == 1 and ds["gradient_clipping"] == 1.0
            assert ds["zero_optimization"]["stage"] == 3 and ds["bf16"]["enabled"]
            assert case.micro_batch in (1, 2, 4) and "offload" not in case.ds  # 7B offload: > 128 GiB host
            assert row["dry_run"] == "plan" and row["peak_source"] == "tabulated bf16 dense (H200)"
            assert f"micro={case.micro_batch} " in row["ds_resolved"]
    assert all(c.activation_checkpointing for c in gpu_cases.TRAIN["train7"])
    with pytest.raises(ValueError, match="gpu:NAME"):
        btt.main(["--dry-run", "--cases-from", "gpu:nope", "--out", str(tmp_path / "x.csv")])
