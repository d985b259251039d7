"""The generation loop: every relation's chain of prompts, batched across relations, sharded across ranks, resumable.

A relation's state (``GenFiles.state(i)``) holds its steps done, its gold seeds and every prompt with every candidate
completion; it is rewritten atomically after each step. One loop iteration advances every unfinished relation of
this rank by one step, drawing ``per_step(g)`` completions each (one-by-one: ``gen.candidates_per_step``, 1 = the
paper; batch: ``gen.k``) in ``ceil(relations x per_step / batch_size)`` generate calls. Relations are split between
ranks in contiguous blocks (``dist.shard_range``); the generator is a plain model on each rank (no ZeRO), so ranks
need not make equal numbers of generate calls. Completion ``j`` of relation ``i`` at step ``t`` is drawn with the
seed ``row_seed(gen.seed, i, t, j)``, so a resumed, rebatched or resharded run draws the same samples.

Per step, each candidate is judged (harness.recipes.gen.parse) and, when well-formed, scored by its similarity to the
prompt's demonstrations (harness.recipes.gen.metrics.window_similarity); a well-formed candidate whose sentence is a
gold training sentence (``parse.copy_key``: whitespace and case normalised; any relation's) is ``gold_copy``, else
one that repeats a sentence of the relation's chain (seeds, accepted samples, an earlier candidate of the step) is
``duplicate``. one-by-one keeps the valid candidate least similar to the window (lowest index on ties; with one
candidate per step, that candidate when valid) and it joins the window; batch keeps every valid one in index order
until the relation has ``samples_per_relation``. Every other candidate is a reject with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from harness import dist, log
from harness.data.examples import Example
from harness.manifest import read_json
from harness.recipes.gen.config import GenConfig, max_steps, per_step
from harness.recipes.gen.files import GenFiles
from harness.recipes.gen.metrics import window_similarity
from harness.recipes.gen.parse import copy_key, parse_sample
from harness.recipes.gen.prompt import Sample, from_example, render, strip_markers
from harness.recipes.gen.sample import row_seed, sample_completions
from harness.run import atomic_write_json


def relation_labels(g: GenConfig, labels: tuple[str, ...]) -> list[str]:
    """The labels to generate for: ``gen.relations`` (checked against the label space) or every label."""
    if not g.relations:
        return list(labels)
    wanted = [r.strip() for r in re.split(r",(?![^()]*\))", g.relations) if r.strip()]  # Cause-Effect(e1,e2) stays
    unknown = [r for r in wanted if r not in labels]
    if unknown:
        from harness.cli import InputError

        raise InputError(f"gen.relations names {unknown}, not in the label space {list(labels)}")
    return wanted


def gold_order(train: list[Example], label: str, seed: int, index: int) -> list[Example]:
    """The relation's gold training examples (gold label) in a seeded order: seeds and gold additions come first."""
    mine = [ex for ex in train if ex.label == label]
    order = np.random.default_rng([seed, index]).permutation(len(mine))
    return [mine[k] for k in order]


def gold_keys(train: list[Example]) -> frozenset[str]:
    """The training split's sentences (markers stripped) in ``copy_key`` form: what ``gold_copy`` rejects."""
    return frozenset(copy_key(strip_markers(ex.text)) for ex in train)


def new_state(label: str, index: int, seeds: list[Sample]) -> dict:
    return {"relation": label, "index": index, "step": 0, "seeds": [vars(s) for s in seeds], "accepted": [],
            "prompts": []}


def demos(state: dict, g: GenConfig) -> list[Sample]:
    seeds = [Sample(**s) for s in state["seeds"]]
    if g.mode == "batch":
        return seeds
    chain = seeds + [Sample(**a["sample"]) for a in state["accepted"]]
    return chain[-g.window:]


def finished(state: dict, g: GenConfig) -> bool:
    return len(state["accepted"]) >= g.samples_per_relation or state["step"] >= max_steps(g)


