"""Diversity and correctness figures of generated samples (per relation and over all samples pooled).

Tokens are the sentence's whitespace-separated words, case kept (no normalisation: "The" and "the" differ).
- distinct-n (n = 1..4): distinct n-grams / n-grams over the set's sentences (0 when it has no n-gram).
- self-BLEU: mean over sentences of sacrebleu's sentence BLEU of the sentence against all the others as references
  (sacrebleu defaults: 13a tokenizer, exp smoothing, effective order), on 0..100; None below two sentences. Its cost
  grows with the square of the count, so above SELF_BLEU_MAX sentences it is taken over a seeded subset of that
  many (``self_bleu_n`` says how many).
- similarity: mean over unordered pairs of ``ngram_similarity`` (Jaccard overlap of the word 1..4-gram sets);
  None below two sentences. The same similarity ranks candidates against the prompt's demonstrations.
- entity presence: candidates with both entities verbatim in a parseable sentence / candidates (accepted ones and
  well-formed ones not kept: gold copies, duplicates, not selected, surplus).
"""

from __future__ import annotations

import itertools
from collections import Counter

NS = (1, 2, 3, 4)
SELF_BLEU_MAX = 200  # sentences (sacrebleu took 78 s for 500 on a loaded 2-core CPU)


def ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def gram_set(sentence: str) -> set[tuple[str, ...]]:
    words = sentence.split()
    return {g for n in NS for g in ngrams(words, n)}


def ngram_similarity(a: str, b: str) -> float:
    """|G(a) & G(b)| / |G(a) | G(b)| over word 1..4-grams; 0 when both are empty."""
    ga, gb = gram_set(a), gram_set(b)
    union = ga | gb
    return len(ga & gb) / len(union) if union else 0.0


def window_similarity(sentence: str, window: list[str]) -> float:
    """Similarity to the closest demonstration (0 for an empty window)."""
    return max((ngram_similarity(sentence, w) for w in window), default=0.0)


def distinct_n(sentences: list[str], n: int) -> float:
    grams = Counter(g for s in sentences for g in ngrams(s.split(), n))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def self_bleu(sentences: list[str]) -> float | None:
    import sacrebleu

    if len(sentences) < 2:
        return None
    scores = [sacrebleu.sentence_bleu(s, sentences[:i] + sentences[i + 1:]).score for i, s in enumerate(sentences)]
    return sum(scores) / len(scores)


def mean_pairwise_similarity(sentences: list[str]) -> float | None:
    pairs = list(itertools.combinations(sentences, 2))
    if not pairs:
        return None
    return sum(ngram_similarity(a, b) for a, b in pairs) / len(pairs)


def diversity(sentences: list[str]) -> dict:
    out = {"n": len(sentences)}
    out.update({f"distinct_{n}": distinct_n(sentences, n) for n in NS})
    subset = sentences
    if len(sentences) > SELF_BLEU_MAX:
        import numpy as np

        keep = sorted(np.random.default_rng(0).choice(len(sentences), SELF_BLEU_MAX, replace=False).tolist())
        subset = [sentences[i] for i in keep]
    out["self_bleu"], out["self_bleu_n"] = self_bleu(subset), len(subset)
    out["similarity"] = mean_pairwise_similarity(sentences)
    return out


def sample_metrics(by_relation: dict[str, list[str]], counts: dict[str, dict]) -> dict:
    """``{"relations": {label: figures}, "overall": figures}``; ``counts[label]`` holds ``candidates``,
    ``accepted`` and ``rejects`` (reason -> count) of that relation."""
    out = {"relations": {}}
    for label, sents in by_relation.items():
        c = counts[label]
        out["relations"][label] = {**diversity(sents), **_correctness(c)}
    total = {"candidates": sum(c["candidates"] for c in counts.values()),
             "accepted": sum(c["accepted"] for c in counts.values()),
             "rejects": dict(sum((Counter(c["rejects"]) for c in counts.values()), Counter()))}
    out["overall"] = {**diversity([s for sents in by_relation.values() for s in sents]), **_correctness(total)}
    return out


def _correctness(c: dict) -> dict:
    from harness.recipes.gen.parse import VALID_REASONS

    valid = c["accepted"] + sum(c["rejects"].get(r, 0) for r in VALID_REASONS)
    rate = valid / c["candidates"] if c["candidates"] else None
    return {"candidates": c["candidates"], "accepted": c["accepted"], "entity_presence": rate,
            "rejects": dict(c["rejects"])}
