"""Diversity metrics on crafted texts, against values computed by hand (and self-BLEU against sacrebleu called
directly on a case worked out by hand)."""

import math

import pytest
import sacrebleu

from harness.recipes.gen.metrics import (
    distinct_n,
    mean_pairwise_similarity,
    ngram_similarity,
    sample_metrics,
    self_bleu,
    window_similarity,
)

CAT_A, CAT_B = "the cat sat on the mat", "the cat sat on a mat"
# modified precisions 5/6, 3/5, 2/4, 1/3 (either way round), equal lengths (brevity penalty 1)
CAT_BLEU = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25


def test_distinct_n_by_hand():
    sents = ["a b a", "a b"]
    assert distinct_n(sents, 1) == pytest.approx(2 / 5)  # a b a a b
    assert distinct_n(sents, 2) == pytest.approx(2 / 3)  # "a b", "b a", "a b"
    assert distinct_n(sents, 3) == 1.0
    assert distinct_n(sents, 4) == 0.0  # no 4-gram at all
    assert distinct_n(["The cat", "the cat"], 1) == 0.75  # case kept: The, the, cat of 4


def test_ngram_similarity_by_hand():
    # {a, b, c, ab, bc, abc} vs {a, b, d, ab, bd, abd}: 3 shared of 9
    assert ngram_similarity("a b c", "a b d") == pytest.approx(1 / 3)
    assert ngram_similarity("a b c", "a b c") == 1.0
    assert ngram_similarity("", "") == 0.0
    assert mean_pairwise_similarity(["a b c", "a b d", "x"]) == pytest.approx((1 / 3 + 0 + 0) / 3)
    assert mean_pairwise_similarity(["a"]) is None
    assert window_similarity("a b c", ["x", "a b d"]) == pytest.approx(1 / 3)
    assert window_similarity("a b c", []) == 0.0


def test_self_bleu_by_hand_and_against_sacrebleu():
    assert math.isclose(CAT_BLEU, 100 * 12 ** -0.25)
    assert sacrebleu.sentence_bleu(CAT_A, [CAT_B]).score == pytest.approx(CAT_BLEU, abs=1e-9)
    assert self_bleu([CAT_A, CAT_B]) == pytest.approx(CAT_BLEU, abs=1e-9)
    assert self_bleu(["same words here .", "same words here ."]) == pytest.approx(100.0)
    assert self_bleu([CAT_A]) is None


def test_self_bleu_three_sentences_is_the_mean_of_leave_one_out_scores():
    sents = [CAT_A, CAT_B, "a dog ran"]
    want = sum(sacrebleu.sentence_bleu(s, [t for t in sents if t != s]).score for s in sents) / 3
    assert self_bleu(sents) == pytest.approx(want)
    assert 0 <= self_bleu(sents) < CAT_BLEU


def test_sample_metrics_counts_and_entity_presence():
    counts = {"R1": {"candidates": 4, "accepted": 1, "rejects": {"unparseable": 2, "not_selected": 1}},
              "R2": {"candidates": 2, "accepted": 2, "rejects": {}}}
    m = sample_metrics({"R1": ["a b c"], "R2": ["a b c", "a b d"]}, counts)
    assert m["relations"]["R1"]["entity_presence"] == pytest.approx(2 / 4)  # accepted + not selected
    assert m["relations"]["R1"]["self_bleu"] is None and m["relations"]["R2"]["n"] == 2
    assert m["overall"]["entity_presence"] == pytest.approx(4 / 6)
    assert m["overall"]["rejects"] == {"unparseable": 2, "not_selected": 1}
    assert m["overall"]["distinct_1"] == pytest.approx(4 / 9)  # a b c a b c a b d
    assert math.isclose(m["overall"]["similarity"], (1 + 1 / 3 + 1 / 3) / 3)


def test_self_bleu_of_a_large_set_is_over_a_seeded_subset(monkeypatch):
    import harness.recipes.gen.metrics as m

    monkeypatch.setattr(m, "SELF_BLEU_MAX", 3)
    sents = [f"w{i} shared words" for i in range(5)]
    out = m.diversity(sents)
    assert out["self_bleu_n"] == 3 and out["n"] == 5 and out == m.diversity(sents)
    assert out["distinct_1"] == pytest.approx(7 / 15)  # the other figures use every sentence
