"""SemEval-2010 Task 8: the official score and its diagnostic views, and the official scorer's file format.

The official score ((9+1)-way, directionality taken into account) from 19-label predictions: for each of the 9
relations r (Other excluded)
    TP_r = predictions equal to the gold label, direction included
    P_r  = TP_r / #predictions whose relation (direction ignored) is r
    R_r  = TP_r / #gold examples whose relation is r
    F1_r = 2 P R / (P + R)   (0 when P + R = 0)
and the score is the mean of the 9 F1_r, in percent. A wrong direction costs one FP and one FN.

A prediction of ``None`` is a skipped example (the scorer's ``skip``; an invalid generation): it counts in the
recall denominators only. Percentages throughout, as the Perl scorer (v1.2) prints them.

The Perl scorer averages over the relations present in the key; the issue's definition over all 9. They agree
whenever every relation occurs in the key (the real test set); both are reported (``official`` and
``official_perl``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from harness.cli import InputError
from harness.data.labels import SEMEVAL_19, SEMEVAL_OTHER, SEMEVAL_RELATIONS, semeval_collapse


class ScorerFileError(InputError):
    """A key or prediction file breaks the official scorer's format (names file, line and problem)."""


def _check_labels(labels, what: str) -> None:
    for i, lab in enumerate(labels):
        if lab is not None and lab not in SEMEVAL_19:
            raise ValueError(f"{what}[{i}]: {lab!r} is not a SemEval-2010 Task 8 19-label name")


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    p = 100.0 * tp / n_pred if n_pred else 0.0
    r = 100.0 * tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "n_pred": n_pred, "n_gold": n_gold, "p": p, "r": r, "f1": f}


def _view(per: dict, classes: list[str], gold_counts: Counter) -> dict:
    """Macro (over ``classes``, and over those present in the key) and micro P/R/F1, Other excluded."""
    present = [c for c in classes if gold_counts[c] > 0]
    tp = sum(per[c]["tp"] for c in classes)
    n_pred = sum(per[c]["n_pred"] for c in classes)
    n_gold = sum(per[c]["n_gold"] for c in classes)
    micro = _prf(tp, n_pred, n_gold)

    def mean(key, cs):
        return sum(per[c][key] for c in cs) / len(cs) if cs else 0.0

    return {
        "per_class": {c: per[c] for c in classes},
        "macro_p": mean("p", classes), "macro_r": mean("r", classes), "macro_f1": mean("f1", classes),
        "macro_f1_present": mean("f1", present),
        "micro_p": micro["p"], "micro_r": micro["r"], "micro_f1": micro["f1"],
    }


def check_pairs(gold: list, pred: list) -> None:
    """One prediction per gold label, and at least one example (every scorer of this package starts here)."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}")
    if not gold:
        raise ValueError("no examples to score")


def semeval_scores(gold: list[str], pred: list[str | None]) -> dict:
    """All three views of the Perl scorer from aligned 19-label gold and predictions (``None`` = skipped).

    Returns ``official`` (mean of the 9 relation F1s, %), ``official_perl`` (mean over relations present in
    the key, as v1.2 prints), ``accuracy_19`` (% of all examples, skipped = wrong), and the views
    ``directed`` ((9+1)-way with direction, the official one), ``undirected`` and ``way19`` (18 directed labels).
    """
    check_pairs(gold, pred)
    _check_labels(gold, "gold")
    _check_labels(pred, "pred")
    if any(g is None for g in gold):
        raise ValueError("gold labels cannot be None")
    rel = list(SEMEVAL_RELATIONS)
    directed_labels = [lab for lab in SEMEVAL_19 if lab != SEMEVAL_OTHER]

    # (9+1)-way with direction: P denominator = all predictions of relation r (any direction)
    tp_dir, tp_und, pred_rel, tp19, pred19 = Counter(), Counter(), Counter(), Counter(), Counter()
    for g, p in zip(gold, pred):
        if p is None:
            continue
        gr, pr = semeval_collapse(g), semeval_collapse(p)
        pred_rel[pr] += 1
        pred19[p] += 1
        if p == g:
            tp_dir[gr] += 1
            tp19[g] += 1
        if pr == gr:
            tp_und[gr] += 1
    gold_rel = Counter(semeval_collapse(g) for g in gold)
    gold19 = Counter(gold)
    directed = _view({r: _prf(tp_dir[r], pred_rel[r], gold_rel[r]) for r in rel}, rel, gold_rel)
    undirected = _view({r: _prf(tp_und[r], pred_rel[r], gold_rel[r]) for r in rel}, rel, gold_rel)
    way19 = _view({c: _prf(tp19[c], pred19[c], gold19[c]) for c in directed_labels}, directed_labels, gold19)
    n_correct = sum(1 for g, p in zip(gold, pred) if p == g)
    return {
        "official": directed["macro_f1"],
        "official_perl": directed["macro_f1_present"],
        "accuracy_19": 100.0 * n_correct / len(gold),
        "n_skipped": sum(1 for p in pred if p is None),
        "n_wrong_direction": sum(1 for g, p in zip(gold, pred)
                                 if p is not None and p != g and semeval_collapse(p) == semeval_collapse(g)),
        "directed": directed,
        "undirected": undirected,
        "way19": way19,
    }


def read_scorer_file(path: str | Path) -> dict[str, str]:
    """``<id>\\t<label>`` lines (CRLF tolerated, final newline optional) -> {id: label}, in file order.

    Reproduces the Perl scorer's errors: bad format or unknown label, and duplicate ids, with file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise ScorerFileError(f"{path}: file not found")
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    with path.open("r", encoding="utf-8", newline="") as f:
        for n, raw in enumerate(f, 1):
            line = raw[:-1] if raw.endswith("\n") else raw
            line = line[:-1] if line.endswith("\r") else line
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0].isdigit() or not parts[1] or "\r" in parts[1]:
                raise ScorerFileError(f"{path}:{n}: bad file format {line!r}: expected '<numeric id>\\t<label>'")
            sid, label = parts[0], parts[1]
            if label not in SEMEVAL_19:
                raise ScorerFileError(f"{path}:{n}: unknown relation label {label!r} (id {sid}); expected one of "
                                      f"the 19 SemEval-2010 Task 8 labels, e.g. 'Cause-Effect(e1,e2)' or 'Other'")
            key = str(int(sid))
            if key in out:
                raise ScorerFileError(f"{path}:{n}: id {sid} is already defined (first on line {first_line[key]})")
            out[key] = label
            first_line[key] = n
    if not out:
        raise ScorerFileError(f"{path}: empty file: expected '<id>\\t<label>' lines")
    return out


