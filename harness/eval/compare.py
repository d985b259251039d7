"""Side-by-side comparison of runs: SFT vs weighted (ATLANTIS, ...) macro-F1 per setting, with the noise rate."""

from __future__ import annotations

from pathlib import Path

from harness.eval.evaluate import read_eval_json
from harness.manifest import read_json
from harness.run import RunDir


def _read_config(run: RunDir) -> dict:
    return read_json(run.config, "config.json (RunConfig.dump) of this run directory")


def run_row(run_dir: str | Path) -> dict:
    """One run's setting, method and figures from its config.json and eval.json."""
    run = RunDir(run_dir)
    cfg = _read_config(run)
    ev = read_eval_json(run.eval_json)
    try:
        data, train, weights, model = cfg["data"], cfg["train"], cfg["weights"], cfg["model"]
        method = weights["formula"] if train["weights_file"] else "sft"
        setting = f"{data['dataset']}/{ev.get('label_space') or data['label_space']}/{model['large']}"
        noise = float(data["noise_rate"])
    except KeyError as e:
        raise ValueError(f"{run.config}: missing field {e} (expected a RunConfig.dump)") from e
    return {"run": str(run.root), "setting": setting, "noise_rate": noise, "method": method,
            "macro_f1": ev["macro_f1"], "official": ev.get("official")}


def compare_table(run_dirs: list[str | Path]) -> tuple[list[str], list[list]]:
    """(columns, rows): one row per (setting, noise rate), one macro-F1 (%) column per method, and
    delta = best weighted method minus SFT when both exist. Two runs of one cell are an error."""
    if not run_dirs:
        raise ValueError("no run directories given")
    rows = [run_row(r) for r in run_dirs]
    methods = sorted({r["method"] for r in rows}, key=lambda m: (m != "sft", m))
    cells: dict[tuple, dict] = {}
    for r in rows:
        key = (r["setting"], r["noise_rate"])
        if r["method"] in cells.setdefault(key, {}):
            raise ValueError(f"two runs for {key} method {r['method']}: {cells[key][r['method']]['run']} and {r['run']}")
        cells[key][r["method"]] = r
    columns = ["setting", "noise rate"] + [f"{m} macro-F1 %" for m in methods]
    weighted = [m for m in methods if m != "sft"]
    if "sft" in methods and weighted:
        columns.append("delta vs sft (pts)")
    table = []
    for (setting, noise), by in sorted(cells.items()):
        row = [setting, noise] + [100 * by[m]["macro_f1"] if m in by else "-" for m in methods]
        if "sft" in methods and weighted:
            best = [100 * by[m]["macro_f1"] for m in weighted if m in by]
            row.append(max(best) - 100 * by["sft"]["macro_f1"] if best and "sft" in by else "-")
        table.append(row)
    return columns, table
