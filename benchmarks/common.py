"""Shared benchmark setup: environment stamp, median timing, peak memory, isolated workers, CSV rows.

Every benchmark script (one per subject) uses these so rows in ``benchmarks/results/<subject>.csv`` are comparable:

    env_stamp() -> dict           device, date (UTC), git revision, python/torch/triton/deepspeed/... versions
    dry_run_stamp(target) -> dict the stamp of a --dry-run plan row (column dry_run=plan: never merged)
    time_median(fn, warmup, repeats, device) -> (median_s, all_s)   wall time with CUDA sync when on GPU
    PeakMemory(device)            context manager: .peak_bytes above the level at entry
                                  CUDA: torch.cuda.max_memory_allocated after reset (allocator-exact).
                                  CPU: ru_maxrss high-water mark minus the RSS at entry; only meaningful as the
                                  *first* measurement in a fresh process (ru_maxrss never goes down), so run
                                  each CPU provider through ``run_worker`` in its own subprocess.
    run_worker(argv, timeout) -> dict   run ``python <argv>`` in a fresh process; parse its last stdout line (JSON)
    run_streaming(cmd, timeout) -> lines   run a command; its stdout and stderr reach ours as they come (so a
                                  log keeps everything), the tail of its stderr goes into the error on failure
    append_rows(path, rows)       append dict rows to a CSV (new columns widen the header, atomically),
                                  written to a temp file and renamed
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SUBJECTS = ("train_throughput", "weighted_ce", "scoring", "scaling", "optimizer", "qa4re", "packing")  # results/<subject>.csv
DRY_RUN = "dry_run"  # column set ("plan") on the rows a --dry-run appends; merge refuses them
WORKER_ERR_TAIL = 30  # stderr lines of a failed worker quoted in the error (all of it is in the log)
VERSIONED = ("torch", "triton", "deepspeed", "transformers", "liger-kernel", "cut-cross-entropy")


def device_name(device: str | torch.device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def git_revision() -> str:
    """Short HEAD hash, with ``+dirty`` when tracked files other than benchmarks/results/ (which the benchmarks
    themselves append to) differ from it; ``unknown`` outside a checkout. $HARNESS_GIT_REV, when set, is taken
    as is: the GPU machine gets a copy of the working tree without .git (scripts/device_run.sh passes it on)."""
    from harness.manifest import git_revision as head

    if os.environ.get("HARNESS_GIT_REV"):
        return os.environ["HARNESS_GIT_REV"]
    rev = head()
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return rev
    return rev + ("+dirty" if dirty and rev != "unknown" else "")


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in VERSIONED:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = ""
    return out


def env_stamp(device: str | torch.device) -> dict:
    stamp = {"device": device_name(device), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "git": git_revision()}
    stamp.update({f"v_{k}": v for k, v in versions().items()})
    return stamp


def dry_run_stamp(target: str) -> dict:
    """The stamp of a ``--dry-run`` plan row: marked in DRY_RUN so that benchmarks.merge refuses it (a plan made
    here for ``target`` is not a measurement)."""
    return {**env_stamp("cpu"), "device": f"{target} (dry run on {device_name('cpu')})", DRY_RUN: "plan"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_median(fn, *, warmup: int = 1, repeats: int = 3, device: str | torch.device = "cpu"):
    """Median wall seconds of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    """This process's RSS high-water mark: VmHWM from /proc/self/status, not ``getrusage().ru_maxrss``.

    ru_maxrss survives execve: a worker forked from a large parent (pytest with models loaded) starts with the
    parent's high-water mark, which hid every peak below it. VmHWM belongs to the process's own address space
    and is reset by ``reset_cpu_peak``."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError("/proc/self/status has no VmHWM line (Linux only)")


def reset_cpu_peak() -> None:
    """Reset this process's RSS high-water mark (VmHWM / ru_maxrss) to the current RSS (Linux >= 4.0), so a
    ``PeakMemory("cpu")`` block can follow a set-up whose temporaries (e.g. building a large model) peaked higher."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


