"""Candidate pairs: gold, all, and the RCP candidates file (the contract), with its checks."""

import json
from pathlib import Path

import pytest

from harness.recipes.docre.pairs import pairs_for, read_candidates
from harness.recipes.docre.reader import read_docred

DOCS = read_docred(Path(__file__).parent / "fixtures" / "docs.json")


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def rows():
    return [{"title": "Mara Quill", "pairs": [[0, 2], [0, 1]], "scores": [0.9, 0.6]},
            {"title": "Norland", "pairs": [], "scores": []},
            {"title": "Empty", "pairs": [], "scores": []}]


def test_gold_and_all():
    assert pairs_for("gold", DOCS) == [[(0, 1), (0, 2)], [(0, 1), (1, 0)], []]
    assert len(pairs_for("all", DOCS)[0]) == 4 * 3 and pairs_for("all", DOCS)[2] == []


def test_candidates_file_keeps_its_order(tmp_path):
    assert read_candidates(write(tmp_path / "c.jsonl", rows()), DOCS) == [[(0, 2), (0, 1)], [], []]
    assert pairs_for(str(tmp_path / "c.jsonl"), DOCS[:1], prefix=True) == [[(0, 2), (0, 1)]]


@pytest.mark.parametrize("edit, match", [
    (lambda r: r.pop(), "2 lines for 3 documents"),
    (lambda r: r.append(r[0]), "more lines"),
    (lambda r: r[1].update(title="Mara Quill"), "title 'Mara Quill' but the document"),
    (lambda r: r[0].update(scores=[0.9]), "same length"),
    (lambda r: r[0].update(pairs=[[0, 0], [0, 1]]), "two distinct entities"),
    (lambda r: r[0].update(pairs=[[0, 9], [0, 1]]), "two distinct entities"),
    (lambda r: r[0].pop("scores"), "expected"),
])
def test_candidates_file_errors(tmp_path, edit, match):
    r = rows()
    edit(r)
    with pytest.raises(ValueError, match=match):
        read_candidates(write(tmp_path / "c.jsonl", r), DOCS)
