"""load_splits / write_splits / read_splits: the data stage's entry point on every dataset."""

import json

import pytest

from harness.config import DataConfig
from harness.data.dataset import dev_split, load_splits, read_splits, to_dataset, write_splits
from harness.data.examples import fingerprint


@pytest.fixture(scope="module")
def semeval_cfg(data_dir):
    return DataConfig(dataset="semeval", data_dir=str(data_dir / "semeval2010_task8"))


@pytest.mark.data
def test_dataset_semeval_defaults_dev_split_and_info(semeval_cfg):
    s = load_splits(semeval_cfg)
    assert (len(s.train), len(s.dev), len(s.test)) == (7200, 800, 2717)
    assert s.label_space.name == "semeval10" and s.template.name == "semeval"
    assert {ex.split for ex in s.dev} == {"dev"} and s.info["dev_ids"] == [ex.id for ex in s.dev]
    ids = [int(ex.id) for ex in s.train + s.dev]
    assert sorted(ids) == list(range(1, 8001))
    assert [int(ex.id) for ex in s.dev] == sorted(int(ex.id) for ex in s.dev)  # file order kept
    assert s.info["fingerprints"]["test"] == fingerprint(s.test) and s.info["noise"] is None
    assert [f["bytes"] for f in s.info["data_files"]] == [1397759, 473888]
    assert load_splits(semeval_cfg).info["dev_ids"] == s.info["dev_ids"]
    other = load_splits(DataConfig(**{**semeval_cfg.__dict__, "split_seed": 14}))
    assert other.info["dev_ids"] != s.info["dev_ids"] and len(other.dev) == 800
    s19 = load_splits(DataConfig(**{**semeval_cfg.__dict__, "label_space": "semeval19", "max_train_examples": 5,
                                    "max_eval_examples": 3}))
    assert s19.train[0].label == "Component-Whole(e2,e1)" and (len(s19.train), len(s19.dev), len(s19.test)) == (5, 3, 3)
    full19 = load_splits(DataConfig(**{**semeval_cfg.__dict__, "label_space": "semeval19"}))
    assert s19.train == full19.train[:5] and s19.test == full19.test[:3]


@pytest.mark.data
def test_dataset_noise_applies_to_train_only(semeval_cfg):
    clean = load_splits(semeval_cfg)
    noisy = load_splits(DataConfig(**{**semeval_cfg.__dict__, "noise_rate": 0.2, "noise_seed": 5}))
    assert noisy.info["noise"]["n_noisy"] == round(0.2 * 7200) == sum(ex.is_noisy for ex in noisy.train)
    assert noisy.dev == clean.dev and noisy.test == clean.test
    assert [ex.label for ex in noisy.train] == [ex.label for ex in clean.train]
    assert all(ex.weak_label is None for ex in noisy.dev + noisy.test)
    assert noisy.info["fingerprints"]["train"] != clean.info["fingerprints"]["train"]


@pytest.mark.data
def test_dataset_conll04_modes_and_spaces(data_dir):
    base = dict(dataset="conll04", data_dir=str(data_dir / "conll04"))
    gold = load_splits(DataConfig(**base))
    assert (len(gold.train), len(gold.dev), len(gold.test)) == (1283, 343, 422)
    assert gold.label_space.name == "conll04" and gold.template.name == "conll04"
    allp = load_splits(DataConfig(**base, conll04_mode="all-pairs", max_eval_examples=10))
    assert allp.label_space.name == "conll04_all" and len(allp.train) == 11998 and len(allp.test) == 10
    with pytest.raises(ValueError, match="label 'No_Relation' is not in label space conll04"):
        load_splits(DataConfig(**base, conll04_mode="all-pairs", label_space="conll04"))
    with pytest.raises(ValueError, match="conll04_mode='pairs'"):
        load_splits(DataConfig(**base, conll04_mode="pairs"))


@pytest.mark.data
def test_dataset_weak_labels_file_against_gold(tmp_path, data_dir):
    base = dict(dataset="conll04", data_dir=str(data_dir / "conll04"))
    gold = load_splits(DataConfig(**base))
    rows = [f"{ex.id},{'Kill' if i < 100 and ex.label != 'Kill' else ex.label}" for i, ex in enumerate(gold.train)]
    p = tmp_path / "weak.csv"
    p.write_text("id,label\n" + "\n".join(rows) + "\n")
    s = load_splits(DataConfig(**base, weak_labels=str(p)))
    expect = sum(ex.label != "Kill" for ex in gold.train[:100])
    assert s.info["noise"]["n_noisy"] == expect and s.info["noise"]["realised_rate"] == expect / 1283
    assert s.info["data_files"][-1]["path"] == str(p)
    with pytest.raises(ValueError, match="not both"):
        load_splits(DataConfig(**base, weak_labels=str(p), noise_rate=0.1))


