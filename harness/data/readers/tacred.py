"""The TACRED JSON format, shared by TACRED, TACREV and Re-TACRED (users bring their own licensed copy).

A file is a JSON list of records
``{"id", "token": [str], "subj_start", "subj_end", "obj_start", "obj_end", "subj_type", "obj_type",
"relation", ...}``; the four indices are token positions with INCLUSIVE ends. Required here: ``token``, the
four indices and ``relation``; ``id`` is optional (default ``<split>:r<record index>``); ``subj_type`` /
``obj_type`` and the Stanford annotations are not kept (``Example`` has no entity-type fields).

Example text: the tokens joined with single spaces, the PTB bracket tokens (``-LRB-`` ``-RRB-`` ``-LSB-``
``-RSB-`` ``-LCB-`` ``-RCB-``) converted back to ``( ) [ ] { }``, then <e1>..</e1> around the subject (head)
and <e2>..</e2> around the object (tail). Labels are kept as the file spells them (``per:city_of_birth``,
``no_relation``).
"""

from __future__ import annotations

from pathlib import Path

from harness.data.examples import Example
from harness.data.markers import insert_markers
from harness.manifest import read_json_list

TACRED_NO_RELATION = "no_relation"  # TACRED's own spelling (harness.data.labels.NO_RELATION is "No_Relation")
PTB_BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_SPANS = (("subj_start", "subj_end"), ("obj_start", "obj_end"))
REQUIRED = ("token", "subj_start", "subj_end", "obj_start", "obj_end", "relation")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_record(rec) -> None:
    """Raises ValueError (without a location) when ``rec`` is not a usable TACRED record."""
    if not isinstance(rec, dict):
        raise ValueError(f"expected an object with fields {', '.join(REQUIRED)}; got {type(rec).__name__}")
    missing = [k for k in REQUIRED if k not in rec]
    if missing:
        raise ValueError(f"missing field(s) {missing} (required: {', '.join(REQUIRED)})")
    toks = rec["token"]
    if not isinstance(toks, list) or not toks or not all(isinstance(t, str) and t.strip() for t in toks):
        raise ValueError("'token' must be a non-empty list of non-blank strings")
    for start_key, end_key in _SPANS:
        s, e = rec[start_key], rec[end_key]
        if not (_is_int(s) and _is_int(e) and 0 <= s <= e < len(toks)):
            raise ValueError(f"{start_key}/{end_key} = {s!r}/{e!r} out of range: expected integers "
                             f"0 <= start <= end < {len(toks)} (inclusive end)")
    if rec["subj_start"] <= rec["obj_end"] and rec["obj_start"] <= rec["subj_end"]:
        raise ValueError(f"subject tokens [{rec['subj_start']}, {rec['subj_end']}] and object tokens "
                         f"[{rec['obj_start']}, {rec['obj_end']}] overlap")
    if not isinstance(rec["relation"], str) or not rec["relation"]:
        raise ValueError(f"'relation' must be a non-empty string; got {rec['relation']!r}")
    rid = rec.get("id")
    if rid is not None and (not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == ""):
        raise ValueError(f"'id' must be a non-empty string or integer; got {rid!r}")


def _example(rec: dict, ex_id: str, split: str) -> Example:
    tokens = [PTB_BRACKETS.get(t, t) for t in rec["token"]]
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(t) + 1
    plain = " ".join(tokens)
    hspan = (starts[rec["subj_start"]], starts[rec["subj_end"]] + len(tokens[rec["subj_end"]]))
    tspan = (starts[rec["obj_start"]], starts[rec["obj_end"]] + len(tokens[rec["obj_end"]]))
    text, hs, ts = insert_markers(plain, hspan, tspan)
    return Example(id=ex_id, text=text, head=text[hs[0]:hs[1]], tail=text[ts[0]:ts[1]], head_span=hs,
                   tail_span=ts, label=rec["relation"], split=split)


def read_tacred(path: str | Path, split: str) -> list[Example]:
    """All records of one TACRED-format file, in file order; errors name the file and the record index."""
    path = Path(path)
    out: list[Example] = []
    seen: dict[str, int] = {}
    for idx, rec in enumerate(read_json_list(path, "TACRED", "TACRED records")):
        try:
            _check_record(rec)
            ex_id = str(rec["id"]) if rec.get("id") is not None else f"{split}:r{idx}"
            ex = _example(rec, ex_id, split)
        except ValueError as e:
            raise ValueError(f"{path}: record {idx}: {e}") from None
        if ex.id in seen:
            raise ValueError(f"{path}: record {idx}: duplicate id {ex.id!r} (first in record {seen[ex.id]})")
        seen[ex.id] = idx
        out.append(ex)
    return out
