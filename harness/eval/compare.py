"""Side-by-side comparison of runs: one row per run folder, keyed by the folder's name (or, when names repeat, the
shortest unique end of its path, e.g. seed-1/sft), with its setting, seed (train.seed), method, macro-F1, the
SemEval official score where it is defined, and the gain over the SFT run of the same setting and seed; then, over
seeds, one row per (setting, method): mean +- sd and the paired difference vs SFT with its 95% t interval over the
seeds both methods ran (harness.eval.intervals).

A run folder holds config.json (``atlantis train``) and eval.json (``atlantis eval``). What cannot be
compared is refused with an ``InputError`` naming the folder and what to do: a missing file, or two SFT runs of one
setting and seed (the delta would have two baselines).
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
            "seed": int(train.get("seed", 0)), "method": method, "macro_f1": ev["macro_f1"],
            "official": ev.get("official")}


def _unique_keys(rows: list[dict]) -> None:
    """Each row's key: its folder name, or the shortest end of its path that no other row shares (seed-0/sft)."""
    parts = [Path(r["run"]).resolve().parts for r in rows]
    for i, r in enumerate(rows):
        for k in range(1, len(parts[i]) + 1):
            tail = parts[i][-k:]
            if all(j == i or parts[j][-k:] != tail for j in range(len(rows))):
                r["name"] = "/".join(tail)
                break
        else:
            raise InputError(f"{r['run']} is given twice; give each run folder once")


def _cell(r: dict) -> tuple:
    return r["setting"], r["split"], r["noise_rate"]


def _sft_baselines(rows: list[dict]) -> dict[tuple, dict]:
    """(setting, split, noise rate, seed) -> its SFT run; two SFT runs of one setting and seed collide."""
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (*_cell(r), r["seed"])
        if r["method"] != "sft":
            continue
        if key in out:
            raise InputError(f"colliding settings: {out[key]['run']} and {r['run']} are both SFT runs of "
                             f"{r['setting']} ({r['split']} split, noise rate {r['noise_rate']}, seed {r['seed']}), "
                             f"so the delta vs SFT has two baselines; compare one SFT run per setting and seed")
        out[key] = r
    return out


def compare_table(run_dirs: list[str | Path]) -> tuple[list[str], list[list]]:
    """(columns, rows): one row per run folder (key: ``_unique_keys``), sorted by setting, split, noise rate, method
    (SFT first) and seed; macro-F1 in %; the SemEval official score (already a %) where defined, a column only when
    some run has it; delta = macro-F1 minus that of the SFT run of the same setting, split, noise rate and seed."""
    rows = read_rows(run_dirs)
    baselines = _sft_baselines(rows)
    show_official = any(r["official"] is not None for r in rows)
    columns = (["run", "setting", "split", "noise rate", "seed", "method", "macro-F1 %"]
               + (["SemEval official %"] if show_official else []) + ["delta vs sft (pts)"])
    table = []
    for r in sorted(rows, key=lambda r: (*_cell(r), r["method"] != "sft", r["method"], r["seed"], r["name"])):
        base = baselines.get((*_cell(r), r["seed"]))
        delta = 100 * (r["macro_f1"] - base["macro_f1"]) if base and r is not base else "-"
        official = ["-" if r["official"] is None else r["official"]] if show_official else []
        table.append([r["name"], r["setting"], r["split"], r["noise_rate"], r["seed"], r["method"],
                      100 * r["macro_f1"]] + official + [delta])
    return columns, table


def read_rows(run_dirs: list[str | Path]) -> list[dict]:
    """``run_row`` of every folder, keyed uniquely (``_unique_keys``)."""
    if not run_dirs:
        raise InputError("no run folders given; pass one or more run folders")
    rows = [run_row(r) for r in run_dirs]
    _unique_keys(rows)
    return rows


def aggregate_table(rows: list[dict]) -> tuple[list[str], list[list], list[dict]]:
    """Over seeds: (columns, table rows, records), one per (setting, split, noise rate, method): the seeds, macro-F1
    mean +- sd (%), and for a non-SFT method the paired difference vs the SFT runs of the same setting at the seeds
    both ran, mean with its 95% t interval over those seeds (harness.eval.intervals.t_interval)."""
    from harness.eval.intervals import mean_sd, t_interval

    baselines = _sft_baselines(rows)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((*_cell(r), r["method"]), []).append(r)
    columns = ["setting", "split", "noise rate", "method", "seeds", "macro-F1 % mean", "sd",
               "delta vs sft (pts)", "95% interval (t over seeds)"]
    table, records = [], []
    for key in sorted(groups, key=lambda k: (k[:3], k[3] != "sft", k[3])):
        runs = sorted(groups[key], key=lambda r: r["seed"])
        ms = mean_sd([100 * r["macro_f1"] for r in runs])
        rec = {"setting": key[0], "split": key[1], "noise_rate": key[2], "method": key[3],
               "seeds": [r["seed"] for r in runs], "macro_f1": ms, "difference": None}
        delta, interval = "-", "-"
        if key[3] != "sft":
            pairs = [(r, baselines[(*key[:3], r["seed"])]) for r in runs if (*key[:3], r["seed"]) in baselines]
            if pairs:
                iv = t_interval([100 * (r["macro_f1"] - b["macro_f1"]) for r, b in pairs])
                iv["seeds"] = [r["seed"] for r, _ in pairs]
                rec["difference"] = iv
                delta = iv["mean"]
                interval = "-" if iv["lo"] is None else f"[{iv['lo']:+.2f}, {iv['hi']:+.2f}]"
        sd = "-" if ms["sd"] is None else ms["sd"]
        table.append([*key[:4], ",".join(str(s) for s in rec["seeds"]), ms["mean"], sd, delta, interval])
        records.append(rec)
    return columns, table, records


def fold_constant_columns(columns: list[str], rows: list[list], fold: tuple[str, ...] = ("setting", "split",
                          "noise rate", "seed")) -> tuple[dict, list[str], list[list]]:
    """Move the ``fold`` columns whose value is the same in every row out of the table: ``({column: value},
    columns, rows)`` without them, for a title; a narrow table keeps its run names and methods readable."""
    common = {c: rows[0][i] for i, c in enumerate(columns)
              if c in fold and rows and all(r[i] == rows[0][i] for r in rows)}
    keep = [i for i, c in enumerate(columns) if c not in common]
    return common, [columns[i] for i in keep], [[r[i] for i in keep] for r in rows]
