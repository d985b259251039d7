"""One step of a relation's chain on crafted completions: what is kept, the window, the reject reasons; and the
preference pairs the recorded prompts give."""

from harness.recipes.gen.config import GenConfig
from harness.recipes.gen.generate import advance, demos, finished, new_state
from harness.recipes.gen.pairs import build_pairs, pair_of
from harness.recipes.gen.prompt import Sample

SEED = Sample("Alice Moreau", "Lisbon", "Alice Moreau lives in Lisbon.")


def line(head, tail, sentence):
    return f" {head} | tail: {tail} | sentence: {sentence}"


CLOSE = line("Chen Wei", "Lisbon", "Chen Wei lives in Lisbon.")  # shares most n-grams with the seed
FAR = line("Greta Lind", "Oulu", "Oulu has been home to Greta Lind since 1990.")
OTHER = line("Hiro Tanaka", "Quito", "Quito is where Hiro Tanaka grew up.")


def test_one_by_one_keeps_the_least_similar_and_slides_the_window():
    g = GenConfig(mode="one-by-one", window=2, k=3, samples_per_relation=3, max_steps=5)
    state = new_state("Lives_In", 1, [SEED])
    advance(state, g, "p0", [" garbage", CLOSE, FAR + "\nhead: ignored"])
    assert [c["reason"] for c in state["prompts"][0]["candidates"]] == ["unparseable", "not_selected", ""]
    assert [a["id"] for a in state["accepted"]] == ["gen:Lives_In:0:2"]
    assert [d.sentence for d in demos(state, g)] == [SEED.sentence, "Oulu has been home to Greta Lind since 1990."]
    advance(state, g, "p1", [FAR, OTHER, OTHER])
    assert [c["reason"] for c in state["prompts"][1]["candidates"]] == ["duplicate", "", "duplicate"]
    assert [d.head for d in demos(state, g)] == ["Greta Lind", "Hiro Tanaka"]  # the seed left the window
    assert state["step"] == 2 and not finished(state, g)


def test_batch_keeps_valid_candidates_until_enough_and_fixed_demonstrations():
    g = GenConfig(mode="batch", k=3, samples_per_relation=2, max_steps=4)
    state = new_state("Lives_In", 0, [SEED])
    advance(state, g, "p0", [CLOSE, " x | tail: y | sentence: z", FAR])
    advance(state, g, "p0", [OTHER, OTHER, FAR])
    reasons = [[c["reason"] for c in p["candidates"]] for p in state["prompts"]]
    assert reasons == [["", "entity_not_in_sentence", ""], ["surplus", "duplicate", "duplicate"]]
    assert demos(state, g) == [SEED] and finished(state, g)


def test_finished_after_max_steps_without_samples():
    g = GenConfig(mode="one-by-one", k=1, samples_per_relation=1, max_steps=2)
    state = new_state("R", 0, [])
    for _ in range(2):
        advance(state, g, "p", [" nothing"])
    assert finished(state, g) and state["accepted"] == []


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
