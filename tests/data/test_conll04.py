"""CoNLL04 (SpERT JSON) reader: real counts, gold-pairs and all-pairs modes, markers, bad input."""

import collections
import json

import pytest

from harness.data.labels import CONLL04_RELATIONS, NO_RELATION
from harness.data.readers import read_conll04
from harness.data.readers.conll04 import detokenise

SPLITS = {"train": (922, 1283), "dev": (231, 343), "test": (288, 422)}


@pytest.fixture(scope="module")
def raw(data_dir):
    return {s: json.loads((data_dir / "conll04" / f"conll04_{s}.json").read_text()) for s in SPLITS}


@pytest.mark.data
@pytest.mark.parametrize("split", list(SPLITS))
def test_conll04_gold_pairs_counts(data_dir, raw, split):
    n_sent, n_rel = SPLITS[split]
    exs = read_conll04(data_dir / "conll04" / f"conll04_{split}.json", split, "gold-pairs")
    assert len(raw[split]) == n_sent
    assert len({ex.id.split(":")[2] for ex in exs}) == n_sent  # every sentence has a relation
    assert len(exs) == n_rel and len({ex.id for ex in exs}) == n_rel
    expected = collections.Counter(r["type"] for rec in raw[split] for r in rec["relations"])
    assert collections.Counter(ex.label for ex in exs) == expected
    assert {ex.split for ex in exs} == {split} and set(expected) == set(CONLL04_RELATIONS)


@pytest.mark.data
@pytest.mark.parametrize("split", list(SPLITS))
def test_conll04_all_pairs_every_ordered_pair_once(data_dir, raw, split):
    exs = read_conll04(data_dir / "conll04" / f"conll04_{split}.json", split, "all-pairs")
    got = collections.Counter(tuple(ex.id.split(":")[2:]) for ex in exs)
    expected = {(str(rec["orig_id"]), str(h), str(t)) for rec in raw[split]
                for h in range(len(rec["entities"])) for t in range(len(rec["entities"])) if h != t}
    assert set(got) == expected and set(got.values()) == {1}
    gold = {(str(rec["orig_id"]), str(r["head"]), str(r["tail"])): r["type"]
            for rec in raw[split] for r in rec["relations"]}
    for ex in exs:
        assert ex.label == gold.get(tuple(ex.id.split(":")[2:]), NO_RELATION)
    assert sum(ex.label != NO_RELATION for ex in exs) == SPLITS[split][1]


@pytest.mark.data
def test_conll04_markers_wrap_the_entity_tokens(data_dir, raw):
    exs = read_conll04(data_dir / "conll04" / "conll04_dev.json", "dev", "all-pairs")
    by_id = {str(rec["orig_id"]): rec for rec in raw["dev"]}
    for ex in exs:
        _, _, oid, h, t = ex.id.split(":")
        rec = by_id[oid]
        for role, k, span, surface in (("head", h, ex.head_span, ex.head), ("tail", t, ex.tail_span, ex.tail)):
            ent = rec["entities"][int(k)]
            toks = rec["tokens"][ent["start"]:ent["end"]]
            assert ex.text[span[0]:span[1]] == surface
            assert surface.replace(" ", "") == "".join(toks), (role, ex.id)
        assert ex.text.count("<e1>") == ex.text.count("<e2>") == 1
        plain = ex.text.replace("<e1>", "").replace("</e1>", "").replace("<e2>", "").replace("</e2>", "")
        assert plain == detokenise(rec["tokens"])[0]
    first = read_conll04(data_dir / "conll04" / "conll04_dev.json", "dev")[0]  # the example in SpERT's README
    assert first.text == "<e1>John Wilkes Booth</e1>, who assassinated <e2>President Lincoln</e2>, was an actor."
    assert (first.id, first.label, first.head_span, first.tail_span) == ("conll04:dev:5178:0:1", "Kill", (4, 21),
                                                                         (49, 66))


def test_conll04_detokenise_offsets():
    text, offs = detokenise(["He", "said", ",", "(", "hi", ")", "U.S.", "'s", "."])
    assert text == "He said, (hi) U.S.'s."
    assert [text[s:e] for s, e in offs] == ["He", "said", ",", "(", "hi", ")", "U.S.", "'s", "."]


REC = {"tokens": ["A", "B", "C"], "entities": [{"type": "Peop", "start": 0, "end": 1},
                                                {"type": "Loc", "start": 2, "end": 3}],
       "relations": [{"type": "Live_In", "head": 0, "tail": 1}], "orig_id": 7}


def _bad(**change):
    rec = json.loads(json.dumps(REC))
    for k, v in change.items():
        if v is None:
            rec.pop(k)
        else:
            rec[k] = v
    return rec


@pytest.mark.parametrize("data, what", [
    (None, "empty file"),
    ("[", "invalid JSON"),
    ({"tokens": []}, "non-empty JSON list"),
    ([REC, _bad(tokens=None)], "record 1: missing or non-list field 'tokens'"),
    ([_bad(entities=[{"type": "Peop", "start": 0}])], "record 0: entity 0: expected fields type, start, end"),
    ([_bad(entities=[{"type": "Peop", "start": 2, "end": 9}])], "record 0: entity 0: expected 0 <= start < end"),
    ([_bad(relations=[{"type": "Live_In", "head": 0}])], "record 0: relation 0: expected fields type, head, tail"),
    ([_bad(relations=[{"type": "Live_In", "head": 0, "tail": 5}])], "distinct entity indices"),
    ([_bad(relations=[{"type": "Lives", "head": 0, "tail": 1}])], "unknown type 'Lives'"),
    ([REC, REC], "record 1: duplicate orig_id 7"),
])
def test_conll04_bad_input(tmp_path, data, what):
    p = tmp_path / "bad.json"
    p.write_text("" if data is None else data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(ValueError) as e:
        read_conll04(p, "train")
    assert str(e.value).startswith(f"{p}:") and what in str(e.value)


def test_conll04_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="unknown CoNLL04 mode"):
        read_conll04(tmp_path / "x.json", "train", "some-pairs")
