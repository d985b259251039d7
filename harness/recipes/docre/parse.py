"""LLM outputs '(head| relation| tail)' -> official predictions {title, h_idx, t_idx, r}, every drop counted by reason.

Reading a generation (one prompt's output):
- Lines are split on newlines, and a line holding several triples ')(' / '), (' / '); (' is split between them.
- A piece loses surrounding whitespace, list markers ('1.', '-', '*'), one leading '(' and one trailing ')' (with a
  trailing ',', ';' or '.' after it); a missing parenthesis is tolerated. Its fields are split on '|' and stripped.
- Three fields: (head, relation, tail). More than three (a name with '|' in it, or a stray pipe): every split
  point is tried and the first whose middle field names a known relation and whose sides name entities is kept.
  Fewer than three, or an empty field ('(|||||'): 'malformed'.
Mapping a triple:
- Relation: the rel_info.json name exactly, else the same name ignoring case and repeated whitespace; 'None' (the
  DocRE prompt's no-relation answer) -> 'none'; else, with a ``RelationAligner`` (harness.recipes.docre.align, LMRC
  appendix B), the most similar relation name by sentence embeddings when the cosine reaches its threshold
  (counted in ``aligned``: "answer -> relation name" -> triples, ``aligned_kept`` of them became predictions);
  anything else -> 'unknown_relation'.
- Entity: the prompt name (harness.recipes.docre.prompts.entity_names, duplicate names disambiguated there) exactly, else
  ignoring case and repeated whitespace, else a mention name that belongs to exactly one entity, else the best
  rapidfuzz ``fuzz.ratio`` (case-folded) over the prompt names when it reaches ``fuzzy_threshold`` (0-100) and no
  other name ties it; otherwise 'unmatched_head' / 'unmatched_tail'.
- h == t -> 'self_pair'; a pair the prompt did not ask (when ``only_asked``) -> 'pair_not_asked'; a triple already
  kept for the same document -> 'duplicate'.
Default threshold 90: a one-character slip in a ten-character name scores 90 (ratio = 2 * matches / total length);
below that, distinct entities of one document ('Norland' / 'Northland') start to collide.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from harness.recipes.docre.prompts import entity_names
from harness.recipes.docre.types import Document

FUZZY_THRESHOLD = 90.0  # rapidfuzz fuzz.ratio score (0-100) a fuzzy entity match needs
REASONS = ("malformed", "none", "unknown_relation", "unmatched_head", "unmatched_tail", "self_pair",
           "pair_not_asked", "duplicate")
_SPLIT = re.compile(r"\)\s*[,;]?\s*(?=\()")
_MARKER = re.compile(r"^(?:\d+[.)]|[-*\u2022])\s+")


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


@dataclass
class Triple:
    head: str
    relation: str
    tail: str


def pieces(text: str) -> list[str]:
    """Candidate triple strings of a generation."""
    out = []
    for line in text.splitlines():
        parts = _SPLIT.split(line.strip())
        out += [p + ")" if i < len(parts) - 1 else p for i, p in enumerate(parts)]
    return [p.strip() for p in out if p.strip()]


def fields_of(piece: str) -> list[str]:
    s = _MARKER.sub("", piece.strip())
    s = s.rstrip(",;.").strip()
    s = s[1:] if s.startswith("(") else s
    s = s[:-1] if s.endswith(")") else s
    return [f.strip() for f in s.split("|")]


class RelationMap:
    def __init__(self, relations: dict[str, str]):
        self.exact = {name: pid for pid, name in relations.items()}
        self.loose = {_norm(name): pid for pid, name in relations.items()}

    def get(self, name: str) -> str | None:
        return self.exact.get(name) or self.loose.get(_norm(name))


class EntityMap:
    """Prompt names (and unique mention names) of one document -> entity index."""

    def __init__(self, doc: Document, threshold: float = FUZZY_THRESHOLD):
        self.names = entity_names(doc)
        self.exact = {n: i for i, n in enumerate(self.names)}
        self.loose = {_norm(n): i for i, n in enumerate(self.names)}
        owners: dict[str, set[int]] = {}
        for i, e in enumerate(doc.entities):
            for m in e.mentions:
                owners.setdefault(_norm(m.name), set()).add(i)
        self.mention = {n: next(iter(s)) for n, s in owners.items() if len(s) == 1}
        self.threshold = threshold

    def get(self, name: str) -> int | None:
        for table, key in ((self.exact, name), (self.loose, _norm(name)), (self.mention, _norm(name))):
            if key in table:
                return table[key]
        scores = [fuzz.ratio(_norm(name), _norm(n)) for n in self.names]
        if not scores:
            return None
        best = max(scores)
        if best >= self.threshold and scores.count(best) == 1:
            return scores.index(best)
        return None


def split_fields(fields: list[str], rels: RelationMap, ents: EntityMap) -> Triple | None:
    """The (head, relation, tail) of a piece's fields; None (malformed) with fewer than 3 or an empty one."""
    if len(fields) < 3:
        return None
    if len(fields) == 3:
        return Triple(*fields) if all(fields) else None
    for i in range(1, len(fields) - 1):
        head, rel, tail = "|".join(fields[:i]), fields[i], "|".join(fields[i + 1:])
        if rels.get(rel) and ents.get(head) is not None and ents.get(tail) is not None:
            return Triple(head, rel, tail)
    head, rel, tail = "|".join(fields[:-2]).strip("| "), fields[-2], fields[-1]
    return Triple(head, rel, tail) if head and rel and tail else None


