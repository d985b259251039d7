from pathlib import Path

import pytest
from support import cli, load_launch

from harness.cli import InputError, run_main
from harness.config import DataConfig, RunConfig, TrainConfig
from harness.eval import write_eval_json
from harness.eval.compare import compare_table, fold_constant_columns

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["run", "setting", "split", "noise rate", "seed", "method", "macro-F1 %"]


def _fake_run(folder: Path, noise: float, weights_file: str, f1: float, official: float | None = None,
              space: str = "semeval19", evaluated: bool = True, seed: int = 0) -> Path:
    folder.mkdir(parents=True)
    RunConfig(run_dir=str(folder), data=DataConfig(dataset="semeval", noise_rate=noise, label_space=space),
              train=TrainConfig(weights_file=weights_file, seed=seed)).dump(folder / "config.json")
    if evaluated:
        write_eval_json(folder / "eval.json", {"macro_f1": f1, "official": official, "label_space": space},
                        data={"split": "test"})
    return folder


def test_compare_rows_keyed_by_folder_with_official_when_defined(tmp_path):
    dirs = [_fake_run(tmp_path / "sft-20", 0.2, "", 0.50, official=48.5),
            _fake_run(tmp_path / "atl-20", 0.2, "w.f32", 0.60, official=61.25),
            _fake_run(tmp_path / "atl-20-clip", 0.2, "w2.f32", 0.55, official=57.0),  # same setting: its own row
            _fake_run(tmp_path / "sft-0", 0.0, "", 0.70, space="semeval10")]  # official undefined
    columns, rows = compare_table(dirs)
    assert columns == COLUMNS + ["SemEval official %", "delta vs sft (pts)"]
    s19, s10 = "semeval/semeval19/tiny-qwen2", "semeval/semeval10/tiny-qwen2"
    assert rows == [
        ["sft-0", s10, "test", 0.0, 0, "sft", pytest.approx(70.0), "-", "-"],
        ["sft-20", s19, "test", 0.2, 0, "sft", pytest.approx(50.0), 48.5, "-"],
        ["atl-20", s19, "test", 0.2, 0, "atlantis", pytest.approx(60.0), 61.25, pytest.approx(10.0)],
        ["atl-20-clip", s19, "test", 0.2, 0, "atlantis", pytest.approx(55.0), 57.0, pytest.approx(5.0)],
    ]  # the official score is shown as eval.json holds it: already a percentage


def test_compare_without_official_score_has_no_column(tmp_path):
    columns, rows = compare_table([_fake_run(tmp_path / "a", 0.1, "w.f32", 0.4, space="semeval10")])
    assert columns == COLUMNS + ["delta vs sft (pts)"]
    assert rows == [["a", "semeval/semeval10/tiny-qwen2", "test", 0.1, 0, "atlantis", pytest.approx(40.0), "-"]]


def test_compare_refuses_colliding_settings_and_names(tmp_path, capsys):
    a = _fake_run(tmp_path / "a", 0.2, "", 0.5)
    b = _fake_run(tmp_path / "b", 0.2, "", 0.6)
    with pytest.raises(InputError, match=r"colliding settings: .*/a and .*/b are both SFT runs of "
                                         r"semeval/semeval19/tiny-qwen2 \(test split, noise rate 0.2, seed 0\)"):
        compare_table([a, b])
    twin = _fake_run(tmp_path / "other" / "a", 0.0, "", 0.5)  # same folder name: keyed by the path's unique end
    assert sorted(r[0] for r in compare_table([a, twin])[1]) == sorted([f"{tmp_path.name}/a", "other/a"])
    with pytest.raises(InputError, match="given twice"):
        compare_table([a, a])
    assert run_main(load_launch("eval").main, ["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: colliding settings") and err.count("\n") == 1


def test_compare_cli_missing_eval_json_is_one_line_exit_2(tmp_path):
    done = _fake_run(tmp_path / "sft", 0.2, "", 0.5)
    todo = _fake_run(tmp_path / "atlantis", 0.2, "w.f32", 0.0, evaluated=False)
    out = cli("launch/eval.py", "compare", done, todo)
    assert out.rc == 2, out.stderr
    assert "Traceback" not in out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: {todo / 'eval.json'} not found: evaluate the run first: python -m harness atlantis eval "
                      f"--model {todo / 'export'} --config {todo / 'config.json'}"]


