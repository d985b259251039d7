"""Generic JSONL reader: markers or spans, optional id/split, line-numbered errors."""

import json

import pytest

from harness.data.labels import SPACES
from harness.data.readers import read_jsonl


def _write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


def test_jsonl_markers_and_spans_give_the_same_example(tmp_path):
    p = _write(tmp_path, [
        {"text": "<e1>Ann</e1> lives in <e2>Paris</e2>.", "label": "Lives_In"},
        "",
        {"text": "Ann lives in Paris.", "head_span": [0, 3], "tail_span": [13, 18], "label": "Lives_In",
         "id": "x7", "split": "test", "head": "Ann", "tail": "Paris"},
    ])
    a, b = read_jsonl(p, "train")
    assert (a.id, a.split, b.id, b.split) == ("data:1", "train", "x7", "test")
    assert (a.text, a.head, a.tail, a.head_span, a.tail_span) == (b.text, b.head, b.tail, b.head_span, b.tail_span)
    assert a.text == "<e1>Ann</e1> lives in <e2>Paris</e2>." and a.head_span == (4, 7)


@pytest.mark.parametrize("rows, line, what", [
    ([], None, "empty file"),
    (["{not json"], 1, "invalid JSON"),
    ([{"text": "<e1>a</e1> <e2>b</e2>"}], 1, "missing or non-string field 'label'"),
    ([{"label": "Causes"}], 1, "missing or non-string field 'text'"),
    ([{"text": "<e1>a</e1> <e2>b</e2>", "label": "Causes"}, {"text": "a b", "label": "Causes"}], 2,
     "exactly one each"),
    ([{"text": "a b", "label": "Causes", "head_span": [0, 1]}], 1, "both head_span and tail_span"),
    ([{"text": "a b", "label": "Causes", "head_span": [0, 1], "tail_span": [2]}], 1, "tail_span must be"),
    ([{"text": "a b", "label": "Causes", "head_span": [0, 1], "tail_span": [0, 3]}], 1, "overlap"),
    ([{"text": "<e1>a</e1> <e2>b</e2>", "label": "Causes", "head": "x"}], 1, "field 'head' is 'x'"),
    ([{"text": "<e1>a</e1> <e2>b</e2>", "label": "Causes", "split": "val"}], 1, "split must be one of"),
    ([{"text": "<e1>a</e1> <e2>b</e2>", "label": "Causes", "id": "q"}] * 2, 2, "duplicate id 'q'"),
    ([{"text": "<e1>a</e1> <e2>b</e2>", "label": "Cause"}], 1, "unknown label 'Cause'"),
])
def test_jsonl_bad_input_names_file_and_line(tmp_path, rows, line, what):
    p = _write(tmp_path, rows)
    with pytest.raises(ValueError) as e:
        read_jsonl(p, "train", SPACES["synthetic"])
    where = f"{p}:" if line is None else f"{p}:{line}:"
    assert str(e.value).startswith(where) and what in str(e.value)
