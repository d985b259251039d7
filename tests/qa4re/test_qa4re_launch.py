"""launch/qa4re.py eval / label on the embedded default (tiny random model: near-chance figures, by design), the
weak-labels file read back by the data layer, and the experiment's QA4RE weak-label path end to end."""

import json
import os
from pathlib import Path

import pytest
from support import cli, load_launch

from harness.cli import run_main
from harness.config import DataConfig
from harness.data.dataset import load_splits
from harness.data.labels import get_space
from harness.data.noise import read_weak_labels
from harness.run import RunDir

ROOT = Path(__file__).resolve().parents[2]
SETS = ["--set", "data.synthetic_size=24", "--set", "data.noise_rate=0"]


def test_qa4re_eval_and_label_write_records_metrics_and_weak_labels(tmp_path):
    mod = load_launch("qa4re")
    run = RunDir(tmp_path / "run")
    base = ["--set", f"run_dir={run.root}", *SETS, "--batch-examples", "4"]
    assert run_main(mod.main, ["eval", "--split", "test", "--scoring", "sequence", *base]) == 0
    recs = [json.loads(line) for line in run.qa4re.predictions("test").read_text().splitlines()]
    metrics = json.loads(run.qa4re.metrics("test").read_text())
    assert len(recs) == metrics["n"] == 6 and metrics["scoring"] == "sequence" and metrics["official"] is None
    for r in recs:
        assert [o["letter"] for o in r["options"]] == list("ABCDEF") and r["options"][-1]["label"] == "No_Relation"
        best = max(r["options"], key=lambda o: o["score"])
        assert (r["prediction"], r["prediction_letter"]) == (best["label"], best["letter"]) and 0 < r["confidence"] <= 1
    assert metrics["accuracy"] == sum(r["prediction"] == r["gold"] for r in recs) / 6

    assert run_main(mod.main, ["label", *base]) == 0
    weak = read_weak_labels(run.qa4re.weak_labels, get_space("synthetic"))
    rows = [json.loads(line) for line in run.qa4re.weak_labels.read_text().splitlines()]
    assert all(0 < r["confidence"] <= 1 and r["score"] < 0 for r in rows)
    splits = load_splits(DataConfig(synthetic_size=24, weak_labels=str(run.qa4re.weak_labels)))
    assert [ex.weak_label for ex in splits.train] == [weak[ex.id] for ex in splits.train]
    assert splits.info["noise"]["kind"] == "file" and splits.info["noise"]["n"] == len(splits.train)


def test_qa4re_label_refuses_weak_labels_input_and_unknown_space(tmp_path, capsys):
    mod = load_launch("qa4re")
    argv = ["label", "--set", f"run_dir={tmp_path}", "--set", "data.weak_labels=x.jsonl", "--set", "data.noise_rate=0"]
    assert run_main(mod.main, argv) == 2
    assert "without data.weak_labels" in capsys.readouterr().err
    bad = tmp_path / "data.jsonl"
    bad.write_text(json.dumps({"text": "<e1>a</e1> x <e2>b</e2>", "label": "Foo", "split": "train"}) + "\n"
                   + json.dumps({"text": "<e1>c</e1> y <e2>d</e2>", "label": "Foo", "split": "test"}) + "\n")
    argv = ["eval", "--set", f"run_dir={tmp_path / 'r'}", "--set", "data.dataset=jsonl", "--set",
            f"data.data_dir={bad}"]
    assert run_main(mod.main, argv) == 2
    assert "no QA4RE templates for label space 'custom'" in capsys.readouterr().err


def test_qa4re_refuses_a_run_folder_in_use_and_frees_it(tmp_path, capsys):
    """One stage at a time per run folder: a held lock (a training run there) is refused with exit 2; a finished
    or failed qa4re run leaves the folder free (the same process can run again)."""
    from harness.runstate import RunLock

    mod = load_launch("qa4re")
    argv = ["eval", "--split", "test", "--set", f"run_dir={tmp_path}", *SETS, "--batch-examples", "4"]
    with RunLock(tmp_path, "train"):
        assert run_main(mod.main, argv) == 2
    assert "in use by train" in capsys.readouterr().err
    bad = [*argv, "--set", "data.synthetic_size=-1"]
    assert run_main(mod.main, bad) == 2  # an input error inside the claimed folder releases it
    assert run_main(mod.main, argv) == 0

@pytest.mark.slow
def test_qa4re_weak_labels_experiment_end_to_end(tmp_path):
    """The embedded default with --weak-labels qa4re: QA4RE labels -> scoring -> ATLANTIS vs SFT (~3 min, 1 rank)."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    cmd = ["launch/experiment.py", "--root", str(tmp_path / "exp"), "--nproc", "1",
           "--weak-labels", "qa4re", "--seeds", "1", "--set", "data.synthetic_size=32",
           "--set", "data.synthetic_test_size=8", "--set", "train.epochs=1"]
    proc = cli(*cmd, env=env, timeout=900)
    assert proc.rc == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "exp" / "summary.json").read_text())
    assert {"sft", "atlantis"} <= set(summary["per_seed"]["0"]) and "qa4re-label" in summary["timings_s"]
    weak = Path(summary["qa4re"]["weak_labels"])
    assert weak.is_file() and summary["qa4re"]["train_weak_labels"]["n"] == len(weak.read_text().splitlines())
    data = json.loads((tmp_path / "exp" / "seed-0" / "atlantis" / "data" / "manifest.json").read_text())
    assert data["noise"]["kind"] == "file" and data["config"]["weak_labels"] == str(weak)
    assert data["noise"]["realised_rate"] == pytest.approx(1 - summary["qa4re"]["train_weak_labels"]["accuracy"])


def test_qa4re_experiment_refuses_weak_labels_with_noise(capsys):
    mod = load_launch("experiment")
    assert run_main(mod.main, ["--weak-labels", "qa4re", "--noise", "0.2"]) == 2
    assert "cannot be combined with --noise" in capsys.readouterr().err
