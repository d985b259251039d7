"""tables: the seed papers' tables, one command per row (harness/recipes/tables/).

    python -m harness tables list [TABLE]
        the tables, their rows with the papers' figures, the checkpoint roles and data files each row needs.
    python -m harness tables run TABLE[/ROW] | all --ckpt ROLE=PATH ... [--data-dir DIR] [--run-dir DIR] [--nproc N]
        (--nproc N > 1: every training / evaluation step under torchrun, training under DeepSpeed ZeRO-3 on CUDA)
        runs the rows (each through the recipes' own commands, python -m harness <recipe> <command>, one process
        per step), then prints each table with the measured figures beside the paper's and writes
        <run_dir>/results.json and results.md. A row that lacks a checkpoint, a data file or a flag says which,
        one line each; the others still run. Rerunning skips the steps whose outputs exist.
    python -m harness tables run all --smoke [--data-dir DIR]
        every row at tiny size: the roles' tiny presets instead of checkpoints, one shared tiny tokenizer, a few
        examples / documents, one epoch (the commands and settings are the rows'; the figures mean nothing).

The rows are data (harness.recipes.tables.specs), their command lines a pure function of the row
(harness.recipes.tables.plan), docs/paper_settings.md maps each paper setting to the field that holds it.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.cli import Command, InputError


def list_tables(args) -> int:
    from harness.recipes.tables.plan import Context, plan_row
    from harness.recipes.tables.runner import fmt
    from harness.recipes.tables.specs import ROLES, select

    try:
        selected = select(args.table)
    except ValueError as e:
        raise InputError(str(e)) from None
    ctx = Context(Path("<run_dir>"), Path("<data_dir>"), {})
    current, used = None, set()
    for table, row in selected:
        if table is not current:
            current = table
            print(f"\n{table.id}: {table.title} ({table.source}); columns: {', '.join(table.columns)}")
            if table.note:
                print(f"  note: {table.note}")
        plan = plan_row(table, row, ctx)
        used.update(plan.roles)
        paper = ", ".join(f"{c} {fmt(v)}" for c, v in zip(table.columns, row.paper))
        files = sorted(f.replace("<data_dir>/", "") for f in plan.files)
        print(f"  {table.id + '/' + row.id:<32} {row.label}: {paper}")
        print(f"      {row.kind}, {len(plan.steps)} step(s); --ckpt {', '.join(plan.roles)}; data {', '.join(files)}")
    print("\ncheckpoint roles (--ckpt ROLE=PATH; --smoke runs the preset):")
    for r in ROLES.values():
        if r.name in used:
            print(f"  {r.name:<20} {r.what} (smoke: {r.smoke})")
    return 0


def default_ds() -> str:
    """The DeepSpeed config of the training steps at more than one process: the atlantis experiment's rule (ZeRO-3
    on CUDA, the CPU test config otherwise)."""
    import torch

    return "ds_configs/zero3.json" if torch.cuda.is_available() else "ds_configs/cpu_test.json"


def _ckpts(pairs: list[str]) -> dict[str, str]:
    from harness.recipes.tables.specs import ROLES

    out = {}
    for p in pairs:
        role, eq, path = p.partition("=")
        if not eq or not path:
            raise InputError(f"--ckpt {p!r}: expected ROLE=PATH")
        if role not in ROLES:
            raise InputError(f"--ckpt {role}: no such role; known: {', '.join(ROLES)}")
        if not Path(path).exists():
            raise InputError(f"--ckpt {role}={path}: no such file or folder")
        out[role] = str(Path(path).resolve())
    return out


def run_tables(args) -> int:
    import time

    from harness.recipes.tables.plan import Context
    from harness.recipes.tables.runner import report, run_rows, smoke_tokenizer
    from harness.recipes.tables.specs import select

    try:
        selected = select(args.table)
    except ValueError as e:
        raise InputError(str(e)) from None
    if args.nproc < 1:
        raise InputError(f"--nproc {args.nproc}: must be >= 1")
    ds = default_ds() if args.nproc > 1 else ""  # one process: each command's plain-torch default
    data = args.data_dir or os.environ.get("HARNESS_DATA_DIR", "")
    if not data or not Path(data).is_dir():
        raise InputError(f"--data-dir {data!r} is not a folder: pass --data-dir or set HARNESS_DATA_DIR (the layout "
                         "is in python -m harness tables list)")
    run_dir = Path(args.run_dir or ("runs/tables-smoke" if args.smoke else "runs/tables")).resolve()
    ckpts = _ckpts(args.ckpt)
    tok = str(smoke_tokenizer(run_dir)) if args.smoke else ""
    ctx = Context(run_dir, Path(data).resolve(), ckpts, smoke=args.smoke, nproc=args.nproc, ds=ds,
                  tokenizer=tok)
    t0 = time.perf_counter()
    outcomes, timings = run_rows(selected, ctx)
    total = time.perf_counter() - t0
    report(outcomes, ctx, {"selection": args.table, "smoke": args.smoke, "ckpts": ckpts, "data_dir": str(ctx.data_dir),
                           "nproc": args.nproc, "step_seconds": timings, "total_seconds": total})
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _list_args(p) -> None:
    p.add_argument("table", nargs="?", default="all", help="all (default), TABLE or TABLE/ROW")


def _run_args(p) -> None:
    p.add_argument("table", help="all, TABLE or TABLE/ROW (python -m harness tables list)")
    p.add_argument("--ckpt", action="append", default=[], metavar="ROLE=PATH", help="a checkpoint by role (repeat)")
    p.add_argument("--data-dir", default="", help="the data folder (default $HARNESS_DATA_DIR)")
    p.add_argument("--run-dir", default="", help="where the rows' folders, logs and results go (default "
                   "runs/tables, runs/tables-smoke with --smoke)")
    p.add_argument("--nproc", type=int, default=1, help="processes per training / evaluation step (global batches "
                   "stay the paper's)")
    p.add_argument("--smoke", action="store_true", help="every row at tiny size with the roles' presets")


COMMANDS = [
    Command("list", "the seed papers' tables and rows, with the papers' figures and what each row needs",
            list_tables, _list_args),
    Command("run", "run a table's rows (or one row, or all) -> the table beside the paper's + results.json/.md",
            run_tables, _run_args),
]
