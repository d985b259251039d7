"""CoNLL04 in the SpERT JSON format: a JSON list of sentences
``{"tokens": [str], "entities": [{"type", "start", "end"}], "relations": [{"type", "head", "tail"}], "orig_id"}``
(``end`` exclusive; ``head``/``tail`` index ``entities``).

Modes:
  gold-pairs  one example per gold relation, in file order (the seed paper's setting)
  all-pairs   every ordered pair (h, t), h != t, of a sentence's gold entities exactly once, h-major order;
              pairs without a gold relation are labelled ``labels.NO_RELATION``
Example ids: ``conll04:<split>:<orig_id>:<head index>:<tail index>`` (``r<record index>`` replaces the orig_id
when a record has none), unique and stable across runs.
"""

from __future__ import annotations

from pathlib import Path

from harness.data.examples import Example
from harness.data.labels import CONLL04_RELATIONS, NO_RELATION
from harness.data.markers import insert_markers
from harness.manifest import read_json_list

CONLL04_MODES = ("gold-pairs", "all-pairs")
_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "}", "%", "'s", "n't", "''", "'"}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "``", "`"}


def detokenise(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """A readable sentence from tokens (no space before closing punctuation or after opening quotes and
    brackets) and each token's character span in it."""
    out, offsets, pos = [], [], 0
    for k, tok in enumerate(tokens):
        if k > 0 and tok not in _NO_SPACE_BEFORE and tokens[k - 1] not in _NO_SPACE_AFTER:
            out.append(" ")
            pos += 1
        offsets.append((pos, pos + len(tok)))
        out.append(tok)
        pos += len(tok)
    return "".join(out), offsets


def _check_record(path: Path, idx: int, rec) -> None:
    where = f"{path}: record {idx}"
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected an object with tokens, entities, relations; got {type(rec).__name__}")
    for key in ("tokens", "entities", "relations"):
        if not isinstance(rec.get(key), list):
            raise ValueError(f"{where}: missing or non-list field {key!r} (expected tokens, entities, relations)")
    toks = rec["tokens"]
    if not toks or not all(isinstance(t, str) and t for t in toks):
        raise ValueError(f"{where}: 'tokens' must be a non-empty list of non-empty strings")
    for j, ent in enumerate(rec["entities"]):
        if not isinstance(ent, dict) or any(k not in ent for k in ("type", "start", "end")):
            raise ValueError(f"{where}: entity {j}: expected fields type, start, end; got {ent!r}")
        s, e = ent["start"], ent["end"]
        if not (isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(toks)):
            raise ValueError(f"{where}: entity {j}: expected 0 <= start < end <= {len(toks)}; got {s}, {e}")
    pairs: set[tuple[int, int]] = set()
    for j, rel in enumerate(rec["relations"]):
        if not isinstance(rel, dict) or any(k not in rel for k in ("type", "head", "tail")):
            raise ValueError(f"{where}: relation {j}: expected fields type, head, tail; got {rel!r}")
        h, t, n = rel["head"], rel["tail"], len(rec["entities"])
        if not (isinstance(h, int) and isinstance(t, int) and 0 <= h < n and 0 <= t < n and h != t):
            raise ValueError(f"{where}: relation {j}: head/tail must be distinct entity indices in [0, {n}); "
                             f"got {h}, {t}")
        if rel["type"] not in CONLL04_RELATIONS:
            raise ValueError(f"{where}: relation {j}: unknown type {rel['type']!r}; expected one of "
                             f"{CONLL04_RELATIONS}")
        if (h, t) in pairs:
            raise ValueError(f"{where}: relation {j}: a second relation for the pair ({h}, {t})")
        pairs.add((h, t))


def _example(rec: dict, sent_key: str, split: str, h: int, t: int, label: str) -> Example:
    plain, offs = detokenise(rec["tokens"])
    eh, et = rec["entities"][h], rec["entities"][t]
    hspan = (offs[eh["start"]][0], offs[eh["end"] - 1][1])
    tspan = (offs[et["start"]][0], offs[et["end"] - 1][1])
    text, hs, ts = insert_markers(plain, hspan, tspan)
    return Example(id=f"conll04:{split}:{sent_key}:{h}:{t}", text=text, head=text[hs[0]:hs[1]],
                   tail=text[ts[0]:ts[1]], head_span=hs, tail_span=ts, label=label, split=split)


def load_records(path: str | Path) -> list[dict]:
    """The validated sentence records of one SpERT JSON file."""
    path = Path(path)
    data = read_json_list(path, "CoNLL04", "SpERT sentence records")
    seen: dict = {}
    for idx, rec in enumerate(data):
        _check_record(path, idx, rec)
        oid = rec.get("orig_id")
        if oid is not None:
            if oid in seen:
                raise ValueError(f"{path}: record {idx}: duplicate orig_id {oid!r} (first in record {seen[oid]})")
            seen[oid] = idx
    return data


def read_conll04(path: str | Path, split: str, mode: str = "gold-pairs") -> list[Example]:
    if mode not in CONLL04_MODES:
        raise ValueError(f"unknown CoNLL04 mode {mode!r}; expected one of {CONLL04_MODES}")
    out: list[Example] = []
    for idx, rec in enumerate(load_records(path)):
        key = str(rec["orig_id"]) if rec.get("orig_id") is not None else f"r{idx}"
        if mode == "gold-pairs":
            out += [_example(rec, key, split, r["head"], r["tail"], r["type"]) for r in rec["relations"]]
            continue
        gold = {(r["head"], r["tail"]): r["type"] for r in rec["relations"]}
        n = len(rec["entities"])
        out += [_example(rec, key, split, h, t, gold.get((h, t), NO_RELATION))
                for h in range(n) for t in range(n) if h != t]
    return out
