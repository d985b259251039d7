"""The entity pairs a document's prompts ask: gold related pairs, all pairs, or an RCP candidates file.

Candidates file (the contract with the RCP stage, harness.recipes.docre.rcp): JSONL, one line per document in the document
file's order, ``{"title": str, "pairs": [[h, t], ...], "scores": [float, ...]}``; pairs are ordered entity pairs
of distinct entities, scores RCP's related-probabilities (same length). The reader checks the line count, each
title against its document, the indices and the lengths, and keeps the file's pair order.
"""

from __future__ import annotations

from pathlib import Path

from harness.manifest import iter_jsonl
from harness.recipes.docre.types import Document


def gold_pairs(doc: Document) -> list[tuple[int, int]]:
    """The document's related pairs, sorted by (h, t)."""
    return sorted(doc.related_pairs())


def _check_line(rec, doc: Document, where: str) -> list[tuple[int, int]]:
    if not isinstance(rec, dict) or not {"title", "pairs", "scores"} <= set(rec):
        got = sorted(rec) if isinstance(rec, dict) else rec
        raise ValueError(f"{where}: expected an object {{title, pairs, scores}}, got {got!r}")
    if rec["title"] != doc.title:
        raise ValueError(f"{where}: title {rec['title']!r} but the document at that position is {doc.title!r}; the "
                         "candidates file must follow the document file's order (was it made for another file?)")
    pairs, scores = rec["pairs"], rec["scores"]
    if not isinstance(pairs, list) or not isinstance(scores, list) or len(pairs) != len(scores):
        raise ValueError(f"{where}: pairs and scores must be lists of the same length")
    n, out = len(doc.entities), []
    for p in pairs:
        ok = isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in p)
        if not ok or not (0 <= p[0] < n and 0 <= p[1] < n) or p[0] == p[1]:
            raise ValueError(f"{where}: pair {p!r} is not [h, t] of two distinct entities among {n}")
        out.append((p[0], p[1]))
    return out


def read_candidates(path: str | Path, docs: list[Document], *, prefix: bool = False) -> list[list[tuple[int, int]]]:
    """Each document's candidate pairs from an RCP candidates file (checked against ``docs``). ``prefix``: ``docs``
    are the first documents of the file the candidates were made for (data.max_eval_docs); later lines are ignored."""
    out = []
    for i, rec in iter_jsonl(path, "candidates file"):
        if len(out) == len(docs) and prefix:
            break
        if len(out) >= len(docs):
            raise ValueError(f"{path}:{i}: more lines than the {len(docs)} documents")
        out.append(_check_line(rec, docs[len(out)], f"{path}:{i}"))
    if len(out) != len(docs):
        raise ValueError(f"{path}: {len(out)} lines for {len(docs)} documents; one line per document, in order")
    return out


def pairs_for(spec: str, docs: list[Document], *, prefix: bool = False) -> list[list[tuple[int, int]]]:
    """``gold`` (oracle RCP), ``all`` (no RCP: every ordered pair), or a candidates file path."""
    if spec == "gold":
        return [gold_pairs(d) for d in docs]
    if spec == "all":
        return [d.candidate_pairs() for d in docs]
    return read_candidates(spec, docs, prefix=prefix)
