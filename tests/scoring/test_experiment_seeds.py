"""The experiment's seeds and sweeps (harness.recipes.atlantis.experiment) with every stage replaced by a fake that
writes what the real one writes (config, export, weights, eval.json): the per-seed layout, what is shared, the report's
figures against a hand computation, reuse of finished cells after a kill, and the refusals."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness.cli import InputError, parse, run_main
from harness.cli import main as harness_main
from harness.config import load_config
from harness.data.dataset import load_splits
from harness.eval.metrics import compute_metrics
from harness.recipes.atlantis import experiment as exp
from harness.run import RunDir

SMALL = ["--set", "data.synthetic_size=40", "--set", "data.synthetic_test_size=30"]


class Killed(Exception):
    pass


def _sets(cmd):
    return [cmd[i + 1] for i, x in enumerate(cmd) if x == "--set"]


class FakeStages:
    """run_stage stand-in: records (cell, stage) and writes the stage's outputs. SFT predicts gold except every
    (seed + 2)-th test example; ATLANTIS except every (seed + 4)-th; on the training split both predict the training
    label (they fit the noise)."""

    def __init__(self, kill_after=None):
        self.calls, self.kill_after, self.reports = [], kill_after, []

    def __call__(self, name, cmd, log_dir):
        if self.kill_after is not None and len(self.calls) >= self.kill_after:
            raise Killed(name)
        self.calls.append((log_dir.parent.name, name))
        verb = cmd[cmd.index("atlantis") + 1]
        sets = _sets(cmd)
        cfg = load_config(None, sets)
        run = RunDir(cfg.run_dir)
        if verb == "train":
            run.root.mkdir(parents=True, exist_ok=True)
            cfg.dump(run.config)
            run.export.mkdir(parents=True, exist_ok=True)
            (run.export / "config.json").write_text("{}")
        elif verb == "score":
            run.weights.parent.mkdir(parents=True, exist_ok=True)
            cfg.dump(run.score_config)
            np.ones(4, dtype=np.float32).tofile(run.weights)
        else:
            first = Path(cmd[cmd.index("--out") + 1] if "--out" in cmd else run.eval_json)
            splits = load_splits(cfg.data)
            for i, split in enumerate(cmd[cmd.index("--split") + 1].split(",")):
                examples = getattr(splits, split)
                every = cfg.train.seed + (4 if cfg.train.weights_file else 2)
                if split == "train":
                    pred = [ex.train_label for ex in examples]
                else:
                    labels = splits.label_space.labels
                    pred = [ex.label if j % every else labels[(labels.index(ex.label) + 1) % len(labels)]
                            for j, ex in enumerate(examples)]
                res = compute_metrics([ex.label for ex in examples], pred, splits.label_space)
                res["predictions"] = [{"id": ex.id, "gold": ex.label, "pred": p} for ex, p in zip(examples, pred)]
                out = first if i == 0 else first.with_name(f"eval-{split}.json")
                out.write_text(json.dumps(res))
        return 0.0


def _run(tmp_path, monkeypatch, argv, fake):
    monkeypatch.setattr(exp, "run_stage", fake)
    monkeypatch.setattr(exp, "report", lambda name, argv: fake.reports.append((name, argv)))
    a = parse(["atlantis", "experiment", "--run-dir", str(tmp_path / "exp"), "--nproc", "1", *SMALL, *argv])
    return exp.run_experiment(a)


def test_seeds_layout_and_report_against_a_hand_computation(tmp_path, monkeypatch):
    fake = FakeStages()
    assert _run(tmp_path, monkeypatch, ["--seeds", "3"], fake) == 0
    root = tmp_path / "exp"
    names = [n for _, n in fake.calls]
    for s in range(3):  # every seed: its own reference, scoring, runs and evaluations
        for stage in ("reference", "scoring", "sft", "atlantis", "eval-sft", "eval-atlantis"):
            assert f"{stage}-seed{s}" in names
        assert json.loads((root / f"seed-{s}" / "sft" / "config.json").read_text())["train"]["seed"] == s
        assert (root / f"seed-{s}" / "atlantis" / "eval-train.json").is_file()
        ref = json.loads((root / f"seed-{s}" / "reference" / "config.json").read_text())
        assert ref["train"]["seed"] == s and ref["model"]["large"] == "tiny-qwen2-small"
    summary = json.loads((root / "summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2] and summary["kind"] == "cell"
    diffs = []
    for s in range(3):
        rec = summary["per_seed"][str(s)]
        test = load_splits(load_config(None, ["data.synthetic_size=40", "data.synthetic_test_size=30",
                                              "data.noise_rate=0.3"]).data).test
        assert len(test) == 30
        diffs.append(100 * (rec["atlantis"]["macro_f1"] - rec["sft"]["macro_f1"]))
        assert rec["difference"] == pytest.approx(diffs[-1])
        assert rec["noisy_fit"]["sft"]["fits_noisy"] == 1.0 and rec["noisy_fit"]["sft"]["recovers_gold"] == 0.0
    ci = stats.ttest_1samp(diffs, 0).confidence_interval(0.95)
    assert summary["difference"]["lo"] == pytest.approx(ci.low) and summary["difference"]["hi"] == pytest.approx(ci.high)
    assert summary["bootstrap"]["method"].startswith("paired bootstrap") and summary["bootstrap"]["n"] == 3
    assert summary["methods"]["sft"]["n"] == 3 and summary["test_examples"] == 30
    assert (root / "plots" / "seeds.png").stat().st_size > 0
    compare, curves, weights = fake.reports  # in-process reports: every seed's runs compared, curves of seed 0
    assert compare[1].count("--run-dir") == 6 and curves[1][curves[1].index("--split") + 1] == "test"
    assert str(root / "seed-0" / "scoring" / "weights" / "weights.f32") in weights[1]


def test_given_reference_shares_one_scoring_stage(tmp_path, monkeypatch):
    fake = FakeStages()
    _run(tmp_path, monkeypatch, ["--seeds", "0,2", "--reference", "tiny-qwen2-small"], fake)
    names = [n for _, n in fake.calls]
    assert not [n for n in names if n.startswith("reference")]
    assert [n for n in names if n.startswith("scoring")] == ["scoring-seed0"]  # the scores do not depend on the seed
    assert (tmp_path / "exp" / "scoring" / "weights").is_dir() and (tmp_path / "exp" / "seed-2" / "atlantis").is_dir()


@pytest.mark.slow
def test_killed_sweep_resumes_without_redoing_finished_cells(tmp_path, monkeypatch):
    argv = ["--seeds", "2", "--sweep", "data.noise_rate=0.1,0.3", "--sweep", "weights.clip_hi=3,5"]
    full = FakeStages()
    _run(tmp_path / "ref", monkeypatch, argv, full)  # the whole sweep uninterrupted: how many stages it takes
    per_cell = len(full.calls) // 4
    killed = FakeStages(kill_after=per_cell + 5)  # dies in the second cell
    with pytest.raises(Killed):
        _run(tmp_path, monkeypatch, argv, killed)
    first = killed.calls[0][0]
    assert (tmp_path / "exp" / "sweep" / first / "summary.json").is_file()
    again = FakeStages()
    _run(tmp_path, monkeypatch, argv, again)
    assert not [c for c in again.calls if c[0] == first]  # the finished cell is reused as it is
    second = [c for c in killed.calls if c[0] != first]
    redone = [c for c in again.calls if c in second and not c[1].startswith(("compare", "curves", "weight"))]
    assert second and not redone  # the second cell's finished stages are not run again
    assert len(again.calls) == len(full.calls) - len(killed.calls)
    top = json.loads((tmp_path / "exp" / "summary.json").read_text())
    ref = json.loads((tmp_path / "ref" / "exp" / "summary.json").read_text())
    assert [c["values"] for c in top["cells"]] == [c["values"] for c in ref["cells"]] and len(top["cells"]) == 4
    assert [c["difference"]["mean"] for c in top["cells"]] == [c["difference"]["mean"] for c in ref["cells"]]
    assert top["sweep"] == {"data.noise_rate": ["0.1", "0.3"], "weights.clip_hi": ["3", "5"]}
    for key in ("data.noise_rate", "weights.clip_hi"):
        assert (tmp_path / "exp" / "plots" / f"sweep-{key}.png").stat().st_size > 0
    # a third run starts no stage at all; more seeds reuse every finished seed's stages
    idle = FakeStages()
    _run(tmp_path, monkeypatch, argv, idle)
    assert idle.calls == [] or all(n.startswith(("compare", "curves", "weight")) for _, n in idle.calls)


def test_a_finished_cell_at_other_settings_is_refused_in_one_line(tmp_path, monkeypatch):
    _run(tmp_path, monkeypatch, ["--seeds", "1"], FakeStages())
    with pytest.raises(InputError, match=r"experiment.json: this folder holds an experiment run at other settings "
                                         r"\(config.train.lr: 0.003 then, 0.01 now\); pass --overwrite"):
        _run(tmp_path, monkeypatch, ["--seeds", "1", "--set", "train.lr=0.01"], FakeStages())
    more = FakeStages()  # more seeds: the finished seed is reused, the new one runs
    _run(tmp_path, monkeypatch, ["--seeds", "2"], more)
    assert {n for _, n in more.calls if "seed0" in n} == set() and "sft-seed1" in [n for _, n in more.calls]


@pytest.mark.parametrize("spec,seeds", [("", [0, 1, 2]), ("1", [0]), ("4", [0, 1, 2, 3]), ("0,4,7", [0, 4, 7]),
                                        ("5,", [5])])
def test_parse_seeds(spec, seeds):
    assert exp.parse_seeds(spec, 3) == seeds


@pytest.mark.parametrize("argv,msg", [
    (["--seeds", "0"], "--seeds '0': give a count N >= 1"), (["--seeds", "1,1"], "distinct non-negative"),
    (["--seeds", "a"], "give a count"), (["--set", "train.seed=3"], "the experiment's seeds are --seeds"),
    (["--sweep", "data.noise_rate"], "expected key=v1,v2"), (["--sweep", "train.seed=1,2"], "seeds are --seeds"),
    (["--sweep", "data.nope=1,2"], "data.nope"), (["--sweep", "data.noise_rate=0.1,0.1"], "each value once"),
    (["--sweep", "data.noise_rate=x"], "data.noise_rate")])
def test_bad_seeds_and_sweeps_are_one_line_errors(tmp_path, capsys, argv, msg):
    assert run_main(harness_main, ["atlantis", "experiment", "--run-dir", str(tmp_path / "e"), *argv]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and not (tmp_path / "e").exists()


def test_noisy_fit_counts_only_flipped_examples():
    train = {"a": ("x", "y", True), "b": ("x", "x", False), "c": ("y", "x", True), "d": ("z", "x", True)}
    ev = {"predictions": [{"id": "a", "pred": "y"}, {"id": "b", "pred": "y"}, {"id": "c", "pred": "y"},
                          {"id": "d", "pred": None}]}
    assert exp.noisy_fit(ev, train) == {"n_flipped": 3, "fits_noisy": 1 / 3, "recovers_gold": 1 / 3}
    assert exp.noisy_fit({"predictions": [{"id": "b", "pred": "x"}]}, train)["fits_noisy"] is None
