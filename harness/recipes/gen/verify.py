"""Correctness proxy by a verifier model: the label-ranking evaluator (harness.eval.rank) classifies every accepted
generated sample with the dataset's prompt template over the whole label space; agreement = the fraction whose
predicted label is the relation it was generated for (per relation and overall). A trained RE model (e.g. an
experiment's exported SFT model) is the verifier; its own errors count against the samples, so this is a proxy."""

from __future__ import annotations

from harness.data.examples import Example


def agreement(examples: list[Example], predictions: list[str]) -> dict:
    """``{"relations": {label: {"n", "agree"}}, "overall": {"n", "agree"}}`` (agree = fraction; None when n = 0)."""
    per: dict[str, list[int]] = {}
    for ex, pred in zip(examples, predictions, strict=True):
        per.setdefault(ex.label, []).append(int(pred == ex.label))
    hits = [h for v in per.values() for h in v]
    return {"relations": {k: {"n": len(v), "agree": sum(v) / len(v)} for k, v in per.items()},
            "overall": {"n": len(hits), "agree": sum(hits) / len(hits) if hits else None}}


def verify(model, tokenizer, examples: list[Example], labels, template, *, batch_examples: int = 16) -> dict:
    from harness.eval.rank import rank_predict

    if not examples:
        return agreement([], [])
    preds, _ = rank_predict(model, tokenizer, examples, list(labels), template, batch_examples=batch_examples)
    return agreement(examples, preds)
