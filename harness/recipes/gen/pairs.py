"""Preference pairs for DPO from the recorded candidates (the contract of issue 16: one JSON object per line with
id, prompt, chosen, rejected, relation, rule).

The rule, per prompt (one step of one relation) with at least two candidates:
- chosen: the valid, non-duplicate candidate least similar to the prompt's demonstrations (lowest index on ties);
  under one-by-one this is the accepted sample. No such candidate: no pair.
- rejected: the first candidate (by index) that is invalid (any parse reason), a gold copy or a duplicate -> rule
  ``invalid:<reason>``; else the valid candidate most similar to the demonstrations (highest index on ties), when
  strictly more similar than the chosen -> rule ``more-similar``; else no pair.
Texts are completions as the generator wrote them, up to the first newline (no EOS); ``prompt`` is the full prompt.
So pairs need prompts of two candidates or more: one-by-one with ``gen.candidates_per_step`` >= 2 (best-of-k), or
batch with ``gen.k`` >= 2; ``gen pairs`` refuses a run whose prompts all had one candidate (the paper's k = 1).
"""

from __future__ import annotations

from harness.recipes.gen.parse import COPY_REASONS, VALID_REASONS, completion_line

VALID_NOT_KEPT = set(VALID_REASONS) - set(COPY_REASONS)


def _valid(c: dict) -> bool:
    return c["reason"] in ("", *VALID_NOT_KEPT)


def pair_of(relation: str, rec: dict) -> dict | None:
    cands = rec["candidates"]
    valid = [c for c in cands if _valid(c)]
    if len(cands) < 2 or not valid:
        return None
    chosen = min(valid, key=lambda c: (c["similarity"], c["j"]))
    bad = [c for c in cands if not _valid(c)]
    if bad:
        rejected, rule = bad[0], f"invalid:{bad[0]['reason']}"
    else:
        rejected = max(valid, key=lambda c: (c["similarity"], c["j"]))
        rule = "more-similar"
        if rejected["similarity"] <= chosen["similarity"]:
            return None
    chosen_text, rejected_text = completion_line(chosen["text"]), completion_line(rejected["text"])
    if chosen_text == rejected_text:
        return None
    return {"id": f"{relation}:{rec['step']}", "prompt": rec["prompt"], "chosen": chosen_text,
            "rejected": rejected_text, "relation": relation, "rule": rule, "chosen_j": chosen["j"],
            "rejected_j": rejected["j"], "chosen_similarity": chosen["similarity"],
            "rejected_similarity": rejected["similarity"]}


def build_pairs(candidate_records: list[dict]) -> tuple[list[dict], dict]:
    """(pairs, counts: prompts, pairs, by rule, prompts without a pair)."""
    pairs = [p for rec in candidate_records if (p := pair_of(rec["relation"], rec)) is not None]
    by_rule: dict[str, int] = {}
    for p in pairs:
        by_rule[p["rule"]] = by_rule.get(p["rule"], 0) + 1
    return pairs, {"prompts": len(candidate_records), "pairs": len(pairs), "by_rule": by_rule,
                   "no_pair": len(candidate_records) - len(pairs)}
