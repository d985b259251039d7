"""Run folders a user can trust: changed settings refused on resume, used folders refused without --resume or
--overwrite, checkpoint retention, metrics without repeated steps after a resume, one writer per folder, and no
worker left behind when its launcher is killed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import torchrun

from harness.config import load_config
from harness.runstate import ConfigMismatch, RunFolderBusy, RunFolderUsed, RunLock, config_diff, stage_config
from harness.train.sft import train

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["data.synthetic_size=40", "data.max_train_examples=16", "train.epochs=2", "train.eval_split=",
          "train.micro_batch=4", "train.save_every=1"]


def cfg(run, *sets):
    return load_config(None, COMMON + [f"run_dir={run}", *sets])


class Stop(Exception):
    pass


def _stop_at(step):
    def hook(rec):
        if rec["step"] == step:
            raise Stop
    return hook


def _steps(path: Path) -> list[int]:
    return [json.loads(ln)["step"] for ln in path.read_text().splitlines() if ln.strip()]


def test_runs_keep_checkpoints_and_resume_without_repeated_steps(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Stop):
        train(cfg(run, "train.keep_checkpoints=2"), export=False, on_step=_stop_at(5))
    assert _steps(run / "metrics.jsonl") == [1, 2, 3, 4, 5]
    kept = sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("step"))
    assert kept == ["step4", "step5"]  # the newest 2 of step1..step5
    out = train(cfg(run, "train.keep_checkpoints=2"), resume=True, export=False)
    assert out["steps"] == 8 and _steps(run / "metrics.jsonl") == list(range(1, 9))
    straight = train(cfg(tmp_path / "straight", "train.keep_checkpoints=0"), export=False)["losses"]
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["loss"] == pytest.approx(straight[-1])
    assert len([p for p in (tmp_path / "straight" / "checkpoints").iterdir() if p.name.startswith("step")]) == 8


def test_runs_resume_after_kill_truncates_metrics_to_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Stop):  # checkpoint every 3 steps; stopped after step 4 was logged
        train(cfg(run, "train.save_every=3"), export=False, on_step=_stop_at(4))
    assert _steps(run / "metrics.jsonl") == [1, 2, 3, 4]
    train(cfg(run, "train.save_every=3"), resume=True, export=False)
    assert _steps(run / "metrics.jsonl") == list(range(1, 9))  # step 4 once, not twice


def test_runs_changed_settings_refused_on_resume_and_used_folder_refused(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Stop):
        train(cfg(run), export=False, on_step=_stop_at(2))
    recorded = (run / "config.json").read_text()
    with pytest.raises(ConfigMismatch, match=r"train\.lr: 2e-05 there, 1e-05 now.*--overwrite"):
        train(cfg(run, "train.lr=1e-5"), resume=True, export=False)
    with pytest.raises(ConfigMismatch, match=r"train\.micro_batch: 4 there, 2 now"):
        train(cfg(run, "train.micro_batch=2"), resume=True, export=False)
    assert (run / "config.json").read_text() == recorded  # nothing rewritten by a refused resume
    with pytest.raises(RunFolderUsed, match="already holds a training run.*--resume.*--overwrite"):
        train(cfg(run), export=False)
    out = train(cfg(run, "train.lr=1e-5"), overwrite=True, export=False)
    assert out["steps"] == 8 and _steps(run / "metrics.jsonl") == list(range(1, 9))
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == 1e-5
    # settings that do not change results may differ on resume
    with pytest.raises(Stop):
        train(cfg(tmp_path / "r2"), export=False, on_step=_stop_at(2))
    train(cfg(tmp_path / "r2", "train.log_every=4", "train.keep_checkpoints=1"), resume=True, export=False)


def test_runs_stage_config_ignores_non_result_fields():
    a = stage_config(load_config(None, ["train.log_every=1", "run_dir=a"]), "train")
    b = stage_config(load_config(None, ["train.log_every=9", "run_dir=b", "weights.clip_hi=3"]), "train")
    assert a == b
    c = stage_config(load_config(None, ["weights.clip_hi=3"]), "score")
    assert config_diff(stage_config(load_config(None, []), "score"), c) == ["weights.clip_hi: 5.0 there, 3.0 now"]


LOCKER = """
import sys, time
sys.path.insert(0, {root!r})
from harness.runstate import RunLock
RunLock({run!r}, "train").acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_runs_one_writer_per_folder_and_lock_freed_by_kill9(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", LOCKER.format(root=str(ROOT), run=str(run))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=rf"in use by train pid {holder.pid}"):
            RunLock(run, "train").acquire()
        with pytest.raises(RunFolderBusy):
            train(cfg(run), export=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(run, "train"):  # the kernel dropped the dead holder's lock
        pass


WORKER = """
import sys, time
sys.path.insert(0, {root!r})
from harness import dist
dist.init(timeout_s=60)
open({out!r} + f"/pid{{dist.rank()}}", "w").write(str(__import__("os").getpid()))
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.slow
def test_runs_workers_exit_when_their_launcher_is_killed(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT), out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(torchrun(script), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids = []
    deadline = time.time() + 120
    while len(pids) < 2 and time.time() < deadline:
        pids = [int(p.read_text()) for p in tmp_path.glob("pid*") if p.read_text()]
        time.sleep(0.5)
    assert len(pids) == 2, "workers did not start"
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.time() + 30
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.5)
    left = [p for p in pids if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived their launcher"


def test_runs_tensorboard_events_from_the_same_records(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    out = train(cfg(run, "train.tensorboard=true", "train.eval_split=dev", "train.epochs=1"), export=False)
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    loss = [(e.step, e.value) for e in acc.Scalars("train/loss")]
    assert [s for s, _ in loss] == list(range(1, out["steps"] + 1))
    assert [v for _, v in loss] == pytest.approx([json.loads(ln)["loss"] for ln in
                                                  (run / "metrics.jsonl").read_text().splitlines()])
    evals = [json.loads(ln) for ln in (run / "evals.jsonl").read_text().splitlines()]
    assert [e.value for e in acc.Scalars("eval/macro_f1")] == pytest.approx([r["macro_f1"] for r in evals])