def format_scorer_file(ids: list[str], labels: list[str]) -> str:
    """The text of a key or prediction file, ``<id>\\t<label>`` per line in the given order: exactly what
    ``read_scorer_file`` (and the Perl scorer) accept. A non-numeric id or a label outside the 19 is refused."""
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} ids but {len(labels)} labels")
    if not ids:
        raise ValueError("no examples: the official scorer refuses an empty file")
    for sid, label in zip(ids, labels):
        if not str(sid).isdigit():
            raise ScorerFileError(f"example id {sid!r} is not numeric: the official scorer's format needs the "
                                  f"numeric ids of the SemEval files")
        if label not in SEMEVAL_19:
            raise ValueError(f"id {sid}: {label!r} is not a SemEval-2010 Task 8 19-label name")
    keys = [str(int(sid)) for sid in ids]
    if len(set(keys)) != len(keys):
        raise ValueError(f"ids repeat, e.g. {Counter(keys).most_common(1)[0][0]!r}: the scorer refuses a repeated id")
    return "".join(f"{sid}\t{label}\n" for sid, label in zip(ids, labels))


def align_files(key: dict[str, str], pred: dict[str, str], pred_path: str = "PRED") -> tuple[list, list, list]:
    """(ids, gold, pred-or-None) in key order. A predicted id missing from the key is an error (as the Perl
    scorer); key ids missing from the predictions are skipped (counted wrong)."""
    extra = [i for i in pred if i not in key]
    if extra:
        raise ScorerFileError(f"{pred_path}: contains {len(extra)} id(s) not in the key file, first {extra[0]!r}")
    ids = list(key)
    return ids, [key[i] for i in ids], [pred.get(i) for i in ids]


def format_report(s: dict) -> list[str]:
    """Human-readable lines; the official score is the LAST line, as the Perl scorer prints it."""
    lines = []
    for title, view in (("(2*9+1)-WAY EVALUATION (USING DIRECTIONALITY)", s["way19"]),
                        ("(9+1)-WAY EVALUATION IGNORING DIRECTIONALITY", s["undirected"]),
                        ("(9+1)-WAY EVALUATION TAKING DIRECTIONALITY INTO ACCOUNT -- OFFICIAL", s["directed"])):
        lines.append(f"<<< {title} >>>:")
        for c, m in view["per_class"].items():
            lines.append(f"{c:>27} :    P = {m['tp']:4d}/{m['n_pred']:4d} = {m['p']:6.2f}%     "
                         f"R = {m['tp']:4d}/{m['n_gold']:4d} = {m['r']:6.2f}%     F1 = {m['f1']:6.2f}%")
        lines.append(f"Micro-averaged (excluding Other): P = {view['micro_p']:6.2f}%  R = {view['micro_r']:6.2f}%  "
                     f"F1 = {view['micro_f1']:6.2f}%")
        lines.append(f"MACRO-averaged (excluding Other): P = {view['macro_p']:6.2f}%  R = {view['macro_r']:6.2f}%  "
                     f"F1 = {view['macro_f1']:6.2f}%")
        lines.append("")
    lines.append(f"Accuracy (19-way, skipped = wrong) = {s['accuracy_19']:.2f}%; skipped = {s['n_skipped']}; "
                 f"wrong direction = {s['n_wrong_direction']}")
    if abs(s["official"] - s["official_perl"]) > 1e-12:
        lines.append(f"note: some relations are absent from the key; mean over the relations present "
                     f"(Perl v1.2) = {s['official_perl']:.2f}%, over all 9 = {s['official']:.2f}%")
    lines.append(f"<<< The official score is (9+1)-way evaluation with directionality taken into account: "
                 f"macro-averaged F1 = {s['official_perl']:0.2f}% >>>")
    return lines
