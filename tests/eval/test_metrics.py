import random

import pytest

from harness.data.labels import SPACES, LabelSpace
from harness.eval.metrics import INVALID, classification_metrics, compute_metrics, tacred_scores

TACRED = LabelSpace("tacred", ("no_relation", "org:founded_by", "per:city_of_birth", "per:employee_of", "per:title"),
                    "no_relation")


def test_classification_metrics_hand_computed_with_invalid_and_absent_class():
    space = LabelSpace("custom", ("A", "B", "C"))
    gold = ["A", "A", "B", "B"]
    pred = ["A", "B", "B", None]  # C never occurs
    m = classification_metrics(gold, pred, space)
    assert m["accuracy"] == pytest.approx(0.5) and m["n_invalid"] == 1
    # A: P 1/1 R 1/2 F1 2/3; B: P 1/2 R 1/2 F1 1/2; C: 0
    assert m["per_class"]["A"]["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["B"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["C"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m["confusion"]["cols_pred"] == ["A", "B", "C", INVALID]
    assert m["confusion"]["matrix"] == [[1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0]]


def test_semeval10_official_undefined_with_and_without_other():
    space = SPACES["semeval10"]
    gold = ["Cause-Effect", "Other", "Other", "Message-Topic"]
    pred = ["Cause-Effect", "Other", "Cause-Effect", "Other"]
    m = compute_metrics(gold, pred, space)
    assert m["official"] is None and "not defined" in m["official_note"]
    # CE: P 1/2 R 1 F1 2/3; Other: P 1/2 R 1/2 F1 1/2; MT: 0; other 7 relations: 0
    assert m["macro_f1_with_other"] == pytest.approx((2 / 3 + 1 / 2) / 10)
    assert m["macro_f1_without_other"] == pytest.approx((2 / 3) / 9)
    assert m["macro_f1"] == m["macro_f1_with_other"]


def test_semeval19_official_present():
    m = compute_metrics(["Cause-Effect(e1,e2)"], ["Cause-Effect(e2,e1)"], SPACES["semeval19"])
    assert m["official"] == 0.0 and m["semeval"]["n_wrong_direction"] == 1


def test_conll04_all_pairs_excludes_no_relation_from_averages():
    space = SPACES["conll04_all"]
    gold = ["Kill", "Work_For", "No_Relation", "No_Relation"]
    pred = ["Kill", "No_Relation", "Work_For", "No_Relation"]
    m = compute_metrics(gold, pred, space)
    # relation labels only: TP 1 (Kill), predicted relations 2, gold relations 2 -> micro P=R=F1=1/2
    assert m["micro_f1"] == pytest.approx(0.5)
    # Kill F1 1, Work_For F1 0, the 3 others 0 -> macro 1/5
    assert m["macro_f1_relations"] == pytest.approx(0.2)


def test_conll04_gold_pairs_micro_equals_accuracy():
    space = SPACES["conll04"]
    gold = ["Kill", "Live_In", "Located_In", "OrgBased_In", "Work_For"]
    pred = ["Kill", "Live_In", "Kill", None, "Work_For"]
    m = compute_metrics(gold, pred, space)
    assert m["micro_f1"] == pytest.approx(m["accuracy"] * 5 / 4.5)  # P = 3/4 (one invalid), R = 3/5
    assert m["accuracy"] == pytest.approx(0.6)


def test_metrics_reject_labels_outside_space():
    with pytest.raises(ValueError, match=r"gold\[0\] = 'X' is not in label space conll04"):
        compute_metrics(["X"], ["Kill"], SPACES["conll04"])
    with pytest.raises(ValueError, match=r"pred\[0\]"):
        compute_metrics(["Kill"], ["X"], SPACES["conll04"])


def test_tacred_official_micro_f1_hand_computed():
    gold = ["per:title", "per:title", "org:founded_by", "no_relation", "no_relation", "per:city_of_birth"]
    pred = ["per:title", "per:employee_of", "no_relation", "org:founded_by", "no_relation", "no_relation"]
    m = compute_metrics(gold, pred, TACRED)
    # predicted relations 3 (title, employee_of, founded_by), gold relations 4, correct 1 -> P 1/3, R 1/4
    assert (m["tacred"]["n_correct"], m["tacred"]["n_predicted"], m["tacred"]["n_gold"]) == (1, 3, 4)
    assert m["tacred"]["precision"] == pytest.approx(1 / 3) and m["tacred"]["recall"] == pytest.approx(1 / 4)
    assert m["tacred"]["f1"] == pytest.approx(2 / 7) and m["micro_f1"] == m["tacred"]["f1"]
    # per relation F1: title 2/3, founded_by 0, city_of_birth 0, employee_of 0 -> macro over 4 relations
    assert m["macro_f1_relations"] == pytest.approx((2 / 3) / 4)
    # an invalid output is a predicted relation, and wrong: P 1/4, R 1/4
    m = compute_metrics(gold, pred[:5] + [None], TACRED)
    assert m["tacred"]["precision"] == pytest.approx(1 / 4) and m["micro_f1"] == pytest.approx(1 / 4)


@pytest.mark.parametrize("gold, pred, none, expect", [
    (["per:title"], ["no_relation"], "no_relation", (1.0, 0.0, 0.0)),  # nothing predicted: P = 1
    (["no_relation"], ["no_relation"], "no_relation", (1.0, 0.0, 0.0)),  # nothing to find: R = 0
    (["per:title", "per:title"], ["per:title", None], None, (0.5, 0.5, 0.5)),  # no none label: all count
])
def test_tacred_scorer_edge_cases_follow_the_official_scorer(gold, pred, none, expect):
    s = tacred_scores(gold, pred, none)
    assert (s["precision"], s["recall"], s["f1"]) == expect


def _reference_tacred(gold, pred, none):
    """Row-by-row counts in the official scorer's four cases (float64 Python)."""
    correct = guessed = golds = 0
    for g, p in zip(gold, pred):
        p = INVALID if p is None else p
        guessed += p != none
        golds += g != none
        correct += g != none and p == g
    prec = correct / guessed if guessed else 1.0
    rec = correct / golds if golds else 0.0
    return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def test_tacred_scorer_matches_reference_on_random_labels():
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(1, 30)
        gold = [rng.choice(TACRED.labels) for _ in range(n)]
        pred = [rng.choice(TACRED.labels + (None,)) for _ in range(n)]
        s = tacred_scores(gold, pred, "no_relation")
        assert (s["precision"], s["recall"], s["f1"]) == pytest.approx(_reference_tacred(gold, pred, "no_relation"))
