"""What makes a run folder trustworthy to reuse: the config a stage's outputs were made with, one writer at a time.

- ``stage_config(cfg, stage)``: the fields that change a stage's results (flattened ``section.key``; which fields
  never do is declared on the field: harness.config.NOT_RESULT). ``settings_hash`` / ``config_hash`` are short
  digests of such settings, recorded with checkpoints.
- ``check_settings``: the one check every stage uses (the loop's resume, scoring, the experiment's reuse,
  generation, the DocRE LLM stage, RCP): accepted only when the recorded settings match; else a
  ``ConfigMismatch`` names every differing field with both values and the way out.
- ``RunLock``: an exclusive ``flock`` on ``<run>/.lock`` held by one process of a stage for its whole life; the
  kernel drops it when that process dies (also on kill -9), so a crash never leaves a stale lock. A second
  writer is refused with the holder's pid and host. (``flock`` on network filesystems depends on the mount: on
  NFS without lock support the lock is advisory at best.)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from pathlib import Path

from harness.cli import InputError

STAGE_SECTIONS = {"train": ("data", "model", "train"), "score": ("data", "model", "scoring", "weights"),
                  "eval": ("data", "model", "eval"), "dpo": ("model", "train", "dpo")}  # what each stage reads


class ConfigMismatch(InputError):
    """A run folder's recorded config differs, in fields that change results, from the one asked for."""


class RunFolderUsed(InputError):
    """A run folder already holds a stage's outputs and neither a resume nor an overwrite was asked for."""


class RunFolderBusy(InputError):
    """Another process holds the run folder's lock."""


def stage_config(cfg, stage: str, cls=None) -> dict:
    """The result-changing fields of ``cfg`` (a config, or a recorded config dict read against ``cls``, default
    RunConfig) for ``stage``, as ``{"section.key": v}`` (harness.config.settings over STAGE_SECTIONS)."""
    from harness.config import RunConfig, settings

    return settings(cfg, STAGE_SECTIONS[stage], cls=cls or (RunConfig if isinstance(cfg, dict) else type(cfg)))


def settings_hash(settings: dict) -> str:
    """A short digest of a flat ``{"section.key": value}`` settings dict (recorded with checkpoints)."""
    blob = json.dumps(settings, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def config_hash(cfg, stage: str) -> str:
    return settings_hash(stage_config(cfg, stage))


def config_diff(recorded: dict, wanted: dict) -> list[str]:
    """``section.key: A there, B now`` for every field that differs (a field missing on one side counts)."""
    keys = sorted(set(recorded) | set(wanted))
    miss = "<unset>"
    return [f"{k}: {recorded.get(k, miss)!r} there, {wanted.get(k, miss)!r} now" for k in keys
            if recorded.get(k, miss) != wanted.get(k, miss)]


def check_settings(recorded: dict, wanted: dict, *, where, what: str, way_out: str) -> None:
    """THE settings check of every stage: refuse when the recorded settings (flat, harness.config.settings) differ
    from the wanted ones, naming every differing field with both values, what is refused and the way out."""
    diff = config_diff(recorded, wanted)
    if diff:
        raise ConfigMismatch(f"{where}: {what} ({'; '.join(diff)}); {way_out}")


def check_same_config(recorded_path: Path, cfg, stage: str, *, what: str, way_out: str) -> None:
    """Refuse ``cfg`` when the config recorded at ``recorded_path`` differs in ``stage``'s result fields."""
    from harness.manifest import read_json

    recorded = read_json(recorded_path, f"recorded config of {what}")
    check_settings(stage_config(recorded, stage, type(cfg)), stage_config(cfg, stage), where=recorded_path.parent,
                   what=f"{what} was made with another config", way_out=way_out)


def claim_run_folder(run_dir: str | Path, stage: str, check) -> RunLock | None:
    """Rank 0 takes the folder's lock and runs ``check()`` (the lock is released again if the check fails); every
    rank learns the outcome (``harness.dist.on_main``), so a refusal stops all of them together instead of leaving
    the others waiting in a collective. Returns the held lock on rank 0, None elsewhere."""
    from harness import dist

    def claim() -> RunLock:
        lock = RunLock(run_dir, stage).acquire()
        try:
            check()
        except BaseException:
            lock.release()
            raise
        return lock

    # FileNotFoundError: nothing to resume, an input error like the check's own refusals
    return dist.on_main(claim, "claiming the run folder", input_types=(FileNotFoundError,))


class RunLock:
    """``with RunLock(run_dir, stage):`` exclusive use of a run folder (see the module docstring)."""

    def __init__(self, run_dir: str | Path, stage: str):
        self.path = Path(run_dir) / ".lock"
        self.stage = stage
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise RunFolderBusy(f"run folder {self.path.parent} is in use by {holder} (lock {self.path}); one "
                                "writer per run folder: wait for it to finish, stop it, or use another run_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.stage} pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
