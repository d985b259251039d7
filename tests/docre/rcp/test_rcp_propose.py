"""Threshold tuning and detection figures on hand-computed cases; the candidates rows."""

import numpy as np
import pytest

from harness.recipes.docre.rcp.features import Feature
from harness.recipes.docre.rcp.propose import candidate_rows, detection, proposal_stats, tune_threshold

P = np.array([0.9, 0.8, 0.8, 0.6, 0.4, 0.3, 0.1])
Y = np.array([1, 0, 1, 1, 0, 1, 0])  # 4 related


def test_f1_threshold_by_hand():
    # cut after 0.9: P 1 R 1/4 F1 .4; after 0.8 (ties together): 2/3, 1/2 -> .571; after 0.6: 3/4, 3/4 -> .75;
    # after 0.4: 3/5, 3/4 -> .667; after 0.3: 4/6, 1 -> .8; after 0.1: 4/7, 1 -> .727
    assert tune_threshold(P, Y, "f1") == 0.3
    d = detection(P, Y, 0.3)
    assert (d["proposed"], d["correct"], d["gold"]) == (6, 4, 4) and d["f1"] == pytest.approx(0.8)


def test_recall_threshold_by_hand():
    assert tune_threshold(P, Y, "recall", recall_target=0.5) == 0.8  # ties at 0.8 kept together: 2 of 4
    assert tune_threshold(P, Y, "recall", recall_target=0.75) == 0.6
    assert tune_threshold(P, Y, "recall", recall_target=1.0) == 0.3
    assert tune_threshold(P, Y, "fixed", fixed=0.5) == 0.5


def test_tuning_needs_a_related_pair():
    with pytest.raises(ValueError, match="at least one related pair"):
        tune_threshold(P, np.zeros_like(Y), "f1")


def test_candidate_rows_and_stats():
    feats = [Feature("a", [0], [[1], [2], [3]], [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)], [1, 0, 0, 0, 1, 0]),
             Feature("b", [0], [], [], [])]
    probs = [np.array([0.7, 0.2, 0.5, 0.1, 0.4, 0.5]), np.zeros(0)]
    rows = candidate_rows(feats, probs, 0.5)
    assert rows == [{"title": "a", "pairs": [[0, 1], [0, 2], [2, 1]], "scores": [0.7, 0.5, 0.5]},
                    {"title": "b", "pairs": [], "scores": []}]
    s = proposal_stats(feats, probs, 0.5, labelled=True)
    assert (s["documents"], s["candidate_pairs"], s["proposed_pairs"]) == (2, 6, 3) and s["kept_fraction"] == 0.5
    assert s["related_recall"] == 0.5 and s["related_precision"] == pytest.approx(1 / 3)