@dataclass
class ParseResult:
    predictions: list[dict] = field(default_factory=list)  # {title, h_idx, t_idx, r}
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    n_pieces: int = 0  # candidate triple strings read
    aligned: Counter = field(default_factory=Counter)  # "answer -> relation name" -> triples aligned that way
    aligned_kept: int = 0  # predictions whose relation was aligned (the rest dropped later for another reason)

    def report(self) -> dict:
        return {"n_pieces": self.n_pieces, "n_predictions": len(self.predictions),
                "dropped": {r: self.dropped.get(r, 0) for r in REASONS},
                "aligned": sum(self.aligned.values()), "aligned_kept": self.aligned_kept,
                "aligned_relations": dict(self.aligned.most_common())}


def _relation(name: str, rels: RelationMap, aligner, result: ParseResult) -> tuple[str | None, bool]:
    """(relation id or None, whether it came from the aligner); an alignment is counted in ``result``."""
    pid = rels.get(name)
    if pid is not None or aligner is None:
        return pid, False
    pid, _, rel_name = aligner.align(name)
    if pid is not None:
        result.aligned[f"{_norm(name)} -> {rel_name}"] += 1
    return pid, pid is not None


def _map(tr: Triple, rels: RelationMap, ents: EntityMap, asked, aligner,
         result: ParseResult) -> tuple[tuple[int, int, str] | None, str, bool]:
    if _norm(tr.relation) == "none":
        return None, "none", False
    pid, aligned = _relation(tr.relation, rels, aligner, result)
    if pid is None:
        return None, "unknown_relation", False
    h, t = ents.get(tr.head), ents.get(tr.tail)
    if h is None or t is None:
        return None, "unmatched_head" if h is None else "unmatched_tail", aligned
    if h == t:
        return None, "self_pair", aligned
    if asked is not None and (h, t) not in asked:
        return None, "pair_not_asked", aligned
    return (h, t, pid), "", aligned


def parse_generation(text: str, doc: Document, relations: dict[str, str], *, asked=None,
                     threshold: float = FUZZY_THRESHOLD, result: ParseResult | None = None,
                     seen: set | None = None, aligner=None) -> ParseResult:
    """Add the predictions of one generation for ``doc`` to ``result``. ``asked``: the prompt's pairs (None: any
    pair); ``seen``: the (h, t, r) already kept for this document (duplicates across its prompts); ``aligner``: a
    ``harness.recipes.docre.align.RelationAligner`` for relations outside the set (None: they are dropped)."""
    result = result if result is not None else ParseResult()
    seen = seen if seen is not None else set()
    rels, ents = RelationMap(relations), EntityMap(doc, threshold)
    asked = None if asked is None else {tuple(p) for p in asked}
    for piece in pieces(text):
        result.n_pieces += 1
        tr = split_fields(fields_of(piece), rels, ents)
        key, why, aligned = _map(tr, rels, ents, asked, aligner, result) if tr is not None else (None, "malformed",
                                                                                                  False)
        if key is not None and key in seen:
            key, why = None, "duplicate"
        if key is None:
            result.dropped[why] += 1
            continue
        seen.add(key)
        result.aligned_kept += aligned
        result.predictions.append({"title": doc.title, "h_idx": key[0], "t_idx": key[1], "r": key[2]})
    return result


def parse_outputs(outputs: list[tuple], docs: list[Document], relations: dict[str, str], *,
                  only_asked: bool = True, threshold: float = FUZZY_THRESHOLD, aligner=None) -> ParseResult:
    """``outputs``: (document index, asked pairs, generated text) per prompt -> every prediction and the counts."""
    result, seen = ParseResult(), {}
    for doc_i, pairs, text in outputs:
        parse_generation(text, docs[doc_i], relations, asked=pairs if only_asked else None, threshold=threshold,
                         result=result, seen=seen.setdefault(doc_i, set()), aligner=aligner)
    return result
