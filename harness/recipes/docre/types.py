"""The typed DocRED document every DocRE stage reads (``harness.recipes.docre.reader`` builds them).

Indices are DocRED's: entity ``i`` is ``vertexSet[i]``, a mention's ``pos`` is a [start, end) token range inside
sentence ``sent_id``, a fact's ``h``/``t`` are entity indices and ``r`` a Wikidata P-id (a key of rel_info.json).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mention:
    name: str  # surface text
    sent_id: int  # sentence index in the document
    pos: tuple[int, int]  # [start, end) token range within that sentence
    type: str  # entity type (PER, ORG, LOC, TIME, NUM, MISC)


@dataclass(frozen=True)
class Entity:
    mentions: tuple[Mention, ...]  # at least one; the first is the entity's display name (DocRED convention)

    @property
    def name(self) -> str:
        return self.mentions[0].name

    @property
    def type(self) -> str:
        return self.mentions[0].type


@dataclass(frozen=True)
class Fact:
    h: int  # head entity index
    t: int  # tail entity index
    r: str  # relation P-id
    evidence: tuple[int, ...] = ()  # supporting sentence indices


@dataclass(frozen=True)
class Document:
    title: str  # unique within a file (the official evaluation keys predictions by title)
    sents: tuple[tuple[str, ...], ...]  # tokenised sentences
    entities: tuple[Entity, ...]  # DocRED's vertexSet
    facts: tuple[Fact, ...]  # gold labels ([] for unlabelled test files)

    def candidate_pairs(self) -> list[tuple[int, int]]:
        """All ordered pairs of distinct entities (the candidate set of LMRC's Table 1), in (h, t) order."""
        n = len(self.entities)
        return [(h, t) for h in range(n) for t in range(n) if h != t]

    def related_pairs(self) -> set[tuple[int, int]]:
        """Ordered pairs holding at least one gold relation."""
        return {(f.h, f.t) for f in self.facts}

    def sent_offsets(self) -> list[int]:
        """Token offset of each sentence in the flattened document (plus the total at the end)."""
        out = [0]
        for s in self.sents:
            out.append(out[-1] + len(s))
        return out

    def tokens(self) -> list[str]:
        return [w for s in self.sents for w in s]
