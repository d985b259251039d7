"""The generation metrics as a table (gen generate and gen metrics)."""

from __future__ import annotations

from harness import log

COLUMNS = ["relation", "n", "candidates", "entity presence", "distinct-1", "distinct-2", "distinct-3", "distinct-4",
           "self-BLEU", "similarity"]


def _row(name: str, m: dict) -> list:
    keys = ("n", "candidates", "entity_presence", "distinct_1", "distinct_2", "distinct_3", "distinct_4", "self_bleu",
            "similarity")
    return [name] + ["-" if m.get(k) is None else m[k] for k in keys]


def print_metrics(metrics: dict) -> None:
    rows = [_row(r, m) for r, m in metrics["relations"].items()] + [_row("overall", metrics["overall"])]
    log.table("generated samples", COLUMNS, rows)
    log.info(f"rejects by reason: {metrics['overall']['rejects']}")