def test_compare_cli_prints_folder_keys(tmp_path, capsys):
    dirs = [_fake_run(tmp_path / "sft", 0.2, "", 0.5, official=48.5),
            _fake_run(tmp_path / "atlantis", 0.2, "w.f32", 0.6, official=61.25)]
    assert run_main(load_launch("eval").main, ["compare", *map(str, dirs)]) == 0
    out = capsys.readouterr().out
    assert "setting semeval/semeval19/tiny-qwen2, split test, noise rate 0.2, seed 0" in " ".join(out.split())
    assert "│ atlantis │ atlantis │" in out and "61.25" in out and "SemEval official" in out


def test_fold_constant_columns_moves_shared_setting_to_the_title():
    columns = ["run", "setting", "split", "noise rate", "method"]
    rows = [["a", "s", "test", 0.0, "sft"], ["b", "s", "test", 0.2, "sft"]]
    common, cols, kept = fold_constant_columns(columns, rows)
    assert common == {"setting": "s", "split": "test"}
    assert cols == ["run", "noise rate", "method"] and kept == [["a", 0.0, "sft"], ["b", 0.2, "sft"]]


def _seeds(tmp_path, sft, atl, noise=0.2):
    dirs = []
    for s, (f_sft, f_atl) in enumerate(zip(sft, atl)):
        dirs += [_fake_run(tmp_path / f"seed-{s}" / "sft", noise, "", f_sft, seed=s),
                 _fake_run(tmp_path / f"seed-{s}" / "atlantis", noise, "w.f32", f_atl, seed=s)]
    return dirs


def test_compare_pairs_each_seed_with_its_own_sft_and_aggregates_with_a_t_interval(tmp_path, capsys):
    from scipy import stats

    from harness.eval.compare import aggregate_table, read_rows

    dirs = _seeds(tmp_path, [0.50, 0.60, 0.55], [0.52, 0.65, 0.56])
    columns, rows = compare_table(dirs)
    assert [(r[0], r[4], r[5], r[-1]) for r in rows] == [
        ("seed-0/sft", 0, "sft", "-"), ("seed-1/sft", 1, "sft", "-"), ("seed-2/sft", 2, "sft", "-"),
        ("seed-0/atlantis", 0, "atlantis", pytest.approx(2.0)), ("seed-1/atlantis", 1, "atlantis", pytest.approx(5.0)),
        ("seed-2/atlantis", 2, "atlantis", pytest.approx(1.0))]
    cols, table, records = aggregate_table(read_rows(dirs))
    assert cols[:6] == ["setting", "split", "noise rate", "method", "seeds", "macro-F1 % mean"]
    sft, atl = records
    assert sft["method"] == "sft" and sft["macro_f1"]["mean"] == pytest.approx(55.0) and sft["difference"] is None
    ci = stats.ttest_1samp([2.0, 5.0, 1.0], 0).confidence_interval(0.95)
    assert atl["difference"]["mean"] == pytest.approx(8 / 3) and atl["difference"]["seeds"] == [0, 1, 2]
    assert (atl["difference"]["lo"], atl["difference"]["hi"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert table[1][-1] == f"[{ci.low:+.2f}, {ci.high:+.2f}]"
    assert run_main(load_launch("eval").main, ["compare", *map(str, dirs)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "over seeds" in out and f"{ci.low:+.2f}" in out


def test_aggregate_pairs_only_seeds_both_methods_ran(tmp_path):
    from harness.eval.compare import aggregate_table, read_rows

    dirs = _seeds(tmp_path, [0.5, 0.6], [0.6, 0.6])
    dirs.append(_fake_run(tmp_path / "seed-7" / "atlantis", 0.2, "w.f32", 0.9, seed=7))  # no SFT at seed 7
    _, _, (sft, atl) = aggregate_table(read_rows(dirs))
    assert atl["seeds"] == [0, 1, 7] and atl["difference"]["seeds"] == [0, 1]
    assert atl["difference"]["mean"] == pytest.approx(5.0)
