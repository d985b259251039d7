"""The QA4RE stages behind `python -m harness qa4re`: score questions, turn scores into per-example records, metrics and
weak labels, and write them (rank 0, atomically).

A record (one line of ``<split>.predictions.jsonl``):
    {"id", "gold", "options": [{"letter", "label", "score"}], "prediction", "prediction_letter", "confidence"}
``score`` is the option's log-probability under the scoring mode; ``confidence`` the chosen option's softmax
probability among the offered options. A weak-labels row (``weak_labels.jsonl``, read by harness.data.noise):
    {"id", "label", "confidence", "score"}
where ``label`` is the best option whose label is in the label space (NoTA is not in CoNLL04's gold-pairs space:
there the best relation option is the weak label).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data.examples import Example
from harness.data.labels import LabelSpace
from harness.recipes.qa4re.metrics import qa4re_metrics
from harness.recipes.qa4re.prompts import QASet, Question, build_questions, letters, qa_set_for
from harness.recipes.qa4re.score import option_probs, option_scores
from harness.run import atomic_write_jsonl


def questions_for(examples: list[Example], space: LabelSpace, shuffle_seed: int | None,
                  types: dict | None = None) -> tuple[QASet, list]:
    qa = qa_set_for(space.name)
    missing = sorted({ex.label for ex in examples} - set(qa.templates))
    if missing:
        raise ValueError(f"QA4RE set {qa.name} has no template for the label(s) {missing}")
    return qa, build_questions(qa, examples, shuffle_seed, types)


def make_record(q: Question, scores: np.ndarray) -> dict:
    k = int(np.argmax(scores))
    let = letters(len(q.options))
    return {"id": q.id, "gold": q.gold, "prediction": q.options[k], "prediction_letter": let[k],
            "confidence": float(option_probs(scores)[k]),
            "options": [{"letter": c, "label": lab, "score": float(s)} for c, lab, s in zip(let, q.options, scores)]}


def score_examples(model, tokenizer, examples: list[Example], space: LabelSpace, *, mode: str,
                   batch_examples: int, shuffle_seed: int | None = None, types: dict | None = None,
                   head_params=None) -> tuple[QASet, list]:
    """(the QA set, one record per example); every rank gets every record. ``types``: entity types by example id
    (``harness.recipes.qa4re.types``) for the type constraints; None: every relation is an option."""
    qa, questions = questions_for(examples, space, shuffle_seed, types)
    scores = option_scores(model, tokenizer, questions, mode=mode, batch_examples=batch_examples,
                           head_params=head_params)
    return qa, [make_record(q, s) for q, s in zip(questions, scores)]


def records_metrics(records: list[dict], qa: QASet, space: LabelSpace) -> dict:
    return qa4re_metrics([r["gold"] for r in records], [r["prediction"] for r in records], qa.nota, space.name)


def weak_label_row(rec: dict, space: LabelSpace) -> dict:
    """The best option whose label is in ``space``, its confidence among the offered options, and its score."""
    opts = [o for o in rec["options"] if o["label"] in space]
    if not opts:
        raise ValueError(f"example {rec['id']}: no option label is in label space {space.name}")
    scores = np.array([o["score"] for o in rec["options"]])
    probs = option_probs(scores)
    best = max(range(len(rec["options"])), key=lambda i: (rec["options"][i]["label"] in space, scores[i]))
    return {"id": rec["id"], "label": rec["options"][best]["label"], "confidence": float(probs[best]),
            "score": float(scores[best])}


def write_rows(path: str | Path, rows: list[dict]) -> Path:
    """One JSON object per line, atomically."""
    return atomic_write_jsonl(path, rows)
