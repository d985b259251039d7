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


def test_fixed_threshold_is_the_reference_codes_strict_half():
    from harness.recipes.docre.rcp.config import RCPConfig
    from harness.recipes.docre.rcp.propose import keep, strict_for

    r = RCPConfig()
    assert (r.threshold_mode, r.threshold) == ("fixed", 0.5) and strict_for("fixed")
    assert not strict_for("f1") and not strict_for("recall")  # tuned thresholds are predicted values: kept
    probs = np.array([0.5, np.nextafter(0.5, 1.0), 0.7, 0.49])
    assert keep(probs, 0.5, strict=True).tolist() == [False, True, True, False]  # sigmoid(x) > 0.5, as get_label
    assert keep(probs, 0.5).tolist() == [True, True, True, False]
    feats = [Feature("a", [0], [[1], [2]], [(0, 1), (1, 0)], [1, 0])]
    rows = candidate_rows(feats, [np.array([0.5, 0.51])], 0.5, strict=True)
    assert rows == [{"title": "a", "pairs": [[1, 0]], "scores": [0.51]}]
    s = proposal_stats(feats, [np.array([0.5, 0.51])], 0.5, labelled=True, strict=True)
    assert (s["proposed_pairs"], s["related_correct"], s["strict"]) == (1, 0, True)
    d = detection(np.array([0.5, 0.51]), np.array([1, 0]), 0.5, strict=True)
    assert (d["proposed"], d["correct"], d["recall"]) == (1, 0, 0.0)


def test_threshold_outside_a_probability_is_refused():
    from harness.cli import InputError
    from harness.recipes.docre.rcp.config import RCPConfig, check

    with pytest.raises(InputError, match="rcp.threshold must be a probability"):
        check(RCPConfig(threshold=1.0))
