"""Run rows (their plans' steps, each ``python -m harness ...`` in a process of its own), read their figures back
and write the tables beside the papers' (``<run_dir>/results.json`` and ``results.md``).

A row that lacks a checkpoint, a data file or a flag of this checkout is not started: it lists what it needs,
one line each, and the other rows still run. A failed step fails the rows that need it (its log is named) and
the others go on; the exit status is 1 when any row failed, 0 otherwise (rows that need something are reported,
not failures). Each distinct step runs once per invocation; a step whose output exists is skipped (a rerun
resumes).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import log
from harness.recipes.tables.plan import Context, Plan, Requirement, Step, plan_row
from harness.recipes.tables.specs import Row, Table
from harness.run import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[3]  # the repository: steps run here


@dataclass
class Outcome:
    table: Table
    row: Row
    plan: Plan | None
    status: str = "pending"  # ok | needs | failed | partial (--smoke ran only the first steps: lines say why)
    lines: list[str] = field(default_factory=list)  # needs: what is missing; failed: which step, which log
    measured: tuple = ()


# ---- what a row cannot run without ----------------------------------------------------------------------------------
def available(req: Requirement) -> bool:
    """Whether this checkout has the flag (a command's option), the config field (``section.key``) or the value
    (a name in a module's tuple, e.g. ``harness.recipes.docre.prompts:STYLES``)."""
    import dataclasses
    import importlib

    if req.what == "flag":
        from harness.cli import parser

        recipe, command = req.where.split()
        sub = parser(recipe)._subparsers._group_actions[0].choices[recipe]  # argparse keeps subparsers here
        cmd = sub._subparsers._group_actions[0].choices[command]
        return any(req.name in a.option_strings for a in cmd._actions)
    if req.what == "file":
        return (ROOT / req.name).is_file()
    if req.what == "value":
        mod, _, attr = req.where.partition(":")
        return req.name in getattr(importlib.import_module(mod), attr, ())
    mod = {"DocREConfig": "harness.recipes.docre.config", "GenRunConfig": "harness.recipes.gen.config",
           "RunConfig": "harness.config"}[req.where]
    cls = getattr(importlib.import_module(mod), req.where)
    section, _, name = req.name.partition(".")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return section in fields and name in {f.name for f in dataclasses.fields(fields[section].default_factory())}


def missing(plan: Plan) -> list[str]:
    lines = list(plan.needs)
    lines += [f"needs the data file {f}" for f in plan.files if not Path(f).is_file()]
    lines += [r.line() + " (not in this checkout)" for r in plan.requires if not available(r)]
    return lines


# ---- figures ---------------------------------------------------------------------------------------------------------
def _read(path: str) -> dict:
    return json.loads(Path(path).read_text())


def measure(row: Row, plan: Plan) -> tuple:
    """The row's figures, one per table column, read from its outputs (units as the paper prints them)."""
    out = plan.outputs
    if row.kind == "atlantis":
        methods = _read(out["summary"])["methods"]  # macro-F1 % over the experiment's seeds (one by default)
        return tuple(methods[m]["mean"] / 100 for m in ("sft", "atlantis"))
    if row.kind == "qa4re":
        return (100 * _read(out["metrics"])["micro_f1"],)
    if row.kind == "gen":
        overall, ev = _read(out["metrics"])["overall"], _read(out["eval"])
        return overall.get("accepted"), overall.get("distinct_2"), overall.get("self_bleu"), ev["macro_f1"]
    return tuple(_docre_figure(row, out, col) for col in row.opts["cols"])


def _docre_figure(row: Row, out: dict, col: str):
    split, _, key = col.rpartition(":")
    split = split or row.opts["splits"][0]
    ev = _read(out[f"{split}:eval"])
    if key == "rcp_f1":
        if f"{split}:rcp_stats" in out:
            return 100 * _read(out[f"{split}:rcp_stats"])["related_f1"]
        if f"{split}:binary" in out:
            return 100 * _read(out[f"{split}:binary"])["detection"]["f1"]
        return None
    if key == "triples":
        return ev["n_deduped"]
    part, _, metric = {"precision": "re_precision", "recall": "re_recall", "f1": "re_f1", "ign_f1": "ign_f1",
                       "intra_f1": "intra_f1", "inter_f1": "inter_f1"}[key].partition("_")
    return 100 * ev[part][{"f1": "f1", "precision": "precision", "recall": "recall"}[metric]]


# ---- running ---------------------------------------------------------------------------------------------------------
def command(step: Step, nproc: int) -> list[str]:
    from harness.dist import local_launcher

    return local_launcher(nproc if step.launch else 1) + ["-m", "harness", *step.argv]


def run_step(step: Step, nproc: int, logs: Path) -> tuple[int, float, Path]:
    """(exit status, seconds, log file): the step's output goes to its log only; the step dies with this process
    (harness.dist.die_with_parent, as the experiment's stages)."""
    from harness.dist import die_with_parent

    logs.mkdir(parents=True, exist_ok=True)
    path = logs / (step.name.replace("/", "__") + ".log")
    cmd = command(step, nproc)
    t0 = time.perf_counter()
    with path.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        rc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=f,
                            stderr=subprocess.STDOUT, preexec_fn=die_with_parent).returncode
    return rc, time.perf_counter() - t0, path


STALE = -2  # a step's output exists, made by another command line (or not recorded by tables run)


def record_path(run_dir: Path, step: Step) -> Path:
    """Where a finished step's command line is recorded (a rerun reuses the output only under the same one)."""
    return run_dir / "steps" / (step.name.replace("/", "__") + ".json")


def reuse(step: Step, run_dir: Path) -> tuple[int, Path]:
    """(0, record) when the step's output was made by this very command line, else (STALE, record)."""
    rec = record_path(run_dir, step)
    same = rec.is_file() and json.loads(rec.read_text()).get("argv") == list(step.argv)
    log.info(f"step {step.name}: " + ("done before, same command line" if same else "output exists, made by "
                                       "another command line"))
    return (0 if same else STALE), rec


def check_steps(plans: list[Plan]) -> None:
    """A step name means one computation: two rows naming the same step must give it the same command line."""
    seen: dict[str, Step] = {}
    for plan in plans:
        for step in plan.steps:
            if seen.setdefault(step.name, step) != step:
                raise RuntimeError(f"step {step.name} planned twice with different command lines: "
                                   f"{seen[step.name].argv} and {step.argv}")


def _last_error(path: Path) -> str:
    """``: <the log's last 'error: ...' line>`` (a stage's one-line input error), or ''."""
    if not path.is_file():
        return ""
    errors = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.startswith("error:")]
    return f": {errors[-1]}" if errors else ""


