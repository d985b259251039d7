"""Uniform label noise (exact count, never gold, seeded) and weak labels from CSV / JSONL files."""

import collections
import json

import pytest

from harness.data.labels import SPACES
from harness.data.noise import apply_weak_labels, read_weak_labels, uniform_noise
from harness.data.readers import read_semeval
from harness.data.synthetic import make_synthetic

S19 = SPACES["semeval19"]


@pytest.fixture(scope="module")
def semeval_train(data_dir):
    return read_semeval(data_dir / "semeval2010_task8" / "TRAIN_FILE.TXT", "train")


@pytest.mark.data
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.5, 0.9, 0.99])
def test_noise_realised_rate_exact_and_never_gold(semeval_train, rate):
    out, rep = uniform_noise(semeval_train, S19, rate, seed=3)
    n_noisy = sum(ex.is_noisy for ex in out)
    assert n_noisy == round(rate * 8000) == rep["n_noisy"] == rep["n_corrupted"]
    assert abs(rep["realised_rate"] - rate) <= 1 / 8000
    for ex, src in zip(out, semeval_train):
        assert (ex.id, ex.label, ex.text) == (src.id, src.label, src.text)
        assert ex.is_noisy == (ex.weak_label != ex.label)
        assert ex.weak_label in S19 and ex.train_label == ex.weak_label


@pytest.mark.data
def test_noise_seeded_reproducible(semeval_train):
    a, _ = uniform_noise(semeval_train, S19, 0.3, seed=11)
    b, _ = uniform_noise(semeval_train, S19, 0.3, seed=11)
    c, _ = uniform_noise(semeval_train, S19, 0.3, seed=12)
    assert [ex.weak_label for ex in a] == [ex.weak_label for ex in b]
    assert [ex.is_noisy for ex in a] != [ex.is_noisy for ex in c]


@pytest.mark.data
def test_noise_draws_uniformly_from_the_other_labels(semeval_train):
    """Gold 'Other' corrupted many times: each of the 18 other labels appears ~n/18 times (chi-square bound)."""
    others = [ex for ex in semeval_train if ex.label == "Other"] * 20  # 28200 rows, ids repeat: fine here
    out, _ = uniform_noise(others, S19, 0.9, seed=0)
    counts = collections.Counter(ex.weak_label for ex in out if ex.is_noisy)
    assert "Other" not in counts and len(counts) == 18
    n = sum(counts.values())
    chi2 = sum((c - n / 18) ** 2 / (n / 18) for c in counts.values())
    assert chi2 < 40.8  # 99.9th percentile of chi-square with 17 dof


@pytest.mark.data
def test_noise_rejects_bad_rate_and_unknown_gold(semeval_train):
    for rate in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"in \[0, 1\)"):
            uniform_noise(semeval_train[:10], S19, rate, 0)
    with pytest.raises(ValueError, match="not in label space semeval10"):
        uniform_noise(semeval_train[:10], SPACES["semeval10"], 0.2, 0)


def _train():
    train, _ = make_synthetic(20, seed=1)
    return train


def test_weak_labels_csv_and_jsonl_give_the_same_result(tmp_path):
    train = _train()
    space = SPACES["synthetic"]
    weak = {ex.id: (ex.label if i % 4 else space.labels[(space.index(ex.label) + 1) % len(space)])
            for i, ex in enumerate(train)}
    csv_p, jsonl_p = tmp_path / "w.csv", tmp_path / "w.jsonl"
    csv_p.write_text("id,label\n" + "".join(f"{i},{lab}\n" for i, lab in weak.items()))
    jsonl_p.write_text("".join(json.dumps({"id": i, "weak_label": lab}) + "\n" for i, lab in weak.items()))
    a, rep_a = apply_weak_labels(train, csv_p, space)
    b, rep_b = apply_weak_labels(train, jsonl_p, space)
    assert a == b and [ex.weak_label for ex in a] == list(weak.values())
    assert rep_a["n_noisy"] == 5 and rep_a["realised_rate"] == 0.25 and rep_a["n"] == 20
    assert [ex.is_noisy for ex in a] == [i % 4 == 0 for i in range(20)]


@pytest.mark.parametrize("name, content, what", [
    ("w.csv", "", "empty file"),
    ("w.csv", "id,label\n", "empty file"),
    ("w.csv", "ident,label\nx,Causes\n", ":1: expected a header with 'id'"),
    ("w.csv", "id,label\nsynthetic:train:0,Causes\nsynthetic:train:1,Nope\n", ":3: unknown label 'Nope'"),
    ("w.csv", "id,label\nsynthetic:train:0,Causes\nsynthetic:train:0,Causes\n", ":3: duplicate id"),
    ("w.csv", "id,label\nsynthetic:train:0,\n", ":2: expected an id and a label"),
    ("w.jsonl", '{"id": "a"}\n', ":1: expected an id and a label"),
    ("w.jsonl", '\n{"id": "a", "label": "Causes"\n', ":2: invalid JSON"),
    ("w.txt", "id,label\n", "must end in .csv or .jsonl"),
])
def test_weak_labels_bad_file(tmp_path, name, content, what):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(ValueError) as e:
        read_weak_labels(p, SPACES["synthetic"])
    assert str(e.value).startswith(str(p)) and what in str(e.value)


def test_weak_labels_unknown_and_missing_ids(tmp_path):
    train = _train()
    space = SPACES["synthetic"]
    rows = "".join(f"{ex.id},{ex.label}\n" for ex in train)
    p = tmp_path / "w.csv"
    p.write_text("id,label\n" + rows + "stranger,Causes\n")
    with pytest.raises(ValueError, match=r"1 id\(s\) match no example.*stranger"):
        apply_weak_labels(train, p, space)
    out, rep = apply_weak_labels(train, p, space, other_known_ids={"stranger"})  # e.g. a dev example
    assert rep["n_ignored"] == 1 and rep["n_noisy"] == 0
    p.write_text("id,label\n" + "".join(f"{ex.id},{ex.label}\n" for ex in train[1:]))
    with pytest.raises(ValueError, match=r"1 training example\(s\) have no weak label.*synthetic:train:0"):
        apply_weak_labels(train, p, space)
