"""The one rich Console, rank-0 logging, progress bars and the metrics.jsonl writer."""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

console = Console(stderr=False, highlight=False)


def _rank() -> int:
    return int(os.environ.get("RANK", 0))


def info(msg: str, *, all_ranks: bool = False) -> None:
    """Print on rank 0 (or on every rank, prefixed, when ``all_ranks``)."""
    r = _rank()
    if all_ranks:
        console.print(f"[rank {r}] {msg}")
    elif r == 0:
        console.print(msg)


def warn(msg: str) -> None:
    if _rank() == 0:
        console.print(f"[yellow]warning:[/yellow] {msg}")


def table(title: str, columns: list[str], rows: list[list]) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(str(c))
    for row in rows:
        t.add_row(*[_fmt(v) for v in row])
    if _rank() == 0:
        console.print(t)
    return t


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class _PlainProgress:
    """Periodic plain lines when stdout is not a terminal (CI logs, files)."""

    def __init__(self, desc: str, total: int, unit: str, every_s: float = 10.0):
        self.desc, self.total, self.unit, self.every_s = desc, total, unit, every_s
        self.done, self.t0, self.last = 0, time.perf_counter(), 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every_s or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            info(f"{self.desc}: {self.done}/{self.total} {self.unit} ({rate:.1f} {self.unit}/s, ETA {eta:.0f}s)")


class _RichProgress:
    def __init__(self, prog: Progress, task):
        self.prog, self.task = prog, task

    def advance(self, n: int = 1) -> None:
        self.prog.advance(self.task, n)


class _NoProgress:
    def advance(self, n: int = 1) -> None:
        pass


class _RateColumn(ProgressColumn):
    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} {self.unit}/s" if speed else f"- {self.unit}/s")


@contextmanager
def progress(desc: str, total: int, unit: str = "it", *, enabled: bool | None = None):
    """A progress bar with rate and ETA on rank 0; plain periodic lines when not on a terminal."""
    if enabled is None:
        enabled = _rank() == 0
    if not enabled:
        yield _NoProgress()
        return
    if not sys.stdout.isatty():
        yield _PlainProgress(desc, total, unit)
        return
    cols = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*cols, console=console, transient=False) as prog:
        yield _RichProgress(prog, prog.add_task(desc, total=total))


class MetricsWriter:
    """Appends one JSON object per line; fixed keys are the caller's contract (see train/loop.py)."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
