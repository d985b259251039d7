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
    """Periodic plain lines when stdout is not a terminal (CI logs, files). ``start``: work already done before
    this process (a resume): shown in the count, left out of the rate and the ETA."""

    def __init__(self, desc: str, total: int, unit: str, start: int = 0, every_s: float = 10.0):
        self.desc, self.total, self.unit, self.every_s = desc, total, unit, every_s
        self.start = self.done = start
        self.t0, self.last = time.perf_counter(), time.perf_counter()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if n and (now - self.last >= self.every_s or self.done >= self.total):
            self.last = now
            rate = (self.done - self.start) / max(now - self.t0, 1e-9)
            eta = f"ETA {(self.total - self.done) / rate:.0f}s" if rate > 0 else "ETA -"
            info(f"{self.desc}: {self.done}/{self.total} {self.unit} ({rate:.2f} {self.unit}/s, {eta})")


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
def progress(desc: str, total: int, unit: str = "it", *, start: int = 0, enabled: bool | None = None):
    """A progress bar with rate and ETA on rank 0; plain periodic lines when not on a terminal. ``start``: units
    already done (a resume), not counted in the rate."""
    if enabled is None:
        enabled = _rank() == 0
    if not enabled:
        yield _NoProgress()
        return
    if not sys.stdout.isatty():
        yield _PlainProgress(desc, total, unit, start)
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
        yield _RichProgress(prog, prog.add_task(desc, total=total, completed=start))


# Known third-party warnings that flood a run's console without telling the user anything they can act on:
# (category, message regex). DeepSpeed's ZeRO calls collective names that torch deprecated, once per collective
# (1,782 + 1,728 of 2,358 lines of a CPU training log). Ignored, not shown "once": the "once" action did not hold
# inside DeepSpeed's backward hooks (they kept printing every step).
QUIET_WARNINGS = [
    (FutureWarning, r"`torch\.distributed\.(all_gather_into_tensor|reduce_scatter_tensor)` is deprecated"),
]


def quiet_known_warnings() -> None:
    """Ignore QUIET_WARNINGS in this process (idempotent)."""
    import warnings

    for category, message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def step_line(rec: dict, total: int) -> str:
    """The console line of one logged optimizer step (the same record goes to metrics.jsonl)."""
    mfu = f" | MFU {rec['mfu']:.1%}" if rec.get("mfu") is not None else ""
    return (f"step {rec['step']}/{total} | loss {rec['loss']:.4f} | lr {rec['lr']:.3g} | grad norm "
            f"{rec['grad_norm']:.3g} | {rec['tokens_per_s']:.0f} tok/s | mem {rec['peak_mem_gb']:.2f} GB{mfu}")


def tensorboard_writer(log_dir: str | Path):
    """A TensorBoard ``SummaryWriter`` for ``log_dir`` (the ``tensorboard`` package is a dependency)."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))


class MetricsWriter:
    """Appends one JSON object per line; fixed keys are the caller's contract (see harness/train/trainer.py).
    With ``tb`` (a SummaryWriter) every numeric field of a record also becomes a TensorBoard scalar
    ``<tb_prefix>/<key>`` at the record's ``step``: one record, two sinks."""

    def __init__(self, path: str | Path, enabled: bool = True, tb=None, tb_prefix: str = "train"):
        self.path = Path(path)
        self.enabled = enabled
        self.tb, self.tb_prefix = tb, tb_prefix
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, step: int) -> None:
        """Drop records of steps after ``step`` (a resume from that step's checkpoint repeats them)."""
        if self.enabled:
            truncate_jsonl_after(self.path, step)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(f"{self.tb_prefix}/{k}", v, record["step"])
            self.tb.flush()


def truncate_jsonl_after(path: str | Path, step: int) -> None:
    """Rewrite a JSONL file of records with a ``step`` key keeping those with step <= ``step`` (atomic)."""
    from harness.run import atomic_write_text

    path = Path(path)
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    keep = [ln for ln in lines if json.loads(ln).get("step", 0) <= step]
    if len(keep) != len(lines):
        atomic_write_text(path, "".join(ln + "\n" for ln in keep))
