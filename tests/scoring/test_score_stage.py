"""The scoring stage's run folder: same settings resume, changed settings are refused (one line, exit 2) unless
--overwrite."""

from support import ROOT, cli

ARGS = ["--set", "data.synthetic_size=24", "--set", "model.dtype=float32", "--set", "scoring.tokens_per_batch=256",
        "--set", "weights.formula=ratio"]


def _score(run_dir, *extra):
    return cli(ROOT / "launch" / "score.py", "--set", f"run_dir={run_dir}", *ARGS, *extra)


def test_score_stage_refuses_changed_settings_and_overwrites(tmp_path):
    first = _score(tmp_path)
    assert first.rc == 0, first.stderr[-3000:]
    weights = (tmp_path / "weights" / "weights.f32").read_bytes()
    changed = _score(tmp_path, "--set", "weights.clip_hi=3")
    assert changed.rc == 2
    assert "weights.clip_hi: 5.0 there, 3.0 now" in changed.stderr and "--overwrite" in changed.stderr
    assert "Traceback" not in changed.stderr
    assert (tmp_path / "weights" / "weights.f32").read_bytes() == weights  # nothing touched
    again = _score(tmp_path, "--set", "weights.clip_hi=3", "--overwrite")
    assert again.rc == 0, again.stderr[-3000:]
