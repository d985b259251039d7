"""The DocRED reader: a crafted fixture (no licensed text), its errors, and LMRC's Table 1 counts on Re-DocRED."""

import json
from pathlib import Path

import pytest

from harness.recipes.docre.reader import read_docred, read_rel_info

FIXTURE = Path(__file__).parent / "fixtures" / "docs.json"


def test_fixture_documents_pairs_and_offsets():
    docs = read_docred(FIXTURE)
    assert [d.title for d in docs] == ["Mara Quill", "Norland", "Empty"]
    d = docs[0]
    assert d.entities[0].name == "Mara Quill" and d.entities[0].mentions[1].pos == (0, 1)
    assert d.entities[2].type == "ORG" and d.sent_offsets() == [0, 7, 14]
    assert d.tokens()[7 + 2:7 + 4] == ["Harrow", "Press"]
    assert len(d.candidate_pairs()) == 4 * 3 and (0, 0) not in d.candidate_pairs()
    assert d.related_pairs() == {(0, 1), (0, 2)} and len(d.facts) == 3
    assert docs[1].entities[2].name == docs[1].entities[0].name  # duplicate first-mention names exist
    assert docs[2].candidate_pairs() == [] and docs[2].facts == ()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[0]["vertexSet"][1][0].update(pos=[5, 9]), "document 0 ('Mara Quill'), entity 1: mention"),
    (lambda d: d[0]["labels"].append({"h": 0, "t": 9, "r": "P17"}), "names an entity outside vertexSet"),
    (lambda d: d[1].update(title="Mara Quill"), "title repeats document 0"),
    (lambda d: d[2]["vertexSet"].append([]), "entity 1 of vertexSet has no mention"),
    (lambda d: d[0]["labels"][0].pop("r"), "a label lacks h / t / r"),
])
def test_reader_errors_name_document_and_field(tmp_path, mutate, message):
    data = json.loads(FIXTURE.read_text())
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        read_docred(path)
    assert str(path) in str(e.value)


def test_unknown_relation_refused(tmp_path):
    with pytest.raises(ValueError, match=r"relation\(s\) \['P108', 'P463'\] are not in rel_info.json"):
        read_docred(FIXTURE, relations={"P19": "place of birth", "P17": "country", "P36": "capital"})


@pytest.mark.data
@pytest.mark.parametrize("split, pairs, related, triples, dup_docs", [
    ("dev", 193_232, 13_362, 17_284, 14), ("test", 198_670, 13_627, 17_448, 25)])
def test_redocred_table1_counts(data_dir, split, pairs, related, triples, dup_docs):
    """LMRC's Table 1 (candidate pairs / related pairs / triples) and the duplicate first-mention-name documents."""
    rel = read_rel_info(data_dir / "docred" / "rel_info.json")
    docs = read_docred(data_dir / "redocred" / f"{split}_revised.json", relations=rel)
    assert len(docs) == 500 and len(rel) == 96
    assert sum(len(d.candidate_pairs()) for d in docs) == pairs
    assert sum(len(d.related_pairs()) for d in docs) == related
    assert sum(len(d.facts) for d in docs) == triples
    assert sum(len({e.name for e in d.entities}) < len(d.entities) for d in docs) == dup_docs
