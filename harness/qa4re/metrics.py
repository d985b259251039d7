"""QA4RE's metrics: closed-set micro P/R/F1 over the positive relations (NoTA excluded), accuracy, and the
SemEval-2010 Task 8 official score when the predictions are 19-way.

Micro P/R/F1 as the reference (``utils/eval_utils.py``) and the TACRED scorer define them: a relation is any label
but NoTA; P = correct relations / predicted relations, R = correct relations / gold relations (correct: the
prediction equals the gold relation), F1 their harmonic mean, 0 where undefined. Fractions in [0, 1]; the SemEval
official score is a percentage, as the official scorer prints it.
"""

from __future__ import annotations

from harness.data.labels import SEMEVAL_19
from harness.eval.semeval import semeval_scores


def micro_prf(gold: list[str], pred: list[str], nota: str) -> dict:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    n_pred = sum(p != nota for p in pred)
    n_gold = sum(g != nota for g in gold)
    correct = sum(g == p != nota for g, p in zip(gold, pred))
    prec = correct / n_pred if n_pred else 0.0
    rec = correct / n_gold if n_gold else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "n_correct": correct, "n_predicted": n_pred,
            "n_gold": n_gold}


def qa4re_metrics(gold: list[str], pred: list[str], nota: str, space_name: str) -> dict:
    """``micro`` P/R/F1 without NoTA, ``accuracy``, ``n``; ``official`` (%) for the semeval19 space, else None."""
    if not gold:
        raise ValueError("no examples to score")
    out = {"n": len(gold), "nota": nota, "micro": micro_prf(gold, pred, nota),
           "accuracy": sum(g == p for g, p in zip(gold, pred)) / len(gold), "official": None}
    out["micro_f1"] = out["micro"]["f1"]
    if space_name == "semeval19" and set(gold) | set(pred) <= set(SEMEVAL_19):
        out["official"] = semeval_scores(gold, pred)["official"]
    return out
