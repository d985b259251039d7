"""Manifests: the JSON that sits beside every stage's output and says what produced it.

Each stage writes one with ``write_manifest`` (atomic) and checks its input's with ``check_manifest``, which
refuses a mismatch with a message naming the file, the field, and both values.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.cli import InputError
from harness.run import atomic_write_json


class ManifestMismatch(InputError):
    """An input's manifest does not match what the consuming stage expects."""


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "deepspeed", "triton", "numpy", "datasets"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def write_manifest(path: str | Path, data: dict) -> None:
    atomic_write_json(path, data)


def read_json(path: str | Path, what: str = "file", error: type[Exception] = ValueError) -> dict:
    """Read a JSON file; a missing file or invalid JSON gets a message naming ``what``, the path and the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise error(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from e


def read_json_list(path: str | Path, fmt: str, what: str) -> list:
    """A ``fmt`` file (e.g. "CoNLL04") holding one non-empty JSON list of ``what`` (e.g. "SpERT sentence
    records"); a missing or empty
    file, invalid JSON or another top-level value gets a one-line message naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{fmt} file not found: {path}")
    raw = path.read_text(encoding="utf-8")
    if not raw.strip():
        raise ValueError(f"{path}: empty file; expected a JSON list of {what}")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno} column {e.colno}: invalid JSON ({e.msg})") from e
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty JSON list of {what}; got {type(data).__name__}")
    return data


def iter_jsonl(path: str | Path, what: str = "JSONL file"):
    """Yield ``(line number, object)`` for every non-blank line; a missing file or a line that is not JSON gets
    a message naming ``what`` / ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None


def read_manifest(path: str | Path) -> dict:
    return read_json(path, "manifest", ManifestMismatch)


def check_manifest(path: str | Path, expected: dict, what: str = "input") -> dict:
    """Read the manifest at ``path`` and require ``manifest[k] == v`` for every k, v in ``expected``."""
    found = read_manifest(path)
    bad = [(k, found.get(k, "<missing>"), v) for k, v in expected.items() if found.get(k, "<missing>") != v]
    if bad:
        lines = "; ".join(f"{k}: file has {f!r}, expected {e!r}" for k, f, e in bad)
        raise ManifestMismatch(f"{path}: this {what} was produced for different inputs ({lines})")
    return found
