import pytest

from harness.data.labels import SPACES, LabelSpace
from harness.eval.metrics import INVALID, classification_metrics, compute_metrics


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
