"""The '(head| relation| tail)' parser on adversarial outputs: every drop counted by reason."""

from pathlib import Path

from harness.recipes.docre.parse import parse_generation, parse_outputs, pieces
from harness.recipes.docre.reader import read_docred

DOCS = read_docred(Path(__file__).parent / "fixtures" / "docs.json")
REL = {"P17": "country", "P19": "place of birth", "P36": "capital", "P108": "employer", "P463": "member of"}
MARA, NORLAND = DOCS[0], DOCS[1]


def triples(res):
    return [(x["h_idx"], x["t_idx"], x["r"]) for x in res.predictions]


def test_clean_output():
    res = parse_generation("(Mara Quill| place of birth| Tallinford)\n(Mara Quill| employer| Harrow Press)", MARA, REL)
    assert triples(res) == [(0, 1, "P19"), (0, 2, "P108")] and sum(res.dropped.values()) == 0
    assert res.predictions[0]["title"] == "Mara Quill"


def test_spaces_case_and_missing_parentheses():
    out = ("  (  Mara Quill |  Place Of  Birth | Tallinford )  \nMara Quill| employer| Harrow Press\n"
           "(1985| member of| harrow press")
    assert triples(parse_generation(out, MARA, REL)) == [(0, 1, "P19"), (0, 2, "P108"), (3, 2, "P463")]


def test_several_triples_on_one_line_and_list_markers():
    out = ("1. (Mara Quill| employer| Harrow Press), (Mara Quill| member of| Harrow Press); "
           "(Quill| place of birth| Tallinford).")
    assert pieces(out)[0] == "1. (Mara Quill| employer| Harrow Press)"
    assert triples(parse_generation(out, MARA, REL)) == [(0, 2, "P108"), (0, 2, "P463"), (0, 1, "P19")]


def test_nested_pipes_pick_the_relation_split():
    res = parse_generation("(Mara Quill| employer| Harrow | Press)\n(a| b| c| d)", MARA, REL)
    # 'Harrow|Press' (the pipe kept in the name) is one slip from 'Harrow Press': fuzzy-matched; 'b' no relation
    assert triples(res) == [(0, 2, "P108")]
    assert res.dropped["unknown_relation"] == 1 and sum(res.dropped.values()) == 1


def test_hallucinated_unknown_repeated_self_none_malformed_empty():
    out = "\n".join(["(Mara Quill| founded| Harrow Press)",  # unknown relation
                     "(Jon Smith| employer| Harrow Press)",  # hallucinated head
                     "(Mara Quill| employer| Atlantis)",  # hallucinated tail
                     "(Mara Quill| employer| Harrow Press)",
                     "(Mara Quill| employer| Harrow Press)",  # repeated
                     "(Mara Quill| employer| Mara Quill)",  # self pair
                     "(Mara Quill| None| 1985)",  # the DocRE prompt's no-relation answer
                     "Mara Quill employer Harrow Press",  # malformed
                     "(||||||||||||", "(Mara Quill| | Harrow Press)",  # malformed: empty fields
                     "", "   "])
    res = parse_generation(out, MARA, REL)
    assert triples(res) == [(0, 2, "P108")]
    assert {k: v for k, v in res.dropped.items() if v} == {
        "unknown_relation": 1, "unmatched_head": 1, "unmatched_tail": 1, "duplicate": 1, "self_pair": 1,
        "none": 1, "malformed": 3}
    assert res.n_pieces == 10
    assert parse_generation("", MARA, REL).report()["n_predictions"] == 0


def test_fuzzy_threshold_and_mention_names():
    # one slip in 'Tallinford' (ratio 90) matches; a mention name ('Quill') maps to its entity
    assert triples(parse_generation("(Quill| place of birth| Talinford)", MARA, REL)) == [(0, 1, "P19")]
    res = parse_generation("(Quill| place of birth| Talinford)", MARA, REL, threshold=95)
    assert res.dropped["unmatched_tail"] == 1


def test_duplicate_names_resolved_by_the_suffix_rule():
    res = parse_generation("(Tallinford| country| Norland)\n(Tallinford| country| Norland #2)", NORLAND, REL)
    assert triples(res) == [(1, 0, "P17"), (1, 2, "P17")]


def test_only_asked_pairs_and_duplicates_across_prompts():
    outs = [(0, [(0, 1)], "(Mara Quill| place of birth| Tallinford)\n(Mara Quill| employer| Harrow Press)"),
            (0, [(0, 1)], "(Mara Quill| place of birth| Tallinford)"),
            (1, [(1, 0)], "(Tallinford| country| Norland)")]
    res = parse_outputs(outs, DOCS, REL)
    assert triples(res) == [(0, 1, "P19"), (1, 0, "P17")]
    assert res.dropped["pair_not_asked"] == 1 and res.dropped["duplicate"] == 1
    assert len(parse_outputs(outs, DOCS, REL, only_asked=False).predictions) == 3
