"""Classification metrics (scikit-learn) for a label space, plus the dataset-specific views.

``pred`` entries may be ``None`` (an invalid generation): scored wrong, never mapped to a label. Gold labels
are the examples' gold labels (never the weak/noisy training labels). Figures are fractions in [0, 1] except
the SemEval scorer's views, which are percentages as the official scorer prints them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from harness.data.labels import CONLL04_RELATIONS, SEMEVAL_OTHER, LabelSpace
from harness.eval.semeval import semeval_scores

INVALID = "<invalid>"  # column of the confusion matrix that holds invalid predictions

OFFICIAL_UNDEFINED = ("the SemEval-2010 Task 8 official score needs directional (19-label) predictions; this run "
                      "used the 10 collapsed labels, so it is not defined (reported: 10-way macro-F1 with and "
                      "without Other)")


def _check(gold: list[str], pred: list[str | None], space: LabelSpace) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    if not gold:
        raise ValueError("no examples to score")
    for i, g in enumerate(gold):
        if g not in space:
            raise ValueError(f"gold[{i}] = {g!r} is not in label space {space.name} {space.labels}")
    for i, p in enumerate(pred):
        if p is not None and p not in space:
            raise ValueError(f"pred[{i}] = {p!r} is not in label space {space.name}; use None for an invalid output")


def _macro_f1(gold, pred, labels) -> float:
    return float(f1_score(gold, pred, labels=list(labels), average="macro", zero_division=0))


def _micro_f1(gold, pred, labels) -> float:
    return float(f1_score(gold, pred, labels=list(labels), average="micro", zero_division=0))


def classification_metrics(gold: list[str], pred: list[str | None], space: LabelSpace) -> dict:
    """Accuracy, macro-F1 over the whole label space, per-class P/R/F1/support, confusion matrix."""
    _check(gold, pred, space)
    labels = list(space.labels)
    p = [INVALID if x is None else x for x in pred]
    prec, rec, f1, sup = precision_recall_fscore_support(gold, p, labels=labels, zero_division=0)
    cm_labels = labels + [INVALID]
    cm = confusion_matrix(gold, p, labels=cm_labels)[: len(labels)]  # rows: gold; no gold is invalid
    return {
        "n": len(gold),
        "accuracy": float(np.mean([g == x for g, x in zip(gold, p)])),
        "macro_f1": _macro_f1(gold, p, labels),
        "n_invalid": sum(1 for x in pred if x is None),
        "per_class": {lab: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                            "support": int(sup[i])} for i, lab in enumerate(labels)},
        "confusion": {"rows_gold": labels, "cols_pred": cm_labels, "matrix": cm.tolist()},
        "gold_counts": dict(Counter(gold)),
        "pred_counts": dict(Counter(p)),
    }


def compute_metrics(gold: list[str], pred: list[str | None], space: LabelSpace) -> dict:
    """``classification_metrics`` plus the label space's own figures:

    semeval19   ``official`` (%) and the scorer's views (``semeval``)
    semeval10   ``official`` = None with ``official_note``; ``macro_f1_with_other`` / ``macro_f1_without_other``
    conll04*    ``micro_f1`` / ``macro_f1_relations`` over the 5 relation types (no-relation excluded)
    """
    out = classification_metrics(gold, pred, space)
    p = [INVALID if x is None else x for x in pred]
    if space.name == "semeval19":
        s = semeval_scores(gold, pred)
        out["official"] = s["official"]
        out["semeval"] = s
    elif space.name == "semeval10":
        rel = [lab for lab in space.labels if lab != SEMEVAL_OTHER]
        out["official"] = None
        out["official_note"] = OFFICIAL_UNDEFINED
        out["macro_f1_with_other"] = _macro_f1(gold, p, space.labels)
        out["macro_f1_without_other"] = _macro_f1(gold, p, rel)
    elif space.name in ("conll04", "conll04_all"):
        rel = list(CONLL04_RELATIONS)
        out["micro_f1"] = _micro_f1(gold, p, rel)
        out["macro_f1_relations"] = _macro_f1(gold, p, rel)
    elif space.none_label is not None:
        rel = [lab for lab in space.labels if lab != space.none_label]
        out["micro_f1"] = _micro_f1(gold, p, rel)
        out["macro_f1_relations"] = _macro_f1(gold, p, rel)
    return out
