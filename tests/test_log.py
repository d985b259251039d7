"""harness.log: known third-party warnings silenced, the step line, metrics truncation on resume, progress after a
resume (no 'ETA inf', no rate from the steps done before)."""

import json
import warnings

from harness import log


def test_log_known_warnings_ignored_others_kept():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        log.quiet_known_warnings()
        for _ in range(3):
            warnings.warn("`torch.distributed.reduce_scatter_tensor` is deprecated. Please use x.", FutureWarning,
                          stacklevel=1)
        warnings.warn("something else", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["something else"]


def test_log_step_line_has_the_fixed_keys():
    rec = {"step": 3, "loss": 1.23456, "lr": 2e-5, "grad_norm": 0.5, "tokens_per_s": 1234.5, "peak_mem_gb": 1.5,
           "mfu": 0.123}
    assert log.step_line(rec, 10) == ("step 3/10 | loss 1.2346 | lr 2e-05 | grad norm 0.5 | 1234 tok/s | "
                                      "mem 1.50 GB | MFU 12.3%")
    assert "MFU" not in log.step_line({**rec, "mfu": None}, 10)


def test_log_truncate_after_keeps_earlier_steps(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text("".join(json.dumps({"step": s, "loss": s}) + "\n" for s in (1, 2, 3, 4, 2, 3)))
    log.truncate_jsonl_after(p, 2)
    assert [json.loads(ln)["step"] for ln in p.read_text().splitlines()] == [1, 2, 2]
    log.truncate_jsonl_after(tmp_path / "absent.jsonl", 2)  # nothing to do


def test_log_plain_progress_after_resume(monkeypatch):
    lines = []
    clock = iter([100.0, 100.0, 101.0, 102.0])
    monkeypatch.setattr(log, "info", lines.append)
    monkeypatch.setattr(log.time, "perf_counter", lambda: next(clock))
    bar = log._PlainProgress("train", 10, "step", start=8, every_s=0.0)
    bar.advance(0)
    assert lines == []  # nothing done yet in this process: no line, no 'ETA inf'
    bar.advance(1)
    # 1 step in 2 s: the 8 steps done before the resume are not counted as done in no time
    assert lines == ["train: 9/10 step (0.50 step/s, ETA 2s)"]
