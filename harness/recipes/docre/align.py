"""Sentence-embedding relation alignment (LMRC appendix B): an LLM answer whose relation is not in the relation set
is mapped to the most similar relation name when the cosine similarity reaches a threshold, else it stays an
unknown relation (dropped).

Similarity: cosine of mean-pooled, L2-normalised sentence embeddings (harness.models.embed; default the checked
``minilm-l6`` asset, all-MiniLM-L6-v2) of the answer and of every relation name (rel_info.json's names, e.g.
"country of citizenship"). The answer is case-folded with runs of whitespace joined (as the parser's exact
matching); each distinct answer is embedded once per aligner.

Threshold (``DecodeConfig.relation_align``): 0 = off, the default, because LMRC's reported scores count an
out-of-set relation as an error (its footnote 1) and the official comparison stays exact; LMRC's appendix B found
its F1 peaked near 0.55 (SBERT), the value to try. Measured with all-MiniLM-L6-v2 on DocRED's 96 names (tests/docre/
test_docre_align.py): paraphrases such as "birth date" (0.95 to "date of birth"), "wife" (0.86 to "spouse"),
"employed by" (0.65 to "employer") clear 0.55; unrelated strings ("-", "purple elephant", a sentence) stay below
0.35; misspellings split into rare word pieces can fall below it ("date of brith" 0.48), where they are dropped
rather than mis-aligned.
"""

from __future__ import annotations

from harness.cli import InputError

DEFAULT_MODEL = "minilm-l6"  # the embedding model: a model asset or a local encoder checkpoint


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


class RelationAligner:
    """``align(answer) -> (relation id or None, similarity, relation name)`` over ``relations`` {P-id: name}."""

    def __init__(self, relations: dict[str, str], threshold: float, model: str = DEFAULT_MODEL, *, embedder=None):
        if not 0.0 < threshold <= 1.0:
            raise InputError(f"relation alignment threshold must be a cosine similarity in (0, 1], got {threshold}")
        if embedder is None:
            from harness.models.embed import SentenceEmbedder

            embedder = SentenceEmbedder(model)
        self.threshold, self.embedder = float(threshold), embedder
        self.pids, self.names = list(relations), list(relations.values())
        self.matrix = embedder.embed(self.names)  # [R, d] unit rows
        self._cache: dict[str, tuple[int, float]] = {}

    def best(self, answers: list[str]) -> list[tuple[int, float]]:
        """(index of the most similar relation name, cosine) per answer (cached per normalised answer)."""
        keys = [_norm(a) for a in answers]
        todo = sorted({k for k in keys if k not in self._cache})
        if todo:
            sims = self.embedder.embed(todo) @ self.matrix.T
            for k, row in zip(todo, sims):
                i = int(row.argmax())
                self._cache[k] = (i, float(row[i]))
        return [self._cache[k] for k in keys]

    def align(self, answer: str) -> tuple[str | None, float, str]:
        i, sim = self.best([answer])[0]
        return (self.pids[i] if sim >= self.threshold else None), sim, self.names[i]
