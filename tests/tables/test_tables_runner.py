"""The tables runner: figures read back from each recipe's outputs (hand-written files), what a row lacks (one line
each), a failed step failing only the rows that need it (run once), the reports, the command's input errors."""

import json
from pathlib import Path

import pytest
from support import cli

from harness.recipes.tables import runner
from harness.recipes.tables.plan import Context, Plan, Requirement, Step, plan_row
from harness.recipes.tables.specs import select


def _write(path: Path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


def _prf(p, r, f):
    return {"precision": p, "recall": r, "f1": f}


def _plan(spec, tmp_path):
    [(table, row)] = select(spec)
    return table, row, plan_row(table, row, Context(tmp_path, tmp_path / "data", {}, smoke=True, tokenizer="t"))


def test_measure_atlantis_and_qa4re(tmp_path):
    _, row, plan = _plan("atlantis-t1/flan-t5", tmp_path)
    _write(Path(plan.outputs["summary"]), {"methods": {"sft": {"mean": 50.0, "sd": None, "n": 1},
                                                       "atlantis": {"mean": 25.0, "sd": None, "n": 1}}})
    assert runner.measure(row, plan) == (0.5, 0.25)  # fractions, as the report prints them
    _, row, plan = _plan("qa4re/tacred", tmp_path)
    _write(Path(plan.outputs["metrics"]), {"micro_f1": 0.522})
    assert runner.measure(row, plan) == pytest.approx((52.2,))  # percent, as QA4RE prints


def test_measure_docre_columns(tmp_path):
    ev = {"re": _prf(0.69, 0.2743, 0.3925), "ign": _prf(0.68, 0.2743, 0.3862), "intra": _prf(0, 0, 0.4543),
          "inter": _prf(0, 0, 0.3167), "n_deduped": 4925, "n_submitted": 5000}
    _, row, plan = _plan("lmrc-t2/docred-dev", tmp_path)
    _write(Path(plan.outputs["dev:eval"]), ev)
    assert runner.measure(row, plan) == pytest.approx((69.0, 27.43, 39.25, 38.62, 4925))
    _, row, plan = _plan("lmrc-t4/lmrc-13b", tmp_path)
    _write(Path(plan.outputs["dev:eval"]), ev)
    assert runner.measure(row, plan) == pytest.approx((45.43, 31.67))
    _, row, plan = _plan("lmrc-t5/lmrc", tmp_path)
    _write(Path(plan.outputs["dev:rcp_stats"]), {"related_f1": 0.6464})
    assert runner.measure(row, plan) == pytest.approx((64.64, 38.62, 39.25))
    _, row, plan = _plan("lmrc-t5/no-rcp-llm", tmp_path)
    _write(Path(plan.outputs["dev:binary"]), {"detection": _prf(0.2, 0.7, 0.313)})
    _write(Path(plan.outputs["dev:eval"]), ev)
    assert runner.measure(row, plan) == pytest.approx((31.3, 38.62, 39.25))
    _, row, plan = _plan("lmrc-t5/rc-gold", tmp_path)
    _write(Path(plan.outputs["dev:eval"]), ev)
    assert runner.measure(row, plan)[0] is None  # no RCP in the gold-pair row
    _, row, plan = _plan("lmrc-t3a/lmrc-7b", tmp_path)
    _write(Path(plan.outputs["dev:eval"]), ev)
    _write(Path(plan.outputs["test:eval"]), {**ev, "re": _prf(0, 0, 0.5473), "ign": _prf(0, 0, 0.5281)})
    assert runner.measure(row, plan) == pytest.approx((38.62, 39.25, 52.81, 54.73))


def test_measure_gen(tmp_path):
    _, row, plan = _plan("gen/semeval-icl", tmp_path)
    _write(Path(plan.outputs["metrics"]), {"overall": {"accepted": 7, "distinct_2": 0.5, "self_bleu": 0.25}})
    _write(Path(plan.outputs["eval"]), {"macro_f1": 0.125})
    assert runner.measure(row, plan) == (7, 0.5, 0.25, 0.125)


def test_available_checks_flags_fields_values_and_files():
    assert runner.available(Requirement("flag", "atlantis experiment", "--noise"))
    assert not runner.available(Requirement("flag", "atlantis experiment", "--no-such-flag"))
    assert runner.available(Requirement("field", "DocREConfig", "rcp.threshold_mode"))
    assert not runner.available(Requirement("field", "DocREConfig", "rcp.no_such_field"))
    assert not runner.available(Requirement("field", "DocREConfig", "nosection.x"))
    assert runner.available(Requirement("value", "harness.recipes.gen.config:MODES", "batch"))
    assert not runner.available(Requirement("value", "harness.recipes.gen.config:MODES", "nope"))
    assert runner.available(Requirement("file", "the repository", "examples/semeval.json"))
    assert not runner.available(Requirement("file", "the repository", "examples/nope.json"))


def test_missing_lists_roles_files_and_requirements_one_line_each(tmp_path):
    (tmp_path / "here.txt").write_text("x")
    plan = Plan((), {}, needs=("needs --ckpt a=PATH (A)",), files=(str(tmp_path / "here.txt"),
                                                                      str(tmp_path / "gone.json")),
                requires=(Requirement("flag", "qa4re eval", "--nope"), Requirement("flag", "qa4re eval", "--model")))
    assert runner.missing(plan) == ["needs --ckpt a=PATH (A)", f"needs the data file {tmp_path / 'gone.json'}",
                                    "needs the flag --nope of `python -m harness qa4re eval` (not in this checkout)"]


def test_a_failed_step_fails_the_rows_needing_it_once_and_the_others_run(tmp_path, monkeypatch):
    """Three rows: two share a step that fails (an argparse error, exit 2: run once, both rows failed, the log's
    error line named), one lacks a checkpoint (needs, not started); a step whose output exists is not run."""
    done = tmp_path / "done.json"
    done.write_text("{}")
    bad = Step("shared/bad", ("atlantis", "no-such-command"), str(tmp_path / "never"))
    skipped = Step("skip", ("atlantis", "no-such-command"), str(done))
    plans = {"flan-t5": Plan((skipped, bad), {}), "qwen2-1.5b": Plan((bad,), {}),
             "qwen2-7b": Plan((bad,), {}, needs=("needs --ckpt qwen2-7b=PATH (x)",))}
    monkeypatch.setattr(runner, "plan_row", lambda table, row, ctx: plans[row.id])
    ctx = Context(tmp_path / "runs", tmp_path, {})
    _write(runner.record_path(ctx.run_dir, skipped), {"argv": list(skipped.argv)})  # made by this command line
    outcomes, timings = runner.run_rows(select("atlantis-t1"), ctx)
    assert [o.status for o in outcomes] == ["failed", "failed", "needs"]
    assert list(timings) == ["shared/bad"]  # run once; "skip" had its output
    log = tmp_path / "runs" / "logs" / "shared__bad.log"
    assert outcomes[0].lines == outcomes[1].lines and outcomes[0].lines[0].startswith(
        f"step shared/bad failed (exit 2); see {log}: error: python -m harness atlantis: argument")
    assert outcomes[2].lines == ["needs --ckpt qwen2-7b=PATH (x)"]
    res = runner.report(outcomes, ctx, {"smoke": False})
    assert [r["status"] for r in res["tables"][0]["rows"]] == ["failed", "failed", "needs"]
    assert json.loads((ctx.run_dir / "results.json").read_text())["tables"][0]["id"] == "atlantis-t1"
    md = (ctx.run_dir / "results.md").read_text()
    assert "| Flan-T5 (base; p_S small) | 0.849 / - | 0.854 / - | failed: step shared/bad failed" in md
    assert "| Qwen2-7B (p_S 1.5B) | 0.885 / - | 0.877 / - | needs: needs --ckpt qwen2-7b=PATH (x) |" in md


def test_an_output_made_by_another_command_line_is_not_reused(tmp_path, monkeypatch):
    done = tmp_path / "done.json"
    done.write_text("{}")
    step = Step("s", ("atlantis", "compare", "--run-dir", "a"), str(done))
    monkeypatch.setattr(runner, "plan_row", lambda table, row, ctx: Plan((step,), {}))
    ctx = Context(tmp_path / "runs", tmp_path, {})
    for recorded in (None, ["atlantis", "compare", "--run-dir", "b"]):
        if recorded:
            _write(runner.record_path(ctx.run_dir, step), {"argv": recorded})
        [o], timings = runner.run_rows(select("atlantis-t3"), ctx)
        assert o.status == "failed" and not timings
        assert o.lines == [f"step s: {done} exists but was not made by this command line (recorded: "
                           f"{runner.record_path(ctx.run_dir, step)}); use another --run-dir, or delete it to run "
                           "the step again"]


def test_markdown_puts_measured_beside_paper():
    res = {"smoke": True, "tables": [{"id": "t", "title": "T", "source": "S", "columns": ["F1"], "note": "n",
                                      "rows": [{"label": "a", "paper": [52.2], "measured": [0.5], "status": "ok",
                                                "lines": []}]}]}
    md = runner.markdown(res)
    assert "| row | F1 paper / measured | status |" in md and "| a | 52.20 / 0.500 | ok |" in md and "Note: n" in md


def test_tables_run_input_errors(tmp_path):
    def run(*args):
        return cli("-m", "harness", "tables", "run", *args, in_process=True)

    data = ["--data-dir", str(tmp_path)]
    for args, msg in [(["nope", *data], "no table 'nope'"), (["qa4re/x", *data], "table qa4re has no row 'x'"),
                      (["qa4re", *data, "--ckpt", "flan-t5-xxl"], "expected ROLE=PATH"),
                      (["qa4re", *data, "--ckpt", "gpt=/x"], "--ckpt gpt: no such role; known: flan-t5-small"),
                      (["qa4re", *data, "--ckpt", f"flan-t5-xxl={tmp_path}/none"], "no such file or folder"),
                      (["qa4re", "--data-dir", str(tmp_path / "none")], "is not a folder"),
                      (["qa4re", *data, "--nproc", "0"], "--nproc 0: must be >= 1"),
                      (["atlantis-t1", *data, "--nproc", "3"], "--nproc 3: atlantis-t1/flan-t5's batch 32")]:
        res = run(*args)
        assert res.rc == 2 and len(res.error_lines()) == 1 and msg in res.error_lines()[0], (args, res.stderr)


def test_tables_run_reports_every_row_lacking_data_or_checkpoints(tmp_path):
    """No checkpoints and an empty data folder: nothing runs, each row says what it needs, exit 0."""
    res = cli("-m", "harness", "tables", "run", "lmrc-t3b", "--data-dir", str(tmp_path), "--run-dir",
              str(tmp_path / "runs"), in_process=True)
    assert res.rc == 0, res.stderr
    rows = json.loads((tmp_path / "runs" / "results.json").read_text())["tables"][0]["rows"]
    assert [r["status"] for r in rows] == ["needs", "needs"]
    assert rows[0]["lines"][0] == "needs --ckpt llama2-13b-chat=PATH (meta-llama/Llama-2-13b-chat-hf)"
    assert f"needs the data file {tmp_path}/redocred/train_revised.json" in rows[1]["lines"]
    assert any("roberta-large" in line for line in rows[1]["lines"])


def test_tables_list_names_every_row_and_role():
    res = cli("-m", "harness", "tables", "list", in_process=True)
    assert res.rc == 0, res.stderr
    for table, row in select("all"):
        assert f"{table.id}/{row.id}" in res.stdout
    assert "lmrc-t3b/lmrc-13b" in res.stdout and "Ign F1 74.08, F1 74.63" in res.stdout
    assert "qa4re/tacred" in res.stdout and "F1 52.20" in res.stdout
    assert "roberta-large" in res.stdout and "(smoke: tiny-roberta)" in res.stdout
