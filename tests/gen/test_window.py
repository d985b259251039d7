"""One step of a relation's chain on crafted completions: what is kept (one sample per step, the paper; best-of-k,
the extension), the window, the reject reasons (gold copies included); and the preference pairs the recorded
prompts give."""

import pytest

from harness.data.examples import Example
from harness.recipes.gen.config import GenConfig
from harness.recipes.gen.generate import advance, demos, finished, gold_keys, new_state
from harness.recipes.gen.pairs import build_pairs, pair_of
from harness.recipes.gen.prompt import Sample

SEED = Sample("Alice Moreau", "Lisbon", "Alice Moreau lives in Lisbon.")


def line(head, tail, sentence):
    return f" {head} | tail: {tail} | sentence: {sentence}"


CLOSE = line("Chen Wei", "Lisbon", "Chen Wei lives in Lisbon.")  # shares most n-grams with the seed
FAR = line("Greta Lind", "Oulu", "Oulu has been home to Greta Lind since 1990.")
OTHER = line("Hiro Tanaka", "Quito", "Quito is where Hiro Tanaka grew up.")
NO_GOLD = frozenset()
TRAIN = [Example(id="t0", text="<e1>Ana Ruiz</e1> moved to <e2>Porto</e2> in 2001.", head="Ana Ruiz", tail="Porto",
                 head_span=(0, 8), tail_span=(18, 23), label="Works_For", split="train")]


def test_one_by_one_one_candidate_per_step_keeps_it_when_valid():
    g = GenConfig(mode="one-by-one", window=2, samples_per_relation=3, max_steps=5)  # the paper: one per step
    state = new_state("Lives_In", 1, [SEED])
    advance(state, g, "p0", [CLOSE], NO_GOLD)  # close to the window, but the only candidate: kept (no selection at k = 1)
    advance(state, g, "p1", [" garbage"], NO_GOLD)
    advance(state, g, "p2", [CLOSE], NO_GOLD)
    reasons = [[c["reason"] for c in p["candidates"]] for p in state["prompts"]]
    assert reasons == [[""], ["unparseable"], ["duplicate"]]
    assert [a["id"] for a in state["accepted"]] == ["gen:Lives_In:0:0"]
    assert [d.head for d in demos(state, g)] == ["Alice Moreau", "Chen Wei"]
    with pytest.raises(ValueError, match="2 completions, expected 1"):
        advance(state, g, "p3", [FAR, OTHER], NO_GOLD)


def test_one_by_one_best_of_k_keeps_the_least_similar_and_slides_the_window():
    g = GenConfig(mode="one-by-one", window=2, candidates_per_step=3, samples_per_relation=3, max_steps=5)
    state = new_state("Lives_In", 1, [SEED])
    advance(state, g, "p0", [" garbage", CLOSE, FAR + "\nhead: ignored"], NO_GOLD)
    assert [c["reason"] for c in state["prompts"][0]["candidates"]] == ["unparseable", "not_selected", ""]
    assert [a["id"] for a in state["accepted"]] == ["gen:Lives_In:0:2"]
    assert [d.sentence for d in demos(state, g)] == [SEED.sentence, "Oulu has been home to Greta Lind since 1990."]
    advance(state, g, "p1", [FAR, OTHER, OTHER], NO_GOLD)
    assert [c["reason"] for c in state["prompts"][1]["candidates"]] == ["duplicate", "", "duplicate"]
    assert [d.head for d in demos(state, g)] == ["Greta Lind", "Hiro Tanaka"]  # the seed left the window
    assert state["step"] == 2 and not finished(state, g)


def test_batch_keeps_valid_candidates_until_enough_and_fixed_demonstrations():
    g = GenConfig(mode="batch", k=3, samples_per_relation=2, max_steps=4)
    state = new_state("Lives_In", 0, [SEED])
    advance(state, g, "p0", [CLOSE, " x | tail: y | sentence: z", FAR], NO_GOLD)
    advance(state, g, "p0", [OTHER, OTHER, FAR], NO_GOLD)
    reasons = [[c["reason"] for c in p["candidates"]] for p in state["prompts"]]
    assert reasons == [["", "entity_not_in_sentence", ""], ["surplus", "duplicate", "duplicate"]]
    assert demos(state, g) == [SEED] and finished(state, g)


