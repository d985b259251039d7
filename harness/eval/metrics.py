"""Classification metrics (scikit-learn) for a label space, plus the dataset-specific views.

``pred`` entries may be ``None`` (an invalid generation): scored wrong, never mapped to a label. Gold labels
are the examples' gold labels (never the weak/noisy training labels). Figures are fractions in [0, 1] except
the SemEval scorer's views, which are percentages as the official scorer prints them.

A metric view is the set of figures a dataset adds to the common ones; ``METRIC_VIEWS`` holds them by name and
each dataset of ``harness.data.registry`` names its own (found from the label space: ``metric_view_of``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from harness.data.labels import CONLL04_RELATIONS, SEMEVAL_OTHER, LabelSpace
from harness.data.registry import metric_view_of
from harness.eval.semeval import check_pairs, semeval_scores

INVALID = "<invalid>"  # column of the confusion matrix that holds invalid predictions

OFFICIAL_UNDEFINED = ("the SemEval-2010 Task 8 official score needs directional (19-label) predictions; this run "
                      "used the 10 collapsed labels, so it is not defined (reported: 10-way macro-F1 with and "
                      "without Other)")


def _check(gold: list[str], pred: list[str | None], space: LabelSpace) -> None:
    check_pairs(gold, pred)
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


def _semeval_view(gold, pred, p, space: LabelSpace) -> dict:
    if space.name == "semeval19":
        s = semeval_scores(gold, pred)
        return {"official": s["official"], "semeval": s}
    rel = [lab for lab in space.labels if lab != SEMEVAL_OTHER]
    return {"official": None, "official_note": OFFICIAL_UNDEFINED,
            "macro_f1_with_other": _macro_f1(gold, p, space.labels), "macro_f1_without_other": _macro_f1(gold, p, rel)}


def _conll04_view(gold, pred, p, space: LabelSpace) -> dict:
    rel = list(CONLL04_RELATIONS)
    return {"micro_f1": _micro_f1(gold, p, rel), "macro_f1_relations": _macro_f1(gold, p, rel)}


def _relations_view(gold, pred, p, space: LabelSpace) -> dict:
    if space.none_label is None:
        return {}
    rel = [lab for lab in space.labels if lab != space.none_label]
    return {"micro_f1": _micro_f1(gold, p, rel), "macro_f1_relations": _macro_f1(gold, p, rel)}


def tacred_scores(gold: list[str], pred: list[str | None], none_label: str | None, *,
                  empty_precision: float = 1.0) -> dict:
    """The official TACRED scorer's micro-averaged P/R/F1 (Zhang et al. 2017, tacred-relation utils/scorer.py),
    as fractions: P = correct / predicted relations, R = correct / gold relations, where a relation is any
    label but ``none_label`` and correct means prediction == gold != ``none_label``; P = 1 with no predicted
    relation (``empty_precision``: QA4RE's reference uses 0), R = 0 with no gold relation, F1 = 0 when P + R = 0.
    An invalid prediction (None) is not ``none_label``: it counts as a predicted relation, and a wrong one."""
    p = [INVALID if x is None else x for x in pred]
    guessed = sum(x != none_label for x in p)
    golds = sum(g != none_label for g in gold)
    correct = sum(g == x and x != none_label for g, x in zip(gold, p))
    prec = correct / guessed if guessed else empty_precision
    rec = correct / golds if golds else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "n_correct": correct, "n_predicted": guessed,
            "n_gold": golds}


def _tacred_view(gold, pred, p, space: LabelSpace) -> dict:
    s = tacred_scores(gold, pred, space.none_label)
    rel = [lab for lab in space.labels if lab != space.none_label]
    return {"tacred": s, "micro_f1": s["f1"], "macro_f1_relations": _macro_f1(gold, p, rel)}


# name -> (gold, pred, pred with INVALID for None, space) -> the dataset's own figures
METRIC_VIEWS = {"semeval": _semeval_view, "conll04": _conll04_view, "relations": _relations_view,
                "tacred": _tacred_view}


def view_metrics(gold: list[str], pred: list[str | None], space: LabelSpace) -> dict:
    """The figures the metric view of ``space``'s dataset adds (``harness.data.registry.metric_view_of``)."""
    _check(gold, pred, space)
    p = [INVALID if x is None else x for x in pred]
    return METRIC_VIEWS[metric_view_of(space.name)](gold, pred, p, space)


def compute_metrics(gold: list[str], pred: list[str | None], space: LabelSpace) -> dict:
    """``classification_metrics`` plus the label space's own figures (``view_metrics``):

    semeval19   ``official`` (%) and the scorer's views (``semeval``)
    semeval10   ``official`` = None with ``official_note``; ``macro_f1_with_other`` / ``macro_f1_without_other``
    conll04*    ``micro_f1`` / ``macro_f1_relations`` over the 5 relation types (no-relation excluded)
    tacred      ``tacred`` (official micro P/R/F1, no_relation excluded), ``micro_f1`` = its F1,
                ``macro_f1_relations``
    others      ``micro_f1`` / ``macro_f1_relations`` over all labels but the space's none label, if it has one
    """
    out = classification_metrics(gold, pred, space)
    out.update(view_metrics(gold, pred, space))
    return out
