"""Related-probabilities for every candidate pair, the threshold tuned on dev, and the candidates file.

Threshold modes (``RCPConfig.threshold_mode``):
  fixed   (default) a pair is proposed when its probability is strictly above ``threshold`` (0.5): LMRC's
          reference code (wisper12933/LMRC @ 7467efd, RCP/losses.py ``get_label``: ``sigmoid(logits) > 0.5``);
  f1      the threshold maximising F1 of related-pair detection on the tuning documents (this project's option:
          "F1 of RCP" in LMRC's Table 5 is that F1, and the LLM stage cannot recover a pair RCP drops nor ignore the
          extra pairs it proposes);
  recall  the highest threshold keeping at least ``recall_target`` of the tuning documents' related pairs (the
          paper's diagnosis is the LLM's low recall; trade RCP precision for recall with this).
The tuned modes propose a pair when its probability is >= the threshold: a tuned threshold is always a predicted
probability at a boundary between distinct values, so ties are proposed or dropped together. ``strict`` below
selects the fixed mode's rule (``strict_for(mode)``).

Candidates file (the contract with the LLM stage): JSONL, one line per document in the file's order,
``{"title", "pairs": [[h, t], ...], "scores": [p, ...]}``; the pairs in candidate order (h-major), written
atomically. Beside it ``<name>.stats.json``: documents, candidate and proposed pairs, the shrink factor, and
against gold (when the file has labels) recall / precision / F1 of related pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.recipes.docre.rcp.features import Feature, collate, to_device


@torch.no_grad()
def predict(model, feats: list[Feature], *, batch_docs: int, pad_id: int, device) -> list[np.ndarray]:
    """P(related) of every candidate pair, per document (float64 arrays in pair order)."""
    was = model.training
    model.eval()
    out: list[np.ndarray] = []
    for i in range(0, len(feats), batch_docs):
        chunk = [f for f in feats[i:i + batch_docs]]
        todo = [f for f in chunk if f.pairs]
        probs = (torch.sigmoid(model(to_device(collate(todo, pad_id), device)).float()).cpu().double().numpy()
                 if todo else np.zeros(0))
        k = 0
        for f in chunk:
            out.append(probs[k:k + len(f.pairs)])
            k += len(f.pairs)
    model.train(was)
    return out


def strict_for(mode: str) -> bool:
    """Whether ``mode`` proposes pairs strictly above its threshold (fixed, the reference code) or at it and above."""
    return mode == "fixed"


def keep(probs: np.ndarray, threshold: float, strict: bool = False) -> np.ndarray:
    """The proposed pairs: probability > threshold (``strict``) or >= threshold."""
    return probs > threshold if strict else probs >= threshold


def detection(probs: np.ndarray, labels: np.ndarray, threshold: float, strict: bool = False) -> dict:
    """Related-pair detection at ``threshold``: proposed, correct, gold, precision, recall, F1."""
    pred = keep(probs, threshold, strict)
    tp, n_pred, n_gold = int((pred & (labels > 0)).sum()), int(pred.sum()), int((labels > 0).sum())
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"threshold": float(threshold), "strict": strict, "proposed": n_pred, "correct": tp, "gold": n_gold,
            "precision": p, "recall": r, "f1": f1}


def _cutoffs(probs: np.ndarray, labels: np.ndarray):
    """Probabilities sorted descending, true positives and proposals when cutting after each distinct value."""
    order = np.argsort(-probs, kind="stable")
    p, y = probs[order], (labels[order] > 0).astype(np.int64)
    tp = np.cumsum(y)
    last = np.r_[p[:-1] > p[1:], True] if len(p) else np.zeros(0, dtype=bool)  # end of a run of equal values
    k = np.nonzero(last)[0]
    return p[k], tp[k], k + 1


def tune_threshold(probs: np.ndarray, labels: np.ndarray, mode: str, *, recall_target: float = 0.95,
                   fixed: float = 0.5) -> float:
    """The threshold of ``mode`` (see the module doc) on the tuning pairs' probabilities and 0/1 labels."""
    if mode == "fixed":
        return float(fixed)
    n_gold = int((labels > 0).sum())
    if len(probs) == 0 or n_gold == 0:
        raise ValueError("tuning a threshold needs pairs with at least one related pair")
    thr, tp, n = _cutoffs(probs, labels)
    if mode == "f1":
        return float(thr[int(np.argmax(2 * tp / (n + n_gold)))])  # first (highest threshold) of the best
    if mode == "recall":
        return float(thr[int(np.argmax(tp >= recall_target * n_gold - 1e-9))])
    raise ValueError(f"threshold mode must be f1 | recall | fixed, got {mode!r}")


def candidate_rows(feats: list[Feature], probs: list[np.ndarray], threshold: float, strict: bool = False) -> list[dict]:
    rows = []
    for f, p in zip(feats, probs):
        kept = np.nonzero(keep(p, threshold, strict))[0]
        rows.append({"title": f.title, "pairs": [list(f.pairs[k]) for k in kept],
                     "scores": [float(p[k]) for k in kept]})
    return rows


def proposal_stats(feats: list[Feature], probs: list[np.ndarray], threshold: float, labelled: bool,
                   strict: bool = False) -> dict:
    """What a proposal keeps: pairs before / after, the shrink factor, and (labelled files) detection figures."""
    allp = np.concatenate(probs) if probs else np.zeros(0)
    y = np.asarray([v for f in feats for v in f.labels], dtype=np.int64)
    stats = {"documents": len(feats), "candidate_pairs": int(len(allp)),
             "proposed_pairs": int(keep(allp, threshold, strict).sum()), "threshold": float(threshold),
             "strict": strict}
    stats["kept_fraction"] = stats["proposed_pairs"] / stats["candidate_pairs"] if len(allp) else 0.0
    if labelled:
        stats.update({f"related_{k}": v for k, v in detection(allp, y, threshold, strict).items()
                      if k not in ("threshold", "strict")})
    return stats