def test_dataset_synthetic_default_and_write_read_round_trip(tmp_path):
    s = load_splits(DataConfig(synthetic_size=40, noise_rate=0.25, noise_seed=1))
    assert (len(s.train), len(s.dev), len(s.test)) == (36, 4, 10) and s.label_space.name == "synthetic"
    assert s.info["data_files"] == [] and s.info["noise"]["n_noisy"] == 9
    manifest = write_splits(s, tmp_path / "data")
    man = json.loads(manifest.read_text())
    assert man["stage"] == "data" and man["template_hash"] == s.template.hash and man["counts"]["train"] == 36
    back = read_splits(tmp_path / "data")
    assert (back.train, back.dev, back.test) == (s.train, s.dev, s.test) and back.label_space == s.label_space
    train_file = tmp_path / "data" / "train.jsonl"
    train_file.write_text(train_file.read_text().replace('"Causes"', '"Part_Of"', 1))
    with pytest.raises(ValueError, match="fingerprint"):
        read_splits(tmp_path / "data")


def test_dataset_jsonl_folder_and_single_file(tmp_path):
    rows = [{"text": f"<e1>A{i}</e1> works for <e2>B</e2>.", "label": "Works_For" if i % 2 else "No_Relation"}
            for i in range(10)]
    (tmp_path / "d").mkdir()
    for name, part in (("train", rows[:8]), ("test", rows[8:])):
        (tmp_path / "d" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    s = load_splits(DataConfig(dataset="jsonl", data_dir=str(tmp_path / "d"), dev_fraction=0.25))
    assert (len(s.train), len(s.dev), len(s.test)) == (6, 2, 2)
    assert s.label_space.labels == ("No_Relation", "Works_For") and s.label_space.none_label == "No_Relation"
    single = tmp_path / "all.jsonl"
    single.write_text("".join(json.dumps({**r, "split": ["train", "dev", "test"][i % 3]}) + "\n"
                              for i, r in enumerate(rows)))
    s = load_splits(DataConfig(dataset="jsonl", data_dir=str(single), label_space="synthetic"))
    assert (len(s.train), len(s.dev), len(s.test)) == (4, 3, 3) and s.label_space.name == "synthetic"


def test_dataset_bad_input_writes_nothing(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "TRAIN_FILE.TXT").write_text('1\t"<e1>a</e1> b <e2>c</e2>"\nOther\nComment:\n\n')
    (tmp_path / "d" / "TEST_FILE_FULL.TXT").write_text('2\t"<e1>a</e1> b c"\nOther\nComment:\n\n')
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"TEST_FILE_FULL.TXT:1: bad entity markers"):
        write_splits(load_splits(DataConfig(dataset="semeval", data_dir=str(tmp_path / "d"))), out)
    assert not out.exists()
    with pytest.raises(FileNotFoundError, match=r"lacks .*conll04_train.json"):
        load_splits(DataConfig(dataset="conll04", data_dir=str(tmp_path / "d")))
    with pytest.raises(ValueError, match="needs data.data_dir"):
        load_splits(DataConfig(dataset="semeval"))
    with pytest.raises(ValueError, match="data.dataset='tacred'"):
        load_splits(DataConfig(dataset="tacred"))
    with pytest.raises(ValueError, match="does not fit SemEval"):
        load_splits(DataConfig(dataset="semeval", data_dir=str(tmp_path / "d"), label_space="conll04"))


def test_dataset_dev_split_and_arrow_view():
    s = load_splits(DataConfig(synthetic_size=20, noise_rate=0.5))
    train, dev = dev_split(s.train, 0.0, 0)
    assert train == s.train and dev == []
    with pytest.raises(ValueError, match="dev_fraction"):
        dev_split(s.train, 1.0, 0)
    ds = to_dataset(s.train)
    assert ds.num_rows == len(s.train) and ds["id"] == [ex.id for ex in s.train]
    assert ds["train_label"] == [ex.train_label for ex in s.train] and ds["head_span"][0] == list(s.train[0].head_span)
