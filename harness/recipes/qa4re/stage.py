"""The QA4RE stages behind `python -m harness qa4re`: score questions, turn scores into per-example records, metrics and
weak labels, and write them (rank 0, atomically).

A record (one line of ``<split>.predictions.jsonl``):
    {"id", "gold", "options": [{"letter", "label", "score"}], "prediction", "prediction_letter", "confidence"}
``letter`` is the option's answer text (its letter; with ``--prompting vanilla`` the relation's name), ``score`` the
option's log-probability under the scoring mode; ``confidence`` the chosen option's softmax
probability among the offered options. A weak-labels row (``weak_labels.jsonl``, read by harness.data.noise):
    {"id", "label", "confidence", "score"}
where ``label`` is the best option whose label is in the label space (NoTA is not in CoNLL04's gold-pairs space:
there the best relation option is the weak label).

Evaluation subsets (``--subset``): ``full`` scores the whole split; ``reference`` the reference code's evaluation
subsets, 1,000 test / 250 dev examples (``REFERENCE_SUBSET``). The reference (OSU-NLP-Group/QA4RE @a299f6e,
projs/QA4RE/qa4re_hf_llm.py and qa4re_utils.py ``prompt_preparation``) reads a subset file shipped with its data and
keeps its first ``--test_subset_samples`` 1000 / ``--dev_subset_samples`` 250 rows (``test_df[:run_subset_num]``);
the files themselves were drawn outside the published code, whose subset seed is 42 (``--train_subset_seed``).
This harness draws them with pandas' rule under that seed, ``DataFrame.sample(n, random_state=42)`` over the split
in file order (= ``np.random.RandomState(42).permutation(N)[:n]``, kept in drawn order); the reference's released
subset files may hold other examples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data.examples import Example
from harness.data.labels import LabelSpace
from harness.recipes.qa4re.metrics import qa4re_metrics
from harness.recipes.qa4re.prompts import QASet, Question, build_questions, qa_set_for
from harness.recipes.qa4re.score import greedy_choices, option_probs, option_scores
from harness.run import atomic_write_jsonl

SUBSETS = ("full", "reference")
REFERENCE_SUBSET = {"test": 1000, "dev": 250}  # the reference's --test_subset_samples / --dev_subset_samples
REFERENCE_SEED = 42  # the reference's subset seed (--train_subset_seed, --random_seed)


def subset_examples(examples: list[Example], split: str, subset: str) -> list[Example]:
    """The examples ``--subset`` scores (see the module doc); the whole split when it is smaller than the subset."""
    if subset not in SUBSETS:
        raise ValueError(f"--subset must be one of {SUBSETS}, got {subset!r}")
    if subset == "full":
        return examples
    if split not in REFERENCE_SUBSET:
        raise ValueError(f"--subset reference exists for the splits {sorted(REFERENCE_SUBSET)}, not {split!r}")
    n = min(REFERENCE_SUBSET[split], len(examples))
    return [examples[i] for i in np.random.RandomState(REFERENCE_SEED).permutation(len(examples))[:n]]


def questions_for(examples: list[Example], space: LabelSpace, shuffle_seed: int | None,
                  types: dict | None = None, prompting: str = "qa4re") -> tuple[QASet, list]:
    qa = qa_set_for(space.name)
    missing = sorted({ex.label for ex in examples} - set(qa.templates))
    if missing:
        raise ValueError(f"QA4RE set {qa.name} has no template for the label(s) {missing}")
    return qa, build_questions(qa, examples, shuffle_seed, types, prompting)


def make_record(q: Question, scores: np.ndarray, choice: int | None = None) -> dict:
    """``choice``: the predicted option (greedy decoding's); None: the best-scoring one."""
    k = int(np.argmax(scores)) if choice is None else choice
    let = q.answers
    return {"id": q.id, "gold": q.gold, "prediction": q.options[k], "prediction_letter": let[k],
            "confidence": float(option_probs(scores)[k]),
            "options": [{"letter": c, "label": lab, "score": float(s)} for c, lab, s in zip(let, q.options, scores)]}


def score_examples(model, tokenizer, examples: list[Example], space: LabelSpace, *, mode: str,
                   batch_examples: int, shuffle_seed: int | None = None, types: dict | None = None,
                   head_params=None, prompting: str = "qa4re") -> tuple[QASet, list]:
    """(the QA set, one record per example); every rank gets every record. ``types``: entity types by example id
    (``harness.recipes.qa4re.types``) for the type constraints; None: every relation is an option. ``greedy``:
    the prediction is the constrained greedy decoding's, the scores the sequence scores."""
    qa, questions = questions_for(examples, space, shuffle_seed, types, prompting)
    kw = dict(batch_examples=batch_examples, head_params=head_params)
    scores = option_scores(model, tokenizer, questions, mode=mode, **kw)
    choices = greedy_choices(model, tokenizer, questions, **kw) if mode == "greedy" else [None] * len(questions)
    return qa, [make_record(q, s, c) for q, s, c in zip(questions, scores, choices)]


def records_metrics(records: list[dict], qa: QASet, space: LabelSpace) -> dict:
    return qa4re_metrics([r["gold"] for r in records], [r["prediction"] for r in records], qa.nota, space.name)


def weak_label_row(rec: dict, space: LabelSpace) -> dict:
    """The predicted option, or when its label is not in ``space`` the best-scoring one whose label is, with its
    confidence among the offered options and its score."""
    opts = [o for o in rec["options"] if o["label"] in space]
    if not opts:
        raise ValueError(f"example {rec['id']}: no option label is in label space {space.name}")
    scores = np.array([o["score"] for o in rec["options"]])
    probs = option_probs(scores)
    chosen = [i for i, o in enumerate(rec["options"]) if o["letter"] == rec["prediction_letter"]]
    if chosen and rec["options"][chosen[0]]["label"] in space:  # the prediction (greedy's may not score best)
        best = chosen[0]
    else:
        best = max(range(len(rec["options"])), key=lambda i: (rec["options"][i]["label"] in space, scores[i]))
    return {"id": rec["id"], "label": rec["options"][best]["label"], "confidence": float(probs[best]),
            "score": float(scores[best])}


def write_rows(path: str | Path, rows: list[dict]) -> Path:
    """One JSON object per line, atomically."""
    return atomic_write_jsonl(path, rows)
