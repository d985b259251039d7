"""The official DocRED evaluation against hand-computed figures on the crafted fixture, and gold = 100 on dev."""

import json
from pathlib import Path

import pytest

from harness.recipes.docre.evaluate import (
    dedupe,
    evaluate_files,
    facts_of_documents,
    official_scores,
    read_facts,
)
from harness.recipes.docre.reader import parse_document, read_docred

FIX = Path(__file__).parent / "fixtures"
DOCS = read_docred(FIX / "docs.json")
FACTS = read_facts(FIX / "facts_mara.fact")  # ("Quill", "Harrow Press", "P108"): Mara 0 -> 2 P108 is in train


def p(title, h, t, r, **kw):
    return {"title": title, "h_idx": h, "t_idx": t, "r": r, **kw}


SUB = [p("Mara Quill", 0, 1, "P19"),  # correct, intra
       p("Mara Quill", 0, 1, "P19", evidence=[0]),  # duplicate of the first (dropped: the first stays)
       p("Mara Quill", 0, 2, "P108"),  # correct, in train (mention 'Quill' x 'Harrow Press')
       p("Mara Quill", 1, 3, "P17"),  # wrong, inter (sentences {0} vs {1})
       p("Atlantis", 0, 1, "P17"),  # unknown title: submitted, never correct, neither intra nor inter
       p("Norland", 1, 0, "P17")]  # correct, intra (both in sentence 2)


def test_official_scores_hand_computed():
    res = official_scores(SUB, DOCS, FACTS)
    # 5 after dedupe, 3 correct, 5 gold facts (all intra), 1 correct in train
    assert (res["n_deduped"], res["correct"], res["n_gold"], res["in_train"]) == (5, 3, 5, 1)
    assert res["unknown_titles"] == 1 and (res["n_gold_intra"], res["n_gold_inter"]) == (5, 0)
    assert res["re"] == pytest.approx({"precision": 0.6, "recall": 0.6, "f1": 0.6})
    ign_p = (3 - 1) / (5 - 1)
    assert res["ign"] == pytest.approx({"precision": ign_p, "recall": 0.6, "f1": 2 * ign_p * 0.6 / (ign_p + 0.6)})
    assert res["intra"] == pytest.approx({"precision": 1.0, "recall": 0.6, "f1": 0.75})
    assert res["inter"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert (res["intra_sub"], res["inter_sub"]) == (3, 1)


def test_official_scores_eps_variant():
    res = official_scores(SUB, DOCS, FACTS, eps=True)
    ign_p = 2 / (4 + 1e-5)
    assert res["ign"]["precision"] == pytest.approx(ign_p, rel=1e-12)
    assert res["re"]["precision"] == 0.6  # only IgnP's denominator changes


def test_dedupe_keeps_first_in_sorted_order_evidence_follows():
    a, b = p("Mara Quill", 0, 1, "P19"), p("Mara Quill", 0, 1, "P19", evidence=[0])
    assert dedupe([a, b]) == [a] and dedupe([b, a]) == [b]
    assert official_scores([b, a], DOCS)["evidence"]["precision"] == 1.0
    assert official_scores([a, b], DOCS)["evidence"]["precision"] == 0.0


def test_empty_submission_scores_zero():
    res = official_scores([], DOCS, FACTS)
    assert res["re"] == res["ign"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_only_correct_in_train_ign_zero():
    res = official_scores([p("Mara Quill", 0, 2, "P108")], DOCS, FACTS)
    assert res["re"]["precision"] == 1.0 and res["ign"]["precision"] == 0.0 and res["ign"]["f1"] == 0.0


def test_inter_sentence_fact():
    doc = parse_document({"title": "X", "sents": [["A", "b", "."], ["C", "d", "."]],
                          "vertexSet": [[{"name": "A", "sent_id": 0, "pos": [0, 1], "type": "PER"}],
                                        [{"name": "C", "sent_id": 1, "pos": [0, 1], "type": "LOC"}]],
                          "labels": [{"h": 0, "t": 1, "r": "P19", "evidence": [0, 1]}]}, "x")
    res = official_scores([p("X", 0, 1, "P19"), p("X", 1, 0, "P19")], [doc])
    assert (res["n_gold_intra"], res["n_gold_inter"]) == (0, 1)
    assert res["inter"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3})


def test_out_of_range_entity_is_an_error():
    with pytest.raises(ValueError, match="outside document"):
        official_scores([p("Norland", 0, 7, "P17")], DOCS)


def test_facts_from_a_docred_file_as_gen_train_facts():
    facts = read_facts(FIX / "docs.json")
    assert ("Quill", "Tallinford", "P19") in facts and facts == facts_of_documents(DOCS)
    # gold of a file against its own facts: every correct triple is in train, IgnP = 0 / 0 -> 0
    gold = [p(d.title, f.h, f.t, f.r) for d in DOCS for f in d.facts]
    assert official_scores(gold, DOCS, facts)["ign"]["f1"] == 0.0


def test_evaluate_files_reads_and_checks(tmp_path):
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(SUB))
    res = evaluate_files(pred, FIX / "docs.json", FIX / "facts_mara.fact")
    assert res["re"]["f1"] == pytest.approx(0.6)
    pred.write_text(json.dumps([{"title": "Norland", "h_idx": "0", "t_idx": 1, "r": "P17"}]))
    with pytest.raises(ValueError, match="integers"):
        evaluate_files(pred, FIX / "docs.json")


@pytest.mark.data
@pytest.mark.parametrize("split", ["dev", "test"])
def test_gold_as_predictions_scores_100(data_dir, split):
    docs = read_docred(data_dir / "redocred" / f"{split}_revised.json")
    gold = [p(d.title, f.h, f.t, f.r) for d in docs for f in d.facts]
    res = official_scores(gold, docs, read_facts(data_dir / "docred" / "ref" / "train_annotated.fact"))
    assert res["re"]["f1"] == 1.0 and res["ign"]["f1"] == 1.0
    assert res["intra"]["f1"] == 1.0 and res["inter"]["f1"] == 1.0
    assert 0 < res["in_train"] < res["correct"] == len(gold)
