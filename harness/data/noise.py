"""Weak supervision for the training split: seeded uniform label noise, or weak labels read from a file.

Both return new examples with ``weak_label`` set on every example (equal to gold where nothing changed) and
``is_noisy = weak_label != label``, plus a report whose ``realised_rate`` is the fraction of examples whose
weak label differs from gold.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from harness.data.examples import Example
from harness.data.labels import LabelSpace
from harness.manifest import iter_jsonl


def _with_weak(ex: Example, weak: str) -> Example:
    return dataclasses.replace(ex, weak_label=weak, is_noisy=weak != ex.label)


def _report(kind: str, out: list[Example], **extra) -> dict:
    n_noisy = sum(ex.is_noisy for ex in out)
    return {"kind": kind, "n": len(out), "n_noisy": n_noisy,
            "realised_rate": n_noisy / len(out) if out else 0.0, **extra}


def uniform_noise(examples: list[Example], space: LabelSpace, rate: float, seed: int) -> tuple[list[Example], dict]:
    """Corrupt exactly ``round(rate * n)`` examples (chosen uniformly without replacement), each to a label drawn
    uniformly from the ``len(space) - 1`` labels other than its gold label. Same seed, same corruption."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"noise rate must be in [0, 1), got {rate}")
    if len(space) < 2:
        raise ValueError(f"label space {space.name} has {len(space)} label(s); noise needs at least 2")
    for ex in examples:
        if ex.label not in space:
            raise ValueError(f"example {ex.id!r}: gold label {ex.label!r} not in label space {space.name}")
    n = len(examples)
    k = round(rate * n)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    new_label = {}
    for i in chosen.tolist():
        others = [lab for lab in space.labels if lab != examples[i].label]
        new_label[i] = others[int(rng.integers(len(others)))]
    out = [_with_weak(ex, new_label.get(i, ex.label)) for i, ex in enumerate(examples)]
    return out, _report("uniform", out, rate_requested=rate, seed=seed, n_corrupted=k)


def _read_weak_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) pairs of a CSV (header with id and label/weak_label) or JSONL file."""
    if not path.is_file():
        raise FileNotFoundError(f"weak-label file not found: {path}")
    rows: list[tuple[int, dict]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None:
                raise ValueError(f"{path}: empty file; expected a header 'id,label' and one row per example")
            if "id" not in reader.fieldnames or not {"label", "weak_label"} & set(reader.fieldnames):
                raise ValueError(f"{path}:1: expected a header with 'id' and 'label' (or 'weak_label'); "
                                 f"got {reader.fieldnames}")
            rows = [(reader.line_num, row) for row in reader]
    elif path.suffix.lower() in (".jsonl", ".json"):
        for lineno, rec in iter_jsonl(path, "weak-label file"):
            if not isinstance(rec, dict):
                raise ValueError(f"{path}:{lineno}: expected an object with id and label")
            rows.append((lineno, rec))
    else:
        raise ValueError(f"{path}: weak-label file must end in .csv or .jsonl")
    if not rows:
        raise ValueError(f"{path}: empty file; expected one (id, label) row per training example")
    return rows


def read_weak_labels(path: str | Path, space: LabelSpace) -> dict[str, str]:
    """``{example id: weak label}``; missing fields, unknown labels and duplicate ids are errors."""
    path = Path(path)
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for lineno, row in _read_weak_rows(path):
        ex_id = row.get("id")
        lab = row.get("weak_label", row.get("label"))
        if ex_id is None or str(ex_id) == "" or not isinstance(lab, str) or not lab:
            raise ValueError(f"{path}:{lineno}: expected an id and a label (or weak_label); got {row!r}")
        ex_id = str(ex_id)
        if lab not in space:
            raise ValueError(f"{path}:{lineno}: unknown label {lab!r} for id {ex_id!r}; expected one of "
                             f"{space.labels} (label space {space.name})")
        if ex_id in first:
            raise ValueError(f"{path}:{lineno}: duplicate id {ex_id!r} (first on line {first[ex_id]})")
        first[ex_id] = lineno
        out[ex_id] = lab
    return out


def apply_weak_labels(examples: list[Example], path: str | Path, space: LabelSpace,
                      other_known_ids: set[str] | frozenset[str] = frozenset()) -> tuple[list[Example], dict]:
    """Set each example's weak label from the file. Every example needs one. Ids in ``other_known_ids``
    (e.g. examples held out as dev, or cut by max_train_examples) are allowed and ignored; any other id that
    is not an example's is an error."""
    weak = read_weak_labels(path, space)
    ids = {ex.id for ex in examples}
    unknown = [i for i in weak if i not in ids and i not in other_known_ids]
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} id(s) match no example of the dataset, e.g. {unknown[:5]}")
    missing = [ex.id for ex in examples if ex.id not in weak]
    if missing:
        raise ValueError(f"{path}: {len(missing)} training example(s) have no weak label, e.g. {missing[:5]}")
    out = [_with_weak(ex, weak[ex.id]) for ex in examples]
    return out, _report("file", out, path=str(path), n_ignored=len(weak) - len(out))
