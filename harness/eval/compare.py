"""Side-by-side comparison of runs: one row per run folder, keyed by the folder's name, with its setting, method,
macro-F1, the SemEval official score where it is defined, and the gain over the SFT run of the same setting.

A run folder holds config.json (``atlantis train``) and eval.json (``atlantis eval``). What cannot be
compared is refused with an ``InputError`` naming the folder and what to do: a missing file, two folders of one
name (their rows would share a key), or two SFT runs of one setting (the delta would have two baselines).
"""

from __future__ import annotations

from pathlib import Path

from harness.cli import InputError, input_errors
from harness.eval.evaluate import read_eval_json
from harness.manifest import read_json
from harness.run import RunDir


def _read_run(run: RunDir) -> tuple[dict, dict]:
    """(config.json, eval.json) of one run folder; a missing one says which command writes it."""
    if not run.root.is_dir():
        raise InputError(f"{run.root}: no such run folder; give folders written by `python -m harness atlantis train`")
    if not run.config.is_file():
        raise InputError(f"{run.config} not found: {run.root} is not a training run folder (atlantis train "
                         f"writes config.json there)")
    if not run.eval_json.is_file():
        raise InputError(f"{run.eval_json} not found: evaluate the run first: python -m harness atlantis eval "
                         f"--model {run.export} --config {run.config}")
    with input_errors():  # invalid JSON: file and line
        return read_json(run.config, "config.json (RunConfig.dump) of this run directory"), read_eval_json(run.eval_json)


def run_row(run_dir: str | Path) -> dict:
    """One run's key (folder name), setting, method and figures from its config.json and eval.json."""
    run = RunDir(run_dir)
    cfg, ev = _read_run(run)
    try:
        data, train, weights, model = cfg["data"], cfg["train"], cfg["weights"], cfg["model"]
        method = weights["formula"] if train["weights_file"] else "sft"
        setting = f"{data['dataset']}/{ev.get('label_space') or data['label_space']}/{model['large']}"
        noise = float(data["noise_rate"])
    except KeyError as e:
        raise InputError(f"{run.config}: missing field {e}; expected the RunConfig.dump `atlantis train` writes") from e
    if "macro_f1" not in ev:
        raise InputError(f"{run.eval_json}: no macro_f1; expected the eval.json `atlantis eval` writes")
    split = (ev.get("data") or {}).get("split", "?")
    return {"name": run.root.name, "run": str(run.root), "setting": setting, "split": split, "noise_rate": noise,
            "method": method, "macro_f1": ev["macro_f1"], "official": ev.get("official")}


def _check_keys(rows: list[dict]) -> None:
    seen: dict[str, str] = {}
    for r in rows:
        if r["name"] in seen:
            raise InputError(f"two run folders are named {r['name']!r} ({seen[r['name']]} and {r['run']}): the "
                             f"table keys rows by folder name; give the run folders distinct names")
        seen[r["name"]] = r["run"]


def _sft_baselines(rows: list[dict]) -> dict[tuple, dict]:
    """(setting, split, noise rate) -> its SFT run; two SFT runs of one setting collide."""
    out: dict[tuple, dict] = {}
    for r in rows:
        cell = (r["setting"], r["split"], r["noise_rate"])
        if r["method"] != "sft":
            continue
        if cell in out:
            raise InputError(f"colliding settings: {out[cell]['run']} and {r['run']} are both SFT runs of "
                             f"{r['setting']} ({r['split']} split, noise rate {r['noise_rate']}), so the delta vs "
                             f"SFT has two baselines; compare one SFT run per setting")
        out[cell] = r
    return out


def compare_table(run_dirs: list[str | Path]) -> tuple[list[str], list[list]]:
    """(columns, rows): one row per run folder (key: its name), sorted by setting, split, noise rate and method
    (SFT first); macro-F1 in %; the SemEval official score (already a %) where defined, a column only when some
    run has it; delta = macro-F1 minus that of the SFT run of the same setting, split and noise rate."""
    if not run_dirs:
        raise InputError("no run folders given; pass one or more run folders")
    rows = [run_row(r) for r in run_dirs]
    _check_keys(rows)
    baselines = _sft_baselines(rows)
    show_official = any(r["official"] is not None for r in rows)
    columns = (["run", "setting", "split", "noise rate", "method", "macro-F1 %"]
               + (["SemEval official %"] if show_official else []) + ["delta vs sft (pts)"])
    table = []
    for r in sorted(rows, key=lambda r: (r["setting"], r["split"], r["noise_rate"], r["method"] != "sft",
                                         r["method"], r["name"])):
        base = baselines.get((r["setting"], r["split"], r["noise_rate"]))
        delta = 100 * (r["macro_f1"] - base["macro_f1"]) if base and r is not base else "-"
        official = ["-" if r["official"] is None else r["official"]] if show_official else []
        table.append([r["name"], r["setting"], r["split"], r["noise_rate"], r["method"], 100 * r["macro_f1"]]
                     + official + [delta])
    return columns, table


def fold_constant_columns(columns: list[str], rows: list[list], fold: tuple[str, ...] = ("setting", "split",
                          "noise rate")) -> tuple[dict, list[str], list[list]]:
    """Move the ``fold`` columns whose value is the same in every row out of the table: ``({column: value},
    columns, rows)`` without them, for a title; a narrow table keeps its run names and methods readable."""
    common = {c: rows[0][i] for i, c in enumerate(columns)
              if c in fold and rows and all(r[i] == rows[0][i] for r in rows)}
    keep = [i for i, c in enumerate(columns) if c not in common]
    return common, [columns[i] for i in keep], [[r[i] for i in keep] for r in rows]
