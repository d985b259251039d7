import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from support import load_launch

from harness.cli import InputError, run_main
from harness.data.labels import SEMEVAL_19, SPACES
from harness.eval import evaluate_model, read_eval_json, write_eval_json
from harness.eval.evaluate import predictions_path, write_predictions
from harness.eval.metrics import compute_metrics
from harness.eval.plots import (
    plot_learning_curves,
    plot_weights_noisy,
    plot_weights_per_label,
    read_evals_jsonl,
)
from harness.eval.semeval import align_files, format_scorer_file, read_scorer_file, semeval_scores

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rank_common import examples, model, tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


def test_cli_score_official_last_and_errors(tmp_path, capsys):
    key = tmp_path / "key.txt"
    key.write_text("1\tCause-Effect(e1,e2)\r\n2\tOther\r\n3\tMessage-Topic(e2,e1)\r\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("3\tMessage-Topic(e1,e2)\n1\tCause-Effect(e1,e2)\n")
    cli = load_launch("eval")
    assert run_main(cli.main, ["score", "--key", str(key), "--pred", str(pred)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    # CE: P 1/1 R 1/1 F1 100; MT: 0 (wrong direction) -> Perl mean over the 2 relations in the key = 50
    assert out[-1] == ("<<< The official score is (9+1)-way evaluation with directionality taken into account: "
                       "macro-averaged F1 = 50.00% >>>")
    assert "1 id(s) of the key have no prediction" in out[0]
    pred.write_text("1\tOther\n1\tOther\n")
    assert run_main(cli.main, ["score", "--key", str(key), "--pred", str(pred)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "pred.txt:2: id 1 is already defined" in err and err.count("\n") == 1
    pred.write_text("9\tOther\n")
    assert run_main(cli.main, ["score", "--key", str(key), "--pred", str(pred)]) == 2
    assert "not in the key file" in capsys.readouterr().err


def test_cli_run_exported_model_writes_eval_json(tmp_path):
    tok = tokenizer()
    export = tmp_path / "export"
    model("tiny-qwen2", tok).save_pretrained(export)
    tok.save_pretrained(export)
    run_dir = tmp_path / "run"
    sets = ["data.dataset=synthetic", "data.synthetic_size=40", "data.max_eval_examples=6",
            f"run_dir={run_dir}", "eval.batch_examples=4"]
    assert load_launch("eval").main(["run", "--model", str(export), *[a for s in sets for a in ("--set", s)]]) == 0
    ev = read_eval_json(run_dir / "eval.json")
    assert ev["n"] == 6 and ev["label_space"] == "synthetic" and ev["model"]["spec"] == str(export)
    assert ev["data"]["split"] == "test" and ev["config"]["eval"]["batch_examples"] == 4
    assert {"micro_f1", "macro_f1_relations", "n_invalid"} <= set(ev)
    assert not (run_dir / "predictions.txt").exists()  # no official scorer format for the synthetic labels


CE1, CE2, CW1, MT2 = "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)", "Component-Whole(e1,e2)", "Message-Topic(e2,e1)"


def _semeval_result() -> dict:
    """A semeval19 result as evaluate_model assembles it, with every kind of prediction: right, wrong direction,
    wrong relation, Other, and invalid (None) on a relation and on an Other example."""
    gold = [CE1, CE1, CE2, CW1, "Other", "Other", MT2, CW1, MT2, "Other"]
    pred = [CE1, CE2, CE2, "Other", CW1, None, MT2, None, MT2, "Other"]
    res = {"method": "generate", "label_space": "semeval19", **compute_metrics(gold, pred, SPACES["semeval19"])}
    res["predictions"] = [{"id": str(100 + i), "gold": g, "pred": p} for i, (g, p) in enumerate(zip(gold, pred))]
    return res


def test_predictions_txt_round_trips_through_the_official_scorer(tmp_path, capsys):
    ev = write_eval_json(tmp_path / "eval.json", _semeval_result())
    assert ev["n_invalid"] == 2 and 0 < ev["official"] < 100
    path = predictions_path(tmp_path / "eval.json")
    assert path == tmp_path / "predictions.txt"
    assert write_predictions(path, ev) == 2  # the two invalid predictions, written as Other
    assert path.read_text().splitlines()[5] == "105\tOther"
    ids = [p["id"] for p in ev["predictions"]]
    key = tmp_path / "key.txt"
    key.write_text(format_scorer_file(ids, [p["gold"] for p in ev["predictions"]]))
    _, gold, pred = align_files(read_scorer_file(key), read_scorer_file(path))
    s = semeval_scores(gold, pred)
    assert s["official"] == ev["official"] and s["official_perl"] == ev["semeval"]["official_perl"]
    assert s["directed"] == ev["semeval"]["directed"]  # Other for None changes no P/R/F1 view
    assert s["accuracy_19"] == ev["semeval"]["accuracy_19"] + 10.0  # ... only the invalid on an Other example
    assert run_main(load_launch("eval").main, ["score", "--key", str(key), "--pred", str(path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith(f"macro-averaged F1 = {ev['semeval']['official_perl']:0.2f}% >>>")


def test_predictions_path_beside_out_file(tmp_path):
    assert predictions_path(tmp_path / "eval.json") == tmp_path / "predictions.txt"
    assert predictions_path(tmp_path / "sft_test.json") == tmp_path / "sft_test.predictions.txt"


def test_write_predictions_refuses_what_the_scorer_would(tmp_path):
    res = _semeval_result()
    with pytest.raises(ValueError, match="needs semeval19"):
        write_predictions(tmp_path / "p.txt", {**res, "label_space": "semeval10"})
    res["predictions"][0]["id"] = "semeval:test:1"
    with pytest.raises(InputError, match="'semeval:test:1' is not numeric"):
        write_predictions(tmp_path / "p.txt", res)
    assert not (tmp_path / "p.txt").exists()


def _semeval_jsonl(folder: Path) -> Path:
    """A tiny jsonl dataset in the semeval19 label space with SemEval-like numeric ids."""
    folder.mkdir()
    gold = [CE1, CE2, "Other", CW1, MT2, "Other"]
    for name, first in (("train", 1), ("test", 8001)):
        rows = [{"id": first + i, "text": f"The <e1>w{i}</e1> met the <e2>v{i}</e2>.", "label": g}
                for i, g in enumerate(gold)]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_cli_run_semeval19_writes_predictions_the_scorer_accepts(tmp_path, capsys):
    tok = tokenizer()
    export = tmp_path / "export"
    model("tiny-qwen2", tok).save_pretrained(export)
    tok.save_pretrained(export)
    data = _semeval_jsonl(tmp_path / "data")
    sets = ["data.dataset=jsonl", f"data.data_dir={data}", "data.label_space=semeval19", "eval.batch_examples=6",
            f"run_dir={tmp_path / 'run'}"]
    out = tmp_path / "evals" / "sft_test.json"
    argv = ["run", "--model", str(export), "--out", str(out), *[a for s in sets for a in ("--set", s)]]
    assert run_main(load_launch("eval").main, argv) == 0
    ev = read_eval_json(out)
    pred = tmp_path / "evals" / "sft_test.predictions.txt"
    lines = pred.read_text().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [str(8001 + i) for i in range(6)]
    assert [ln.split("\t")[1] for ln in lines] == [p["pred"] or "Other" for p in ev["predictions"]]
    key = tmp_path / "key.txt"
    key.write_text(format_scorer_file([p["id"] for p in ev["predictions"]], [p["gold"] for p in ev["predictions"]]))
    _, gold, predicted = align_files(read_scorer_file(key), read_scorer_file(pred))
    assert semeval_scores(gold, predicted)["official"] == ev["official"]


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
    assert load_launch("eval").main(args) == 0
    _assert_png(run.plots / "weights_per_label.png")
    write_manifest(run.weights_manifest, {**manifest, "dataset_fingerprint": "another"})
    with pytest.raises(InputError, match="dataset_fingerprint: file has 'another'"):
        load_launch("eval").main(args)


def test_cli_eval_several_splits_loads_once_and_writes_each(tmp_path, capsys):
    tok = tokenizer()
    export = tmp_path / "export"
    model("tiny-qwen2", tok).save_pretrained(export)
    tok.save_pretrained(export)
    run_dir = tmp_path / "run"
    sets = ["data.dataset=synthetic", "data.synthetic_size=20", "data.synthetic_test_size=7", "data.noise_rate=0.5",
            f"run_dir={run_dir}", "eval.batch_examples=4"]
    argv = ["run", "--model", str(export), "--split", "test,train", *[a for s in sets for a in ("--set", s)]]
    assert load_launch("eval").main(argv) == 0
    test, train = read_eval_json(run_dir / "eval.json"), read_eval_json(run_dir / "eval-train.json")
    assert (test["n"], test["data"]["split"]) == (7, "test") and (train["n"], train["data"]["split"]) == (18, "train")
    # the training split is scored against gold; each prediction is the same as a one-split run's
    assert run_main(load_launch("eval").main, [*argv[:4], "train", *argv[5:], "--out", str(tmp_path / "t.json")]) == 0
    assert read_eval_json(tmp_path / "t.json")["predictions"] == train["predictions"]
    assert all(p["gold"] != "" for p in train["predictions"])
    assert run_main(load_launch("eval").main, [*argv[:4], "test,test", *argv[5:]]) == 2
    assert "each once" in capsys.readouterr().err
