"""launch/docre.py eval: prints, writes the JSON; a bad input is one line and exit status 2."""

import json
from pathlib import Path

from support import load_launch

from harness.cli import run_main

ROOT = Path(__file__).resolve().parents[2]
FIX = Path(__file__).parent / "fixtures"


def test_eval_writes_json(tmp_path):
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps([{"title": "Norland", "h_idx": 1, "t_idx": 0, "r": "P17"},
                                {"title": "Nowhere", "h_idx": 0, "t_idx": 1, "r": "P17"}]))
    argv = ["eval", "--pred", str(pred), "--gold", str(FIX / "docs.json"), "--facts", str(FIX / "facts_mara.fact"),
            "--eps"]
    assert run_main(load_launch("docre").main, argv) == 0
    res = json.loads((tmp_path / "p.eval.json").read_text())
    assert (res["correct"], res["n_deduped"], res["unknown_titles"], res["eps"]) == (1, 2, 1, True)
    assert res["re"]["precision"] == 0.5 and res["re"]["recall"] == 0.2


def test_eval_input_errors(tmp_path, capsys):
    mod = load_launch("docre")
    assert run_main(mod.main, ["eval", "--pred", str(tmp_path / "none.json"), "--gold", str(FIX / "docs.json")]) == 2
    assert "not found" in capsys.readouterr().err
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps({"title": "x"}))
    assert run_main(mod.main, ["eval", "--pred", str(pred), "--gold", str(FIX / "docs.json")]) == 2
    assert "expected a JSON list" in capsys.readouterr().err
