"""The official DocRED evaluation (thunlp/DocRED ``evaluation.py``, as ATLOP's and DREEAM's ``official_evaluate``
and LMRC's ``evaluation.py`` adapt it), reimplemented over ``harness.recipes.docre.types.Document``.

A submission is a list of ``{"title", "h_idx", "t_idx", "r"}`` (+ optional ``"evidence"``: sentence ids). The
rules, as the official script has them:
- Dedupe: the submission is sorted by (title, h_idx, t_idx, r) and exact repeats of that key are dropped (a second
  copy with other evidence is dropped too: the first in sorted order stays, Python's sort being stable).
- Correct: (title, r, h_idx, t_idx) is a gold fact. P = correct / submitted, R = correct / gold facts,
  F1 = 2PR / (P + R) (0 when P + R = 0).
- Unknown titles (not in the gold file) stay in the submission: they count in ``submitted`` (false positives) and
  are never correct; they fall in neither the intra nor the inter subset. The official script prints them; here
  they are counted (``unknown_titles``). An h_idx / t_idx outside a known document's entities is an error (the
  official script dies on it with an IndexError).
- Ign F1: a correct prediction is "in train" when some (mention name of h, mention name of t, r) is a training
  fact (``read_facts``: the official ``*.fact`` file, or built from a DocRED training file as ``gen_train_facts``
  does). IgnP = (correct - correct_in_train) / (submitted - correct_in_train): the official denominator removes
  only the CORRECT in-train predictions; recall is unchanged. Ign F1 = 2 IgnP R / (IgnP + R).
- Intra / inter (LMRC's evaluation.py; the original script has no such split): a fact or prediction is intra-sentence
  when some mention of h and some mention of t share a sentence (the smallest |sent_id(h) - sent_id(t)| is 0),
  inter-sentence otherwise. Intra P = correct intra / submitted intra, R = correct intra / gold intra facts.
- Evidence F1 as the official script: the gold evidence of correct predictions overlapped with their evidence.
- ``eps=True``: ATLOP's / DREEAM's variant, IgnP's denominator + 1e-5 (their printed Ign F1 is this one).
Degenerate cases the official script crashes on get 0: an empty submission (P = 0), IgnP with a zero denominator
(every submitted triple is a correct in-train one), no gold facts (R = 0), no gold evidence (evidence R = 0).
All figures are fractions in [0, 1]; ``report`` prints them x100.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.manifest import read_json
from harness.recipes.docre.reader import read_docred
from harness.recipes.docre.types import Document

KEYS = ("title", "h_idx", "t_idx", "r")
IGN_EPS = 1e-5  # ATLOP / DREEAM add this to IgnP's denominator


def read_facts(path: str | Path) -> set[tuple[str, str, str]]:
    """Training facts {(head mention name, tail mention name, r)}: an official ``*.fact`` file (a JSON list of
    [h_name, t_name, r]) or a DocRED-format training file (every mention-name pair of every label, as the official
    ``gen_train_facts`` builds them)."""
    data = read_json(path, "training-fact file")
    if isinstance(data, list) and all(isinstance(x, list) and len(x) == 3 for x in data):
        return {(str(h), str(t), str(r)) for h, t, r in data}
    if isinstance(data, list) and all(isinstance(x, dict) for x in data):
        return facts_of_documents(read_docred(path))
    raise ValueError(f"{path}: expected a .fact file (JSON list of [head name, tail name, relation]) or a DocRED "
                     "training file (JSON list of documents)")


def facts_of_documents(docs: list[Document]) -> set[tuple[str, str, str]]:
    return {(m1.name, m2.name, f.r) for d in docs for f in d.facts
            for m1 in d.entities[f.h].mentions for m2 in d.entities[f.t].mentions}


def read_predictions(path: str | Path) -> list[dict]:
    """A submission file: a JSON list of {title, h_idx, t_idx, r (, evidence)}; each record checked."""
    data = read_json(path, "predictions file")
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of {{title, h_idx, t_idx, r}}, got {type(data).__name__}")
    for i, x in enumerate(data):
        check_prediction(x, f"{path}: prediction {i}")
    return data


def check_prediction(x, where: str) -> None:
    if not isinstance(x, dict) or not set(KEYS) <= set(x):
        raise ValueError(f"{where}: expected an object with {list(KEYS)}, got {x!r}")
    if not isinstance(x["title"], str) or not isinstance(x["r"], str):
        raise ValueError(f"{where}: title and r must be strings, got {x!r}")
    if not all(isinstance(x[k], int) and not isinstance(x[k], bool) for k in ("h_idx", "t_idx")):
        raise ValueError(f"{where}: h_idx and t_idx must be integers, got {x!r}")


def dedupe(submission: list[dict]) -> list[dict]:
    """The official dedupe: sort by (title, h_idx, t_idx, r), drop exact repeats of that key."""
    ordered = sorted(submission, key=lambda x: tuple(x[k] for k in KEYS))
    out = []
    for x in ordered:
        if not out or tuple(x[k] for k in KEYS) != tuple(out[-1][k] for k in KEYS):
            out.append(x)
    return out


def is_intra(doc: Document, h: int, t: int) -> bool:
    """Some mention of h and some mention of t lie in the same sentence."""
    return bool({m.sent_id for m in doc.entities[h].mentions} & {m.sent_id for m in doc.entities[t].mentions})


def _prf(correct: int, submitted: int, gold: int, eps: float = 0.0) -> dict:
    p = correct / (submitted + eps) if submitted + eps > 0 else 0.0
    r = correct / gold if gold > 0 else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1}


def _in_train(doc: Document, h: int, t: int, r: str, facts) -> bool:
    return any((m1.name, m2.name, r) in facts for m1 in doc.entities[h].mentions for m2 in doc.entities[t].mentions)


def _gold(docs: list[Document]) -> tuple[dict, dict]:
    """{(title, r, h, t): evidence set} and {title: document}."""
    std, by_title = {}, {}
    for d in docs:
        by_title[d.title] = d
        for f in d.facts:
            std[(d.title, f.r, f.h, f.t)] = set(f.evidence)
    return std, by_title


def _count(sub: list[dict], std: dict, by_title: dict, facts) -> dict:
    c = dict(correct=0, in_train=0, unknown_titles=0, intra_sub=0, inter_sub=0, intra_correct=0,
             inter_correct=0, pred_evi=0, correct_evi=0)
    for x in sub:
        doc = by_title.get(x["title"])
        if doc is None:
            c["unknown_titles"] += 1
            continue
        h, t, r = x["h_idx"], x["t_idx"], x["r"]
        if not (0 <= h < len(doc.entities) and 0 <= t < len(doc.entities)):
            raise ValueError(f"prediction {x!r}: h_idx / t_idx outside document {doc.title!r}'s "
                             f"{len(doc.entities)} entities")
        side = "intra" if is_intra(doc, h, t) else "inter"
        c[f"{side}_sub"] += 1
        evi = set(x.get("evidence") or ())
        c["pred_evi"] += len(evi)
        key = (doc.title, r, h, t)
        if key in std:
            c["correct"] += 1
            c[f"{side}_correct"] += 1
            c["correct_evi"] += len(std[key] & evi)
            c["in_train"] += _in_train(doc, h, t, r, facts)
    return c


def official_scores(submission: list[dict], docs: list[Document], facts: set | None = None, *,
                    eps: bool = False) -> dict:
    """P/R/F1, Ign P/F1 (when ``facts`` is given), intra/inter P/R/F1, evidence P/R/F1 and the counts."""
    std, by_title = _gold(docs)
    sub = dedupe(submission)
    c = _count(sub, std, by_title, facts or set())
    n_intra = sum(is_intra(by_title[ti], h, t) for ti, _, h, t in std)
    out = {"n_submitted": len(submission), "n_deduped": len(sub), "n_gold": len(std), "n_gold_intra": n_intra,
           "n_gold_inter": len(std) - n_intra, **c}
    out["re"] = _prf(c["correct"], len(sub), len(std))
    out["intra"] = _prf(c["intra_correct"], c["intra_sub"], n_intra)
    out["inter"] = _prf(c["inter_correct"], c["inter_sub"], len(std) - n_intra)
    out["evidence"] = _prf(c["correct_evi"], c["pred_evi"], sum(len(e) for e in std.values()))
    if facts is not None:
        ign_p = _prf(c["correct"] - c["in_train"], len(sub) - c["in_train"], 0, IGN_EPS if eps else 0.0)["precision"]
        r = out["re"]["recall"]  # recall unchanged
        out["ign"] = {"precision": ign_p, "recall": r, "f1": 2 * ign_p * r / (ign_p + r) if ign_p + r > 0 else 0.0}
    out["eps"] = eps
    return out


def evaluate_files(pred_path, gold_path, facts_path=None, *, eps: bool = False,
                   relations: dict | None = None) -> dict:
    """``official_scores`` of a predictions file against a DocRED-format gold file (+ a training-fact file)."""
    docs = read_docred(gold_path, relations)
    facts = read_facts(facts_path) if facts_path else None
    res = official_scores(read_predictions(pred_path), docs, facts, eps=eps)
    res.update(pred=str(pred_path), gold=str(gold_path), facts=str(facts_path) if facts_path else None)
    return res


def summary_rows(res: dict, facts_label: str = "") -> list[list]:
    """Rows [metric, P, R, F1] (x100) for a table."""
    rows = [["RE", *(100 * res["re"][k] for k in ("precision", "recall", "f1"))]]
    if "ign" in res:
        rows.append([f"Ign{' ' + facts_label if facts_label else ''}",
                     *(100 * res["ign"][k] for k in ("precision", "recall", "f1"))])
    for part in ("intra", "inter", "evidence"):
        rows.append([part, *(100 * res[part][k] for k in ("precision", "recall", "f1"))])
    return rows


def dumps(res: dict) -> str:
    return json.dumps(res, indent=2, sort_keys=True)