def run_rows(selected: list[tuple[Table, Row]], ctx: Context) -> tuple[list[Outcome], dict[str, float]]:
    """Run the rows' steps (module doc); (the outcomes, seconds per step run)."""
    outcomes = [Outcome(t, r, plan_row(t, r, ctx)) for t, r in selected]
    check_steps([o.plan for o in outcomes])
    done: dict[str, tuple[int, Path]] = {}  # step name -> (exit status, log)
    timings: dict[str, float] = {}
    for o in outcomes:
        o.lines = missing(o.plan)
        if o.lines:
            o.status = "needs"
            for line in o.lines:
                log.info(f"{o.table.id}/{o.row.id}: {line}")
            continue
        o.status = "ok"
        for step in o.plan.steps:
            if step.name not in done:
                if Path(step.done).is_file():
                    done[step.name] = reuse(step, ctx.run_dir)
                else:
                    log.info(f"step {step.name}: python -m harness {' '.join(step.argv[:2])} ...")
                    rc, dt, path = run_step(step, ctx.nproc, ctx.run_dir / "logs")
                    timings[step.name] = dt
                    if rc == 0 and not Path(step.done).is_file():
                        rc = -1  # exited 0 without its output: a failure all the same
                    if rc == 0:
                        atomic_write_json(record_path(ctx.run_dir, step), {"argv": list(step.argv)})
                    done[step.name] = (rc, path)
                    log.info(f"step {step.name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {dt:.0f}s")
            rc, path = done[step.name]
            if rc == STALE:
                o.status = "failed"
                o.lines = [f"step {step.name}: {step.done} exists but was not made by this command line "
                           f"(recorded: {path}); use another --run-dir, or delete it to run the step again"]
                break
            if rc != 0:
                o.status = "failed"
                o.lines = [f"step {step.name} failed (exit {rc}); see {path}" + _last_error(path)]
                break
        if o.status == "ok" and o.plan.partial:
            o.status, o.lines = "partial", [o.plan.partial]
        elif o.status == "ok":
            o.measured = measure(o.row, o.plan)
    return outcomes, timings