class PeakMemory:
    """Peak bytes allocated inside the block above the level at entry (see module docstring for CPU caveat)."""

    def __init__(self, device: str | torch.device):
        self.device = torch.device(device)
        self.peak_bytes = 0

    def __enter__(self):
        if self.device.type == "cuda":
            _sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            reset_cpu_peak()  # drop import-time spikes: the mark restarts at the current RSS
            self._base = _rss_bytes()
            if _maxrss_bytes() > self._base + 64 * 2**20:
                raise RuntimeError("CPU peak memory needs a fresh process: ru_maxrss is already "
                                   f"{(_maxrss_bytes() - self._base) / 2**20:.0f} MiB above the current RSS")
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            _sync(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._base
        else:
            self.peak_bytes = _maxrss_bytes() - self._base
        return False


class WorkerError(RuntimeError):
    """A benchmark subprocess failed or timed out (its output is already in our stdout / stderr). ``rc`` is its
    exit status (None: timed out), ``last`` its last stderr line (for a Python error: the exception)."""

    def __init__(self, message: str, rc: int | None = None, tail: list[str] | None = None):
        super().__init__(message)
        self.rc = rc
        self.last = next((ln.strip() for ln in reversed(tail or []) if ln.strip()), "")

    def summary(self) -> str:
        """One line for a CSV cell: the exit status and the last stderr line."""
        status = "timed out" if self.rc is None else f"rc={self.rc}"
        return f"worker {status}: {self.last}"[:400]


def _pump(src, dst, keep) -> None:
    for line in src:
        dst.write(line)
        dst.flush()
        keep.append(line.rstrip("\n"))


def run_streaming(cmd: list[str], *, timeout: float, env: dict | None = None) -> list[str]:
    """Run ``cmd``; its stdout and stderr are copied to ours line by line as they come: nothing a worker prints
    is swallowed, and a log of the parent holds it all even when the parent is killed. The worker stays in our
    process group, so an outer ``timeout`` (scripts/device_run.sh) ends it with us. Returns stdout's lines;
    raises WorkerError naming the last stderr lines."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out: list[str] = []
    err: collections.deque = collections.deque(maxlen=WORKER_ERR_TAIL)
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, sys.stdout, out), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, sys.stderr, err), daemon=True)]
    for t in pumps:
        t.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
    for t in pumps:
        t.join()
    tail = "\n".join(err)
    if rc is None:
        raise WorkerError(f"{' '.join(cmd)} timed out after {timeout:.0f} s; last stderr lines:\n{tail}", rc,
                          list(err))
    if rc != 0:
        raise WorkerError(f"{' '.join(cmd)} failed (rc={rc}); last stderr lines:\n{tail}", rc, list(err))
    return out


def run_worker(argv: list[str], timeout: float = 1800) -> dict:
    """Run ``python -u argv`` in a fresh process (output streamed, see run_streaming); return the JSON object on
    its last non-empty stdout line."""
    lines = [ln for ln in run_streaming([sys.executable, "-u", *argv], timeout=timeout) if ln.strip()]
    if not lines:
        raise WorkerError(f"worker {argv} printed nothing on stdout (its stderr is above)")
    return json.loads(lines[-1])


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a results CSV ([] when it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def append_rows(path: str | Path, rows: list[dict]) -> None:
    """Append rows to a CSV (creating it with a header), atomically (``harness.run.atomic_write``). When the rows
    bring columns the file lacks (a benchmark gained a column), the file is rewritten with the union of the
    columns - old ones first, in their order - and the cells a row does not have are left empty."""
    from harness.run import atomic_write

    if not rows:
        return
    path = Path(path)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    old_rows: list[dict] = []
    header: list[str] = []
    if path.exists() and path.stat().st_size:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            old_rows = list(reader)
    columns = header + [c for c in fields if c not in header]

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows(old_rows)
            writer.writerows(rows)

    atomic_write(path, write)
