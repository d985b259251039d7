"""LMRC's relation-classification prompt: golden strings, splitting, the duplicate-name rule."""

from pathlib import Path

import pytest

from harness.recipes.docre.prompts import build_prompts, chunks, doc_prompts, entity_names
from harness.recipes.docre.reader import parse_document, read_docred

DOCS = read_docred(Path(__file__).parent / "fixtures" / "docs.json")
REL = {"P17": "country", "P19": "place of birth", "P36": "capital", "P108": "employer", "P463": "member of"}

GOLDEN_NORLAND_0 = (
    "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
    "response that appropriately completes the request.\n\n"
    "### Instruction:\n"
    "This is a relation classification task. we will provide entity pairs that require relation classification. "
    "Your task is to select relations for each entity pair from the given relation set based on the information in "
    "the text. There may be multiple relations between an entity pair.\n"
    "The format of the input entity pair is '(head entity| -| tail entity)'.\n"
    "Your output format is '(head entity| relation| tail entity)'.\n\n"
    "### Relation set:\n"
    "['country', 'place of birth', 'capital', 'employer', 'member of']\n\n"
    "### Text:\n"
    "Norland is a country . Its capital is Tallinford . Tallinford lies in Norland .\n\n"
    "### 2 Entity pairs:\n"
    "(Norland| -| Tallinford)\n"
    "(Tallinford| -| Norland)\n\n"
    "### Response:\n")


def test_prompt_golden_string_and_answer():
    ps = doc_prompts(DOCS[1], 1, [(0, 1), (1, 0), (0, 2)], REL, pairs_per_prompt=2, with_answer=True)
    assert [p.id for p in ps] == ["1:0", "1:1"]
    assert ps[0].text == GOLDEN_NORLAND_0
    assert ps[0].answer == "(Norland| capital| Tallinford)\n(Tallinford| country| Norland)"
    assert ps[1].text.endswith("### 1 Entity pairs:\n(Norland| -| Norland #2)\n\n### Response:\n")
    assert ps[1].answer == ""  # no gold relation for that pair


def test_answer_keeps_every_relation_of_a_pair_in_file_order():
    (p,) = doc_prompts(DOCS[0], 0, sorted(DOCS[0].related_pairs()), REL, pairs_per_prompt=0, with_answer=True)
    assert p.answer == ("(Mara Quill| place of birth| Tallinford)\n(Mara Quill| employer| Harrow Press)\n"
                        "(Mara Quill| member of| Harrow Press)")
    assert "### 2 Entity pairs:\n(Mara Quill| -| Tallinford)\n(Mara Quill| -| Harrow Press)\n\n" in p.text
    assert doc_prompts(DOCS[0], 0, [(0, 1)], REL, pairs_per_prompt=5, with_answer=False)[0].answer is None


def test_duplicate_first_mention_names_get_a_suffix():
    assert entity_names(DOCS[1]) == ["Norland", "Tallinford", "Norland #2"]
    m = {"sent_id": 0, "pos": [0, 1], "type": "LOC"}
    doc = parse_document({"title": "D", "sents": [["A", "A", "A", "A"]], "vertexSet": [
        [{"name": "A", **m}], [{"name": "A #2", **m}], [{"name": "A", **m}], [{"name": "A", **m}]]}, "d")
    names = entity_names(doc)
    assert names == ["A", "A #2", "A #3", "A #4"] and len(set(names)) == len(names)


def test_chunks_and_documents_without_pairs():
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunks([1, 2, 3], 0) == [[1, 2, 3]] and chunks([], 3) == []
    with pytest.raises(ValueError, match="pairs_per_prompt"):
        chunks([1], -1)
    ps = build_prompts(DOCS, [[(0, 1)], [], []], REL, pairs_per_prompt=4, with_answer=True)
    assert [p.title for p in ps] == ["Mara Quill"]