def test_finished_after_max_steps_without_samples():
    g = GenConfig(mode="one-by-one", samples_per_relation=1, max_steps=2)
    state = new_state("R", 0, [])
    for _ in range(2):
        advance(state, g, "p", [" nothing"], NO_GOLD)
    assert finished(state, g) and state["accepted"] == []


def test_gold_copies_are_rejected_up_to_whitespace_and_case():
    gold = gold_keys(TRAIN)
    assert gold == {"ana ruiz moved to porto in 2001."}  # markers stripped, case folded
    g = GenConfig(mode="one-by-one", window=2, candidates_per_step=4, samples_per_relation=3, max_steps=5)
    state = new_state("Lives_In", 0, [SEED])
    advance(state, g, "p0", [line("Ana Ruiz", "Porto", "Ana Ruiz  moved to Porto in 2001."),  # spacing
                             line("ana ruiz", "porto", "ana ruiz moved to porto in 2001."),  # case
                             line("Ana Ruiz", "Porto", "Ana Ruiz moved to Porto in 2001!"),  # punctuation: not a copy
                             line("Alice Moreau", "Lisbon", SEED.sentence)], gold)  # a seed: not in TRAIN -> duplicate
    reasons = [c["reason"] for c in state["prompts"][0]["candidates"]]
    assert reasons == ["gold_copy", "gold_copy", "", "duplicate"]
    assert [a["sample"]["sentence"] for a in state["accepted"]] == ["Ana Ruiz moved to Porto in 2001!"]
    seeded = new_state("Works_For", 1, [Sample("Ana Ruiz", "Porto", "Ana Ruiz moved to Porto in 2001.")])
    advance(seeded, g, "p0", [line("Ana Ruiz", "Porto", "Ana Ruiz moved to Porto in 2001.")] + [" x"] * 3, gold)
    assert seeded["prompts"][0]["candidates"][0]["reason"] == "gold_copy"  # a copied gold seed: gold_copy first


def _record(cands):
    return {"relation": "R", "step": 3, "prompt": "P", "candidates": cands}


def _c(j, text, reason, sim):
    return {"j": j, "text": text, "reason": reason, "similarity": sim}


def test_pairs_rule():
    invalid = pair_of("R", _record([_c(0, "bad\nmore", "unparseable", None), _c(1, "ok", "", 0.5),
                                    _c(2, "best", "not_selected", 0.1)]))
    assert (invalid["chosen"], invalid["rejected"], invalid["rule"]) == ("best", "bad", "invalid:unparseable")
    assert (invalid["id"], invalid["prompt"], invalid["relation"]) == ("R:3", "P", "R")
    similar = pair_of("R", _record([_c(0, "a", "", 0.2), _c(1, "b", "not_selected", 0.7),
                                    _c(2, "c", "not_selected", 0.7)]))
    assert (similar["chosen"], similar["rejected"], similar["rule"]) == ("a", "c", "more-similar")
    dup = pair_of("R", _record([_c(0, "a", "", 0.2), _c(1, "a again", "duplicate", 1.0)]))
    assert dup["rule"] == "invalid:duplicate"
    copy = pair_of("R", _record([_c(0, "a", "", 0.2), _c(1, "gold", "gold_copy", 0.1)]))
    assert (copy["chosen"], copy["rejected"], copy["rule"]) == ("a", "gold", "invalid:gold_copy")
    assert pair_of("R", _record([_c(0, "a", "", 0.2)])) is None  # one candidate
    assert pair_of("R", _record([_c(0, "a", "empty", None), _c(1, "", "empty", None)])) is None  # none valid
    assert pair_of("R", _record([_c(0, "a", "", 0.3), _c(1, "b", "not_selected", 0.3)])) is None  # a tie
    pairs, counts = build_pairs([_record([_c(0, "a", "", 0.2), _c(1, "x", "empty", None)]),
                                 _record([_c(0, "a", "", 0.2)])])
    assert counts == {"prompts": 2, "pairs": 1, "by_rule": {"invalid:empty": 1}, "no_pair": 1} and len(pairs) == 1


def test_relation_list_keeps_directional_labels_whole():
    from harness.data.labels import SEMEVAL_19
    from harness.recipes.gen.generate import relation_labels

    g = GenConfig(relations="Cause-Effect(e2,e1), Other")
    assert relation_labels(g, SEMEVAL_19) == ["Cause-Effect(e2,e1)", "Other"]
    assert relation_labels(GenConfig(), ("A", "B")) == ["A", "B"]
