"""The TACRED JSON reader and ``load_splits(dataset="tacred")`` on the crafted fixture (no real TACRED data)."""

import json
from pathlib import Path

import pytest

from harness.config import DataConfig
from harness.data.dataset import load_splits, read_splits, write_splits
from harness.data.markers import parse_marked
from harness.data.readers import read_tacred

FIXTURE = Path(__file__).parent / "fixtures" / "tacred"
FIXTURE_LABELS = ("no_relation", "org:founded_by", "per:city_of_birth", "per:employee_of", "per:title")


def _records(split: str = "train") -> list[dict]:
    return json.loads((FIXTURE / f"{split}.json").read_text())


def test_tacred_reader_markers_brackets_and_inclusive_spans():
    exs = read_tacred(FIXTURE / "train.json", "train")
    assert [ex.id for ex in exs] == [f"crafted-train-0{i}" for i in range(1, 7)]
    assert exs[0].text == "<e1>Mara Quill</e1> was born in <e2>Tallinford</e2> ( Norland ) in 1961 ."
    assert (exs[0].head, exs[0].tail, exs[0].label, exs[0].split) == ("Mara Quill", "Tallinford",
                                                                      "per:city_of_birth", "train")
    # object before subject: <e2> comes first, spans still point at the right words
    assert exs[5].text == "Founded by <e2>Ilse Marr</e2> , <e1>Harrow Press</e1> printed its first book in 1950 ."
    for ex in exs:
        assert parse_marked(ex.text) == (ex.head, ex.tail, ex.head_span, ex.tail_span)
    test = read_tacred(FIXTURE / "test.json", "test")
    assert test[2].text.endswith("new novel [ 2019 ] .") and test[2].label == "no_relation"


def test_tacred_reader_default_ids_when_absent(tmp_path):
    recs = [{k: v for k, v in r.items() if k != "id"} for r in _records("dev")]
    (tmp_path / "dev.json").write_text(json.dumps(recs))
    assert [ex.id for ex in read_tacred(tmp_path / "dev.json", "dev")] == ["dev:r0", "dev:r1"]


@pytest.mark.parametrize("change, what", [
    ({"relation": None, "drop": "relation"}, r"record 1: missing field\(s\) \['relation'\]"),
    ({"obj_end": 99}, r"record 1: obj_start/obj_end = 7/99 out of range"),
    ({"subj_start": 2, "subj_end": 1}, r"record 1: subj_start/subj_end = 2/1 out of range"),
    ({"subj_start": True}, r"record 1: subj_start/subj_end = True/3 out of range"),
    ({"obj_start": 3, "obj_end": 4}, r"record 1: subject tokens \[2, 3\] and object tokens \[3, 4\] overlap"),
    ({"token": "The toolmaker"}, r"record 1: 'token' must be a non-empty list"),
    ({"token": []}, r"record 1: 'token' must be a non-empty list"),
    ({"relation": ""}, r"record 1: 'relation' must be a non-empty string"),
    ({"id": "crafted-train-01"}, r"record 1: duplicate id 'crafted-train-01' \(first in record 0\)"),
])
def test_tacred_reader_bad_records_name_file_and_record(tmp_path, change, what):
    recs = _records()
    change = dict(change)
    drop = change.pop("drop", None)
    recs[1].update(change)
    if drop:
        del recs[1][drop]
    (tmp_path / "train.json").write_text(json.dumps(recs))
    with pytest.raises(ValueError, match=r"train\.json: " + what):
        read_tacred(tmp_path / "train.json", "train")


@pytest.mark.parametrize("text, what", [
    ("", "empty file"),
    ("[{]", "line 1 column 3: invalid JSON"),
    ('{"token": []}', "expected a non-empty JSON list"),
    ("[]", "expected a non-empty JSON list"),
    ('[["a"]]', "record 0: expected an object"),
    ('[{"id": "x", "relation": "per:title", "token": ["<e1>", "b"], "subj_start": 0, "subj_end": 0, '
     '"obj_start": 1, "obj_end": 1}]', "record 0: the text already contains entity marker tags"),
])
def test_tacred_reader_bad_files(tmp_path, text, what):
    (tmp_path / "x.json").write_text(text)
    with pytest.raises(ValueError, match=what):
        read_tacred(tmp_path / "x.json", "train")
    with pytest.raises(FileNotFoundError, match="TACRED file not found"):
        read_tacred(tmp_path / "absent.json", "train")


def test_tacred_load_splits_on_fixture_dir(tmp_path):
    s = load_splits(DataConfig(dataset="tacred", data_dir=str(FIXTURE)))
    assert (len(s.train), len(s.dev), len(s.test)) == (6, 2, 3)
    assert s.label_space.name == "tacred" and s.label_space.labels == FIXTURE_LABELS
    assert s.label_space.none_label == "no_relation" and s.template.name == "tacred"
    assert s.info["dev_source"] == "official dev.json" and [f["path"] for f in s.info["data_files"]] == [
        str(FIXTURE / f"{n}.json") for n in ("train", "dev", "test")]
    assert {ex.split for ex in s.dev} == {"dev"} and s.info["dev_ids"] == ["crafted-dev-01", "crafted-dev-02"]
    assert s.template.render(s.train[0]).startswith("Classify the relation of the subject Mara Quill to the object "
                                                    "Tallinford in this sentence: <e1>Mara Quill</e1>")
    noisy = load_splits(DataConfig(dataset="tacred", data_dir=str(FIXTURE), noise_rate=0.5, max_eval_examples=1))
    assert noisy.info["noise"]["n_noisy"] == 3 and (len(noisy.dev), len(noisy.test)) == (1, 1)
    write_splits(s, tmp_path / "data")
    back = read_splits(tmp_path / "data")
    assert (back.train, back.test, back.label_space) == (s.train, s.test, s.label_space)


def test_tacred_load_splits_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data.dataset=tacred: .* lacks .*train\.json"):
        load_splits(DataConfig(dataset="tacred", data_dir=str(tmp_path)))
    with pytest.raises(ValueError, match=r"train\.json: example 'crafted-train-01': label 'per:city_of_birth' is "
                                         r"not in label space conll04"):
        load_splits(DataConfig(dataset="tacred", data_dir=str(FIXTURE), label_space="conll04"))
    for name in ("train", "dev", "test"):
        recs = _records(name)
        if name == "test":
            recs[0]["id"] = "crafted-dev-01"
        (tmp_path / f"{name}.json").write_text(json.dumps(recs))
    with pytest.raises(ValueError, match=r"ids repeat across splits, e.g. \['crafted-dev-01'\]"):
        load_splits(DataConfig(dataset="tacred", data_dir=str(tmp_path)))
