import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from harness.data.labels import SEMEVAL_19
from harness.eval.semeval import semeval_scores
from harness.recipes.qa4re.metrics import qa4re_metrics

LABELS = ["A", "B", "C", "N"]
CASES = [  # (gold, pred): mixed; no predicted relation; no gold relation; all correct; NoTA confusions only
    (["A", "B", "C", "N", "A", "B"], ["A", "C", "C", "A", "N", "B"]),
    (["A", "B", "N"], ["N", "N", "N"]),
    (["N", "N", "N"], ["A", "N", "B"]),
    (["A", "B", "C"], ["A", "B", "C"]),
    (["A", "N", "B", "N"], ["N", "A", "N", "B"]),
]


@pytest.mark.parametrize("gold,pred", CASES)
def test_qa4re_micro_prf_equals_sklearn(gold, pred):
    m = qa4re_metrics(gold, pred, "N", "custom")
    p, r, f, _ = precision_recall_fscore_support(gold, pred, labels=["A", "B", "C"], average="micro",
                                                 zero_division=0)
    assert m["micro"]["precision"] == pytest.approx(p, abs=1e-12)
    assert m["micro"]["recall"] == pytest.approx(r, abs=1e-12)
    assert m["micro_f1"] == pytest.approx(f, abs=1e-12)
    assert m["accuracy"] == pytest.approx(accuracy_score(gold, pred), abs=1e-12)
    assert m["official"] is None


def test_qa4re_metrics_semeval_official_when_19_way():
    gold = [SEMEVAL_19[i % 19] for i in range(40)]
    pred = [SEMEVAL_19[(i * 7) % 19] if i % 3 else gold[i] for i in range(40)]
    m = qa4re_metrics(gold, pred, "Other", "semeval19")
    assert m["official"] == semeval_scores(gold, pred)["official"]
    assert qa4re_metrics(gold, pred, "Other", "semeval10")["official"] is None
    with pytest.raises(ValueError):
        qa4re_metrics(["A"], [], "N", "custom")
