"""Append the rows of benchmark CSVs measured elsewhere (the GPU machine's $OUT) to benchmarks/results/.

    python -m benchmarks.merge DIR_OR_CSV [...]    # each <subject>.csv goes to benchmarks/results/<subject>.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from benchmarks.common import RESULTS, SUBJECTS, append_rows


def merge(paths: list[str]) -> dict[str, int]:
    files = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.csv")) if p.is_dir() else [p]
    added = {}
    for f in files:
        if f.stem not in SUBJECTS:
            raise SystemExit(f"{f}: not a benchmark results file (expected one of {[s + '.csv' for s in SUBJECTS]})")
        with f.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or not rows[0].get("device"):
            raise SystemExit(f"{f}: no rows with a 'device' column")
        append_rows(RESULTS / f.name, rows)
        added[f.name] = len(rows)
    return added


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for name, n in merge(sys.argv[1:]).items():
        print(f"{name}: +{n} rows")
