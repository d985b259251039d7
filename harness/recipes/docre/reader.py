"""DocRED / Re-DocRED JSON -> ``Document`` list, and rel_info.json -> {P-id: name}.

A file is one JSON list of documents ``{title, sents, vertexSet, labels}`` (DocRED's format; Re-DocRED is the
same). Every error names the file, the document (index and title) and the field, and what to do.
"""

from __future__ import annotations

from pathlib import Path

from harness.manifest import read_json
from harness.recipes.docre.types import Document, Entity, Fact, Mention


def _where(path, i: int, doc) -> str:
    title = doc.get("title") if isinstance(doc, dict) else None
    return f"{path}: document {i}" + (f" ({title!r})" if title else "")


def _mention(m, sents, where: str) -> Mention:
    try:
        name, sent_id, (start, end), typ = m["name"], int(m["sent_id"]), m["pos"], m["type"]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: a mention lacks name / sent_id / pos [start, end] / type ({e!r}); "
                         "fix the file (DocRED format)") from e
    if not 0 <= sent_id < len(sents) or not 0 <= start < end <= len(sents[sent_id]):
        raise ValueError(f"{where}: mention {name!r} at sentence {sent_id} tokens [{start}, {end}) is outside the "
                         "document's sentences; fix the file")
    return Mention(str(name), sent_id, (int(start), int(end)), str(typ))


def _fact(lab, n_ent: int, where: str) -> Fact:
    try:
        h, t, r = int(lab["h"]), int(lab["t"]), str(lab["r"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: a label lacks h / t / r ({e!r}); fix the file (DocRED format)") from e
    if not (0 <= h < n_ent and 0 <= t < n_ent):
        raise ValueError(f"{where}: label {lab!r} names an entity outside vertexSet (0..{n_ent - 1}); fix the file")
    return Fact(h, t, r, tuple(int(e) for e in lab.get("evidence", [])))


def parse_document(doc, where: str) -> Document:
    if not isinstance(doc, dict) or not {"title", "sents", "vertexSet"} <= set(doc):
        raise ValueError(f"{where}: expected an object with title, sents, vertexSet (and labels); fix the file")
    sents = tuple(tuple(str(w) for w in s) for s in doc["sents"])
    entities = []
    for k, vertex in enumerate(doc["vertexSet"]):
        if not vertex:
            raise ValueError(f"{where}: entity {k} of vertexSet has no mention; fix the file")
        entities.append(Entity(tuple(_mention(m, sents, f"{where}, entity {k}") for m in vertex)))
    facts = tuple(_fact(lab, len(entities), where) for lab in doc.get("labels", []))
    return Document(str(doc["title"]), sents, tuple(entities), facts)


def read_docred(path: str | Path, relations: dict[str, str] | None = None) -> list[Document]:
    """Every document of a DocRED-format file. ``relations`` ({P-id: name}) checks every label's relation."""
    data = read_json(path, "DocRED file")
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of documents, got {type(data).__name__}")
    docs, seen = [], {}
    for i, doc in enumerate(data):
        where = _where(path, i, doc)
        d = parse_document(doc, where)
        if d.title in seen:
            raise ValueError(f"{where}: title repeats document {seen[d.title]}; titles key the evaluation, make "
                             "them unique")
        unknown = sorted({f.r for f in d.facts} - set(relations)) if relations is not None else []
        if unknown:
            raise ValueError(f"{where}: relation(s) {unknown} are not in rel_info.json; pass the matching file")
        seen[d.title] = i
        docs.append(d)
    return docs


def read_rel_info(path: str | Path) -> dict[str, str]:
    """rel_info.json: {Wikidata P-id: relation name}."""
    data = read_json(path, "rel_info.json")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{path}: expected a JSON object {{P-id: relation name}}")
    return dict(data)
