"""Append the rows of benchmark CSVs measured elsewhere (the GPU machine's $OUT) to benchmarks/results/.

    python -m benchmarks.merge DIR_OR_FILE [...]   # DIR: its *.csv and *.tar.gz; FILE: a <subject>.csv or a
                                                  # tarball of them (scripts/device_run.sh packs > 6 CSVs)

Each ``<subject>.csv`` goes to ``benchmarks/results/<subject>.csv``. Refused, before anything is written: a file
that is not a benchmark subject, one without a ``device`` column, and rows of a ``--dry-run`` (column dry_run:
plans made on a CPU, not measurements). Other files in a directory (the log, device.txt) are ignored.
"""

from __future__ import annotations

import csv
import io
import sys
import tarfile
from pathlib import Path

from benchmarks.common import DRY_RUN, RESULTS, SUBJECTS, append_rows


def _tar_csvs(path: Path) -> list[tuple[str, str]]:
    """(name, text) of every .csv member of a tarball (members in folders included)."""
    out = []
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(".csv"):
                out.append((f"{path}:{m.name}", tar.extractfile(m).read().decode()))
    if not out:
        raise SystemExit(f"{path}: the tarball holds no .csv file")
    return out


def _sources(paths: list[str]) -> list[tuple[str, str]]:
    """(name, CSV text) of every CSV given directly, in a directory, or in a tarball."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(p.glob("*.csv")) + sorted(p.glob("*.tar.gz")) + sorted(p.glob("*.tgz"))
        elif p.is_file():
            files = [p]
        else:
            raise SystemExit(f"{p}: no such file or directory")
        for f in files:
            found += _tar_csvs(f) if f.name.endswith((".tar.gz", ".tgz", ".tar")) else [(str(f), f.read_text())]
    if not found:
        raise SystemExit(f"no .csv or tarball found in {paths}")
    return found


def _checked_rows(name: str, text: str) -> tuple[str, list[dict]]:
    stem = Path(name.rsplit(":", 1)[-1]).stem
    if stem not in SUBJECTS:
        raise SystemExit(f"{name}: not a benchmark results file (expected one of {[s + '.csv' for s in SUBJECTS]})")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not rows[0].get("device"):
        raise SystemExit(f"{name}: no rows with a 'device' column")
    if any(r.get(DRY_RUN) for r in rows):
        raise SystemExit(f"{name}: holds --dry-run plan rows (column {DRY_RUN}), not measurements: not merged")
    return stem, rows


def merge(paths: list[str]) -> dict[str, int]:
    """Check every file first, then append; returns {subject.csv: rows added}."""
    checked = [_checked_rows(name, text) for name, text in _sources(paths)]
    added: dict[str, int] = {}
    for stem, rows in checked:
        append_rows(RESULTS / f"{stem}.csv", rows)
        added[f"{stem}.csv"] = added.get(f"{stem}.csv", 0) + len(rows)
    return added


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for name, n in merge(sys.argv[1:]).items():
        print(f"{name}: +{n} rows")
