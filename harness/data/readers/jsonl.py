"""A generic JSONL format for users' own data: one object per line.

Required: ``label`` and ``text``; either ``text`` carries <e1>..</e1> <e2>..</e2> markers, or it is plain and
``head_span`` / ``tail_span`` give ``[start, end)`` character spans into it (markers are then inserted).
Optional: ``id`` (default ``<file stem>:<line number>``), ``split`` (train | dev | test; default the
``split`` argument), ``head`` / ``tail`` (checked against the marked or spanned text when given).
Blank lines are skipped. Labels are checked against ``space`` when one is given.
"""

from __future__ import annotations

from pathlib import Path

from harness.data.examples import Example
from harness.data.labels import LabelSpace
from harness.data.markers import insert_markers, parse_marked
from harness.manifest import iter_jsonl

SPLITS = ("train", "dev", "test")


def _record_example(rec: dict, default_id: str, default_split: str) -> Example:
    """One record -> Example; raises ValueError without a location."""
    if not isinstance(rec, dict):
        raise ValueError(f"expected a JSON object, got {type(rec).__name__}")
    for key in ("text", "label"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            raise ValueError(f"missing or non-string field {key!r} (required: text, label)")
    has_spans = "head_span" in rec or "tail_span" in rec
    if has_spans:
        if "head_span" not in rec or "tail_span" not in rec:
            raise ValueError("give both head_span and tail_span, or neither (and markers in text)")
        spans = []
        for key in ("head_span", "tail_span"):
            v = rec[key]
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v)):
                raise ValueError(f"{key} must be [start, end] integers, got {v!r}")
            spans.append(tuple(v))
        text, hs, ts = insert_markers(rec["text"], spans[0], spans[1])
        head, tail = text[hs[0]:hs[1]], text[ts[0]:ts[1]]
    else:
        text = rec["text"]
        head, tail, hs, ts = parse_marked(text)
    for key, found in (("head", head), ("tail", tail)):
        if key in rec and rec[key] != found:
            raise ValueError(f"field {key!r} is {rec[key]!r} but the text marks {found!r}")
    split = rec.get("split", default_split)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    ex_id = rec.get("id", default_id)
    if not isinstance(ex_id, (str, int)) or isinstance(ex_id, bool) or str(ex_id) == "":
        raise ValueError(f"id must be a non-empty string or integer, got {ex_id!r}")
    return Example(id=str(ex_id), text=text, head=head, tail=tail, head_span=hs, tail_span=ts,
                   label=rec["label"], split=split)


def read_jsonl(path: str | Path, split: str = "train", space: LabelSpace | None = None) -> list[Example]:
    """All records of one JSONL file, in file order; errors name ``file:line``."""
    path = Path(path)
    out: list[Example] = []
    seen: dict[str, int] = {}
    for lineno, rec in iter_jsonl(path):
        try:
            ex = _record_example(rec, f"{path.stem}:{lineno}", split)
        except ValueError as e:
            raise ValueError(f"{path}:{lineno}: {e}") from None
        if space is not None and ex.label not in space:
            raise ValueError(f"{path}:{lineno}: unknown label {ex.label!r}; expected one of {space.labels} "
                             f"(label space {space.name})")
        if ex.id in seen:
            raise ValueError(f"{path}:{lineno}: duplicate id {ex.id!r} (first on line {seen[ex.id]})")
        seen[ex.id] = lineno
        out.append(ex)
    if not out:
        raise ValueError(f"{path}: empty file; expected one JSON object per line with text and label")
    return out

