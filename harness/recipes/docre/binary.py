"""The LLM pre-classifier of LMRC's Table 5 ablation "w/o pre-classifier w LLM" (``prompts.style=binary``): the LLM,
fine-tuned over every ordered entity pair, answers Yes / No per pair in place of RCP; its Yes pairs become a
candidates file (the RCP contract, harness.recipes.docre.pairs) that the RC stage (``prompts.style=lmrc``) is asked
about. The paper gives no prompt for it; this is the reference code's step-1 prompt (wisper12933/LMRC @ 7467efd,
convert_docred_to_llm.py: PROMPT_DICT["step1_instruction_ft"] and generate_for_step1_finetune) in the Alpaca
layout of its RC/templates/alpaca.json, verbatim (its curly quotes and trailing space included):

    <HEADER>
    ### Instruction:
    We will provide the text and several entity pairs ... as the number of input entity pairs.<space>
    ### Text:                      the document's tokens joined by single spaces
    ### <k> Entity pairs:          '1.(head | tail)', '2.(head | tail)', ... (numbered from 1 in every prompt)
    ### Response:
Answer: '1.Yes' / '2.No' ... one line per pair in the prompt's order (Yes: the pair holds a gold relation).
Blank lines between the blocks as in harness.recipes.docre.prompts; no relation set (the reference has none here).

Reading an answer: a line 'k.Yes' / 'k. no' (case and spaces around the dot ignored) answers pair k of its prompt;
the first answer of a pair counts. Counted by reason: 'malformed' (no 'k.Yes|No' line), 'out_of_range' (k not a pair
of the prompt), 'duplicate' (k answered before), 'missing' (a pair never answered: not proposed).
Scored as RCP is (harness.recipes.docre.rcp.propose.detection): precision / recall / F1 of related-pair detection
against the gold related pairs, Table 5's "F1 of RCP" (31.30 for LLaMA2-13B-Chat against RCP's 64.64).
"""

from __future__ import annotations

import re
from collections import Counter

from harness.recipes.docre.prompts import HEADER, Prompt
from harness.recipes.docre.types import Document

INSTRUCTION = ("We will provide the text and several entity pairs in the text. You need to determine whether these "
               "entity pairs express relations based on the text. The format of input entity pairs is "
               "\u2019(head entity | tail entity)\u2019. Return \"Yes\" if you believe the entity pair expresses "
               "relations, otherwise return \"No\". The number of \"Yes\" and \"No\" should be the same as the number "
               "of input entity pairs. ")
REASONS = ("malformed", "out_of_range", "duplicate", "missing")
_LINE = re.compile(r"^\s*(\d+)\s*\.\s*(yes|no)\b", re.IGNORECASE)


def binary_prompt(doc: Document, names: list[str], rel_set: str, text: str, part, relations, style: str,
                  with_answer: bool) -> tuple[str, str | None]:
    """(prompt, answer or None) of one chunk of pairs (the signature of harness.recipes.docre.prompts' makers)."""
    lines = [f"{i}.({names[h]} | {names[t]})" for i, (h, t) in enumerate(part, 1)]
    prompt = (f"{HEADER}\n\n### Instruction:\n{INSTRUCTION}\n\n### Text:\n{text}\n\n### {len(lines)} Entity pairs:\n"
              + "\n".join(lines) + "\n\n### Response:\n")
    if not with_answer:
        return prompt, None
    related = doc.related_pairs()
    return prompt, "\n".join(f"{i}.{'Yes' if p in related else 'No'}" for i, p in enumerate(part, 1))


def read_answer(text: str, n_pairs: int, dropped: Counter) -> list[int]:
    """0-based indices of the pairs answered Yes (each drop counted in ``dropped``)."""
    answers: dict[int, bool] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            dropped["malformed"] += 1
            continue
        k = int(m.group(1))
        if not 1 <= k <= n_pairs:
            dropped["out_of_range"] += 1
        elif k in answers:
            dropped["duplicate"] += 1
        else:
            answers[k] = m.group(2).lower() == "yes"
    dropped["missing"] += n_pairs - len(answers)
    return [k - 1 for k in sorted(answers) if answers[k]]


def candidates(prompts: list[Prompt], texts: list[str], docs: list[Document]) -> tuple[list[dict], dict]:
    """The candidates file's rows (one per document, in file order: {title, pairs, scores = 1.0}) of the Yes pairs,
    and the drop counts."""
    dropped: Counter = Counter()
    yes: list[list[tuple[int, int]]] = [[] for _ in docs]
    for p, text in zip(prompts, texts):
        yes[p.doc] += [p.pairs[i] for i in read_answer(text, len(p.pairs), dropped)]
    rows = [{"title": d.title, "pairs": [list(x) for x in sorted(set(ys))], "scores": [1.0] * len(set(ys))}
            for d, ys in zip(docs, yes)]
    return rows, {r: dropped.get(r, 0) for r in REASONS}


def detection(rows: list[dict], docs: list[Document]) -> dict:
    """Related-pair detection of the proposed pairs against the gold related pairs: proposed, correct, gold, P, R,
    F1 (fractions)."""
    proposed = {(d.title, tuple(x)) for d, r in zip(docs, rows) for x in r["pairs"]}
    gold = {(d.title, x) for d in docs for x in d.related_pairs()}
    tp = len(proposed & gold)
    p = tp / len(proposed) if proposed else 0.0
    r = tp / len(gold) if gold else 0.0
    return {"proposed": len(proposed), "correct": tp, "gold": len(gold), "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0}
