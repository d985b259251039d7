"""QA4RE's metrics: closed-set micro P/R/F1 over the positive relations (NoTA excluded), accuracy, and the
SemEval-2010 Task 8 official score when the predictions are 19-way.

Micro P/R/F1 as the reference (``utils/eval_utils.py``) and the TACRED scorer define them: a relation is any label
but NoTA; P = correct relations / predicted relations, R = correct relations / gold relations (correct: the
prediction equals the gold relation), F1 their harmonic mean, 0 where undefined. Fractions in [0, 1]; the SemEval
official score is a percentage, as the official scorer prints it.
"""

from __future__ import annotations

from harness.data.labels import SEMEVAL_19
from harness.eval.metrics import tacred_scores
from harness.eval.semeval import semeval_scores


def micro_prf(gold: list[str], pred: list[str], nota: str) -> dict:
    """The TACRED scorer's micro P/R/F1 with NoTA as the none label; P = 0 when nothing but NoTA is predicted."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    return tacred_scores(gold, pred, nota, empty_precision=0.0)


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
