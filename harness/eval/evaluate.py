"""The one evaluation entry point (training loop and ``atlantis eval``), eval.json (its figures and what
identifies them) and the console table."""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness import log
from harness.data.examples import Example, fingerprint
from harness.data.labels import SEMEVAL_OTHER, LabelSpace, get_space
from harness.data.prompts import Template, get_template
from harness.eval.generate import generate_predict
from harness.eval.metrics import compute_metrics
from harness.eval.rank import rank_predict
from harness.eval.semeval import format_scorer_file
from harness.manifest import git_revision, library_versions, read_json
from harness.models.load import model_identity
from harness.run import RunDir, atomic_write_text

METHODS = ("rank", "generate")


def evaluate_model(model, tokenizer, examples: list[Example], label_space: LabelSpace | str,
                   template: Template | str, *, method: str = "rank", batch_examples: int = 16,
                   head_params=None, max_new_tokens: int = 16) -> dict:
    """Predict every example (exact label ranking, or greedy generation) and score against the GOLD labels.

    Returns a JSON-able dict with at least ``accuracy``, ``macro_f1`` (fractions), ``official`` (SemEval
    19-label, %, else None), ``n_invalid``, per-class figures, the confusion matrix, label counts and
    ``predictions`` ([{id, gold, pred}], pred None = invalid). Every rank returns the same dict.
    """
    space = get_space(label_space) if isinstance(label_space, str) else label_space
    tpl = get_template(template) if isinstance(template, str) else template
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    labels = list(space.labels)
    extra = {}
    if method == "rank":
        preds, _ = rank_predict(model, tokenizer, examples, labels, tpl, batch_examples=batch_examples,
                                head_params=head_params)
    else:
        preds, decoded = generate_predict(model, tokenizer, examples, labels, tpl, batch_examples=batch_examples,
                                          max_new_tokens=max_new_tokens)
        extra["match_counts"] = decoded["match_counts"]
        extra["generated_texts"] = decoded["texts"]
    gold = [ex.label for ex in examples]
    out = {"method": method, "label_space": space.name, "template": {"name": tpl.name, "hash": tpl.hash},
           "data_fingerprint": fingerprint(examples)}
    out.update(compute_metrics(gold, preds, space))
    out.setdefault("official", None)
    out.update(extra)
    out["predictions"] = [{"id": ex.id, "gold": g, "pred": p} for ex, g, p in zip(examples, gold, preds)]
    return out


def _clean(obj):
    """JSON-safe: NaN/inf become None (json would write invalid NaN tokens)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_eval_json(path: str | Path, result: dict, **identity) -> dict:
    """Write ``result`` plus identities (model, data, config, ...) atomically; returns what was written."""
    record = _clean({**result, **identity})
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return record


def read_eval_json(path: str | Path) -> dict:
    return read_json(path, "eval.json")


# An invalid prediction (None: a generation that named no label) cannot be written as such: the official scorer
# (harness.eval.semeval.read_scorer_file, like the Perl scorer) refuses any label outside the 19. It is written as
# Other. Other is none of the 9 relations the official score averages, so an Other prediction, like a skipped
# one (None in semeval_scores), adds to no relation's precision denominator and misses its gold relation's
# recall: the official score and every P/R/F1 view of the scorer are unchanged. Only the scorer's 19-way
# accuracy differs: an invalid answer on an Other example counts right there (eval.json counts it wrong).
INVALID_AS = SEMEVAL_OTHER


def official_predictions(result: dict) -> bool:
    """Whether ``result`` can be written as the official SemEval scorer's prediction file (19-label space)."""
    return result.get("label_space") == "semeval19"


def predictions_path(eval_json: str | Path) -> Path:
    """Where ``predictions.txt`` goes: beside ``eval.json`` (``RunDir.predictions``); beside an ``--out`` FILE of
    another name as ``<FILE stem>.predictions.txt``, so evaluations written into one folder keep their own."""
    eval_json = Path(eval_json)
    if eval_json.name == RunDir(eval_json.parent).eval_json.name:
        return RunDir(eval_json.parent).predictions
    return eval_json.with_name(f"{eval_json.stem}.predictions.txt")


def write_predictions(path: str | Path, result: dict) -> int:
    """The official scorer's prediction file (``<id>\\t<label>`` per example, in evaluation order) of a semeval19
    ``evaluate_model`` result, written atomically; ``python -m harness atlantis semeval-score --key KEY --pred PATH`` scores
    it. Returns how many invalid predictions were written as ``INVALID_AS`` (see the note above it)."""
    if not official_predictions(result):
        raise ValueError(f"label space {result.get('label_space')!r}: the official scorer's file needs semeval19")
    preds = result["predictions"]
    labels = [INVALID_AS if p["pred"] is None else p["pred"] for p in preds]
    atomic_write_text(path, format_scorer_file([p["id"] for p in preds], labels))
    return sum(p["pred"] is None for p in preds)


def eval_identity(splits, split: str, model_spec: str, model_config, cfg) -> dict:
    """What eval.json records beside the figures (``write_eval_json(path, result, **eval_identity(...))``): the
    model evaluated, the data (dataset, split, its fingerprint, files, noise, template), the resolved run config,
    the git revision and the library versions."""
    data_info = splits.info
    data = {"dataset": data_info["dataset"], "split": split, "label_space": data_info["label_space"],
            "fingerprint": data_info["fingerprints"][split], "data_files": data_info["data_files"],
            "noise": data_info["noise"], "template": data_info["template"],
            "template_hash": data_info["template_hash"]}
    return {"model": model_identity(model_spec, model_config), "data": data, "config": cfg.to_dict(),
            "git_revision": git_revision(), "versions": library_versions()}


def headline(result: dict) -> dict:
    """The few figures a summary shows (fractions as %, the SemEval official score as it is)."""
    rows = {"accuracy %": 100 * result["accuracy"], "macro-F1 %": 100 * result["macro_f1"]}
    if result.get("official") is not None:
        rows["SemEval official %"] = result["official"]
    for key, name in (("macro_f1_with_other", "10-way macro-F1 (with Other) %"),
                      ("macro_f1_without_other", "10-way macro-F1 (without Other) %"),
                      ("micro_f1", "relation micro-F1 %"), ("macro_f1_relations", "relation macro-F1 %")):
        if key in result:
            rows[name] = 100 * result[key]
    rows["invalid"] = result["n_invalid"]
    rows["examples"] = result["n"]
    return rows


def print_summary(result: dict, title: str = "evaluation") -> None:
    """A rich table of the headline figures, then per-class P/R/F1 (rank 0 prints)."""
    log.table(title, ["figure", "value"], [[k, v] for k, v in headline(result).items()])
    if result.get("official_note"):
        log.info(result["official_note"])
    per = result["per_class"]
    log.table("per class", ["label", "P %", "R %", "F1 %", "support"],
              [[lab, 100 * m["precision"], 100 * m["recall"], 100 * m["f1"], m["support"]] for lab, m in per.items()])
