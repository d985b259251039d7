import importlib.util
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from harness.config import DataConfig, RunConfig, TrainConfig
from harness.data.labels import SEMEVAL_19, SPACES
from harness.eval import evaluate_model, read_eval_json, write_eval_json
from harness.eval.compare import compare_table
from harness.eval.plots import (
    plot_learning_curves,
    plot_weights_noisy,
    plot_weights_per_label,
    read_evals_jsonl,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rank_common import examples, model, tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _launch():
    spec = importlib.util.spec_from_file_location("launch_eval", ROOT / "launch" / "eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_evaluate_model_semeval19_and_eval_json_round_trip(tmp_path):
    tok = tokenizer()
    exs = examples(5)
    res = evaluate_model(model("tiny-qwen2", tok), tok, exs, "semeval19", "semeval", batch_examples=2)
    assert {"accuracy", "macro_f1", "official", "n_invalid", "per_class", "confusion"} <= set(res)
    assert res["n_invalid"] == 0 and res["n"] == 5 and res["official"] is not None
    preds = [p["pred"] for p in res["predictions"]]
    assert all(p in SEMEVAL_19 for p in preds) and [p["gold"] for p in res["predictions"]] == [e.label for e in exs]
    assert res["accuracy"] == pytest.approx(np.mean([p == e.label for p, e in zip(preds, exs)]))
    written = write_eval_json(tmp_path / "eval.json", res, model={"spec": "tiny-qwen2"}, data={"split": "test"})
    assert read_eval_json(tmp_path / "eval.json") == written
    assert written["model"] == {"spec": "tiny-qwen2"} and not list(tmp_path.glob(".eval.json.tmp*"))


def test_evaluate_model_semeval10_reports_official_undefined():
    tok = tokenizer()
    exs = [e.__class__(**{**e.__dict__, "label": e.label.split("(")[0]}) for e in examples(3)]
    res = evaluate_model(model("tiny-t5", tok), tok, exs, SPACES["semeval10"], "semeval")
    assert res["official"] is None and "not defined" in res["official_note"]
    assert {"macro_f1_with_other", "macro_f1_without_other"} <= set(res)


def _assert_png(path: Path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = plt.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50


def test_plots_written_as_valid_pngs(tmp_path):
    runs = {}
    for name, f1 in (("sft", [0.2, 0.4, 0.5]), ("atlantis", [0.3, 0.5, 0.6])):
        d = tmp_path / name
        d.mkdir()
        lines = [json.dumps({"step": 10 * (i + 1), "split": "dev", "macro_f1": v, "train_loss": 2.0 - v})
                 for i, v in enumerate(f1)]
        (d / "evals.jsonl").write_text("\n".join(lines) + "\n")
        runs[name] = read_evals_jsonl(d)
    _assert_png(plot_learning_curves(runs, tmp_path / "curves.png"))
    rng = np.random.default_rng(0)
    w = rng.gamma(2.0, 0.5, size=60).astype(np.float32)
    gold = [SEMEVAL_19[i % 4] for i in range(60)]
    _assert_png(plot_weights_per_label(w, gold, tmp_path / "per_label.png"))
    _assert_png(plot_weights_noisy(w, np.arange(60) % 5 == 0, tmp_path / "noisy.png"))
    with pytest.raises(ValueError, match="1-D array of 60"):
        plot_weights_noisy(w[:10], np.arange(60) % 5 == 0, tmp_path / "bad.png")


def test_read_evals_jsonl_names_file_and_line(tmp_path):
    (tmp_path / "evals.jsonl").write_text('{"step": 1, "split": "dev", "macro_f1": 0.1, "train_loss": 1}\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"evals.jsonl:2: missing field\(s\) \['split', 'macro_f1', 'train_loss'\]"):
        read_evals_jsonl(tmp_path)


def _fake_run(root: Path, name: str, noise: float, weights_file: str, f1: float) -> Path:
    d = root / name
    d.mkdir()
    RunConfig(run_dir=str(d), data=DataConfig(dataset="semeval", noise_rate=noise, label_space="semeval19"),
              train=TrainConfig(weights_file=weights_file)).dump(d / "config.json")
    write_eval_json(d / "eval.json", {"macro_f1": f1, "official": 100 * f1, "label_space": "semeval19"})
    return d


def test_compare_table_sft_vs_atlantis(tmp_path, capsys):
    dirs = [_fake_run(tmp_path, "a", 0.2, "", 0.50), _fake_run(tmp_path, "b", 0.2, "w.f32", 0.60),
            _fake_run(tmp_path, "c", 0.0, "", 0.70)]
    columns, rows = compare_table(dirs)
    assert columns == ["setting", "noise rate", "sft macro-F1 %", "atlantis macro-F1 %", "delta vs sft (pts)"]
    assert rows[0][1:] == [0.0, pytest.approx(70.0), "-", "-"]
    assert rows[1][1:] == [0.2, pytest.approx(50.0), pytest.approx(60.0), pytest.approx(10.0)]
    assert _launch().main(["compare", *map(str, dirs)]) == 0
    assert "atlantis" in capsys.readouterr().out


def test_cli_score_official_last_and_errors(tmp_path, capsys):
    key = tmp_path / "key.txt"
    key.write_text("1\tCause-Effect(e1,e2)\r\n2\tOther\r\n3\tMessage-Topic(e2,e1)\r\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("3\tMessage-Topic(e1,e2)\n1\tCause-Effect(e1,e2)\n")
    cli = _launch()
    assert cli.main(["score", "--key", str(key), "--pred", str(pred)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    # CE: P 1/1 R 1/1 F1 100; MT: 0 (wrong direction) -> Perl mean over the 2 relations in the key = 50
    assert out[-1] == ("<<< The official score is (9+1)-way evaluation with directionality taken into account: "
                       "macro-averaged F1 = 50.00% >>>")
    assert "1 id(s) of the key have no prediction" in out[0]
    pred.write_text("1\tOther\n1\tOther\n")
    assert cli.main(["score", "--key", str(key), "--pred", str(pred)]) == 2
    assert "pred.txt:2: id 1 is already defined" in capsys.readouterr().err
    pred.write_text("9\tOther\n")
    assert cli.main(["score", "--key", str(key), "--pred", str(pred)]) == 2
    assert "not in the key file" in capsys.readouterr().err


def test_cli_run_exported_model_writes_eval_json(tmp_path):
    tok = tokenizer()
    export = tmp_path / "export"
    model("tiny-qwen2", tok).save_pretrained(export)
    tok.save_pretrained(export)
    run_dir = tmp_path / "run"
    sets = ["data.dataset=synthetic", "data.synthetic_size=40", "data.max_eval_examples=6",
            f"run_dir={run_dir}", "eval.batch_examples=4"]
    assert _launch().main(["run", "--model", str(export), *[a for s in sets for a in ("--set", s)]]) == 0
    ev = read_eval_json(run_dir / "eval.json")
    assert ev["n"] == 6 and ev["label_space"] == "synthetic" and ev["model"]["spec"] == str(export)
    assert ev["data"]["split"] == "test" and ev["config"]["eval"]["batch_examples"] == 4
    assert {"micro_f1", "macro_f1_relations", "n_invalid"} <= set(ev)


def test_cli_weights_reads_through_checked_loader(tmp_path):
    from harness.config import load_config
    from harness.data.dataset import load_splits
    from harness.data.examples import fingerprint
    from harness.manifest import write_manifest
    from harness.run import RunDir

    run = RunDir(tmp_path / "run")
    sets = ["data.dataset=synthetic", "data.synthetic_size=40", f"run_dir={run.root}"]
    splits = load_splits(load_config(None, sets).data)
    n = len(splits.train)
    run.weights_dir.mkdir(parents=True)
    np.linspace(0.5, 1.5, n, dtype=np.float32).tofile(run.weights)
    manifest = {"dataset_fingerprint": fingerprint(splits.train), "template_hash": splits.template.hash,
                "n_examples": n}
    write_manifest(run.weights_manifest, manifest)
    args = ["weights", "--out-dir", str(run.plots), *[a for s in sets for a in ("--set", s)]]
    assert _launch().main(args) == 0
    _assert_png(run.plots / "weights_per_label.png")
    write_manifest(run.weights_manifest, {**manifest, "dataset_fingerprint": "another"})
    with pytest.raises(SystemExit, match="dataset_fingerprint: file has 'another'"):
        _launch().main(args)