# ---- reports ---------------------------------------------------------------------------------------------------------
def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def results(outcomes: list[Outcome], meta: dict) -> dict:
    tables: dict[str, dict] = {}
    for o in outcomes:
        t = tables.setdefault(o.table.id, {"id": o.table.id, "title": o.table.title, "source": o.table.source,
                                           "columns": list(o.table.columns), "note": o.table.note, "rows": []})
        t["rows"].append({"id": o.row.id, "label": o.row.label, "status": o.status, "paper": list(o.row.paper),
                          "measured": list(o.measured) if o.measured else None, "lines": o.lines,
                          "steps": [s.name for s in o.plan.steps]})
    return {**meta, "tables": list(tables.values())}


def markdown(res: dict) -> str:
    out = [f"# Seed-paper tables ({'--smoke: tiny presets, not the papers setting' if res.get('smoke') else 'run'})",
           ""]
    for t in res["tables"]:
        out += [f"## {t['id']}: {t['title']} ({t['source']})", ""]
        head = ["row"] + [f"{c} paper / measured" for c in t["columns"]] + ["status"]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in t["rows"]:
            meas = r["measured"] or [None] * len(t["columns"])
            cells = [f"{fmt(p)} / {fmt(m)}" for p, m in zip(r["paper"], meas)]
            status = r["status"] + (": " + "; ".join(r["lines"]) if r["lines"] else "")
            out.append("| " + " | ".join([r["label"], *cells, status]) + " |")
        if t["note"]:
            out += ["", f"Note: {t['note']}"]
        out.append("")
    return "\n".join(out)


def report(outcomes: list[Outcome], ctx: Context, meta: dict) -> dict:
    res = results(outcomes, meta)
    for t in res["tables"]:
        cols = ["row"] + [x for c in t["columns"] for x in (f"{c} (paper)", c)] + ["status"]
        rows = []
        for r in t["rows"]:
            meas = r["measured"] or [None] * len(t["columns"])
            rows.append([r["label"], *[fmt(x) for p, m in zip(r["paper"], meas) for x in (p, m)], r["status"]])
        log.table(f"{t['id']}: {t['title']} ({t['source']})", cols, rows)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(ctx.run_dir / "results.json", res)
    atomic_write_text(ctx.run_dir / "results.md", markdown(res))
    log.info(f"results -> {ctx.run_dir / 'results.json'}, {ctx.run_dir / 'results.md'}")
    return res


def smoke_tokenizer(run_dir: Path) -> Path:
    """--smoke: the one tiny tokenizer every preset of every row shares (trained once on the embedded synthetic
    set's prompts, deterministic; byte-level, so it encodes any text)."""
    from harness.config import DataConfig
    from harness.data.dataset import load_splits
    from harness.models.tokenizer import save_tokenizer, tokenizer_texts, train_tokenizer

    path = run_dir / "tokenizer"
    if not (path / "tokenizer_config.json").is_file():
        save_tokenizer(train_tokenizer(tokenizer_texts(load_splits(DataConfig())), vocab_size=1024), path)
    return path