def judge(completions: list[str], window: list[Sample], seen: set[str], gold: frozenset[str]) -> list[dict]:
    """Each candidate: text, parsed sample (or None), reason ("" = valid so far), similarity to the window.
    ``gold``: ``gold_keys`` of the training split."""
    out, step_seen = [], set()
    for j, text in enumerate(completions):
        sample, reason = parse_sample(text)
        sim = None
        if sample is not None:
            sim = window_similarity(sample.sentence, [w.sentence for w in window])
            if copy_key(sample.sentence) in gold:
                reason = "gold_copy"
            elif sample.sentence in seen or sample.sentence in step_seen:
                reason = "duplicate"
            step_seen.add(sample.sentence)
        out.append({"j": j, "text": text, "sample": vars(sample) if sample else None, "reason": reason,
                    "similarity": sim})
    return out


def select(cands: list[dict], g: GenConfig, have: int) -> list[dict]:
    """Mark the kept candidates (reason "") and the valid ones not kept; return the kept ones in order."""
    valid = [c for c in cands if c["reason"] == ""]
    if g.mode == "one-by-one":
        keep = sorted(valid, key=lambda c: (c["similarity"], c["j"]))[:1]
        rest_reason = "not_selected"
    else:
        keep = valid[: max(g.samples_per_relation - have, 0)]
        rest_reason = "surplus"
    kept = {c["j"] for c in keep}
    for c in valid:
        if c["j"] not in kept:
            c["reason"] = rest_reason
    return keep


def advance(state: dict, g: GenConfig, prompt: str, completions: list[str], gold: frozenset[str]) -> None:
    """One step of one relation: judge, select, record (the kept samples join the chain)."""
    if len(completions) != per_step(g):
        raise ValueError(f"{state['relation']} step {state['step']}: {len(completions)} completions, expected "
                         f"{per_step(g)}")
    window = demos(state, g)
    seen = {s["sentence"] for s in state["seeds"]} | {a["sample"]["sentence"] for a in state["accepted"]}
    cands = judge(completions, window, seen, gold)
    step = state["step"]
    for c in select(cands, g, len(state["accepted"])):
        c["id"] = f"gen:{state['relation']}:{step}:{c['j']}"
        state["accepted"].append({"id": c["id"], "step": step, "j": c["j"], "sample": c["sample"]})
    state["prompts"].append({"step": step, "prompt": prompt, "candidates": cands})
    state["step"] = step + 1


def load_states(files: GenFiles, labels: list[str], indices, train: list[Example], g: GenConfig) -> dict[int, dict]:
    states = {}
    for i in indices:
        path = files.state(i)
        if path.is_file():
            states[i] = read_json(path, "generation state")
        else:
            seeds = [from_example(ex) for ex in gold_order(train, labels[i], g.seed, i)[: g.seed_gold]]
            states[i] = new_state(labels[i], i, seeds)
    return states


def run_steps(model, tok, states: dict[int, dict], g: GenConfig, files: GenFiles, gold: frozenset[str],
              on_step: Callable[[int], None] | None = None) -> None:
    """Advance this rank's relations until each is finished, saving each state after each of its steps.
    ``gold``: ``gold_keys`` of the training split (the ``gold_copy`` check)."""
    total = sum(max_steps(g) for _ in states)
    with log.progress("generate", total, "steps", start=sum(s["step"] for s in states.values()),
                      enabled=dist.rank() == 0) as bar:
        n = 0
        while active := [i for i, s in sorted(states.items()) if not finished(s, g)]:
            prompts = {i: render(states[i]["relation"], demos(states[i], g), g.mode) for i in active}
            k = per_step(g)
            rows = [(i, j) for i in active for j in range(k)]
            texts = _complete(model, tok, [prompts[i] for i, _ in rows],
                              [row_seed(g.seed, i, states[i]["step"], j) for i, j in rows], g)
            for a, i in enumerate(active):
                advance(states[i], g, prompts[i], texts[a * k:(a + 1) * k], gold)
                atomic_write_json(files.state(i), states[i])
            bar.advance(len(active))
            n += 1
            if on_step is not None:
                on_step(n)


def _complete(model, tok, prompts: list[str], seeds: list[int], g: GenConfig) -> list[str]:
    out = []
    for s in range(0, len(prompts), g.batch_size):
        out += sample_completions(model, tok, prompts[s:s + g.batch_size], seeds[s:s + g.batch_size],
                                  temperature=g.temperature, top_p=g.top_p, max_new_tokens=g.max_new_tokens)
    return out
