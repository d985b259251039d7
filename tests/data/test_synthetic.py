"""The embedded synthetic set: seeded, well-formed, and learnable from wording alone."""

import collections

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from harness.data.labels import SPACES
from harness.data.markers import parse_marked
from harness.data.synthetic import make_synthetic


def test_synthetic_sizes_seed_and_form():
    train, test = make_synthetic(600, seed=0)
    assert len(train) == 600 and len(test) == 150
    assert make_synthetic(600, seed=0) == (train, test)
    assert make_synthetic(600, seed=1)[0] != train
    assert len({ex.id for ex in train + test}) == 750
    space = SPACES["synthetic"]
    counts = collections.Counter(ex.label for ex in train)
    assert set(counts) == set(space.labels) and min(counts.values()) > 600 / len(space) / 2
    for ex in train + test:
        assert parse_marked(ex.text) == (ex.head, ex.tail, ex.head_span, ex.tail_span)
    assert make_synthetic(3, seed=0)[1] == []


def test_synthetic_test_size_extends_the_same_test_stream():
    train, test = make_synthetic(600, seed=0)
    train_big, test_big = make_synthetic(600, seed=0, n_test=800)
    assert train_big == train and len(test_big) == 800
    assert test_big[:150] == test  # the default test set is the first quarter-size prefix
    assert len({ex.id for ex in test_big}) == 800


def test_synthetic_label_is_learnable_from_wording():
    """Bag of words with entity names removed: a linear model is near perfect on test, majority is ~1/6."""
    train, test = make_synthetic(600, seed=0)

    def words(exs):
        return [ex.text.replace(ex.head, " ").replace(ex.tail, " ") for ex in exs]

    vec = CountVectorizer(token_pattern=r"[a-z]+")
    x_train, x_test = vec.fit_transform(words(train)), vec.transform(words(test))
    clf = LogisticRegression(max_iter=2000).fit(x_train, [ex.label for ex in train])
    acc = np.mean(clf.predict(x_test) == np.array([ex.label for ex in test]))
    majority = max(collections.Counter(ex.label for ex in test).values()) / len(test)
    assert acc >= 0.95 and majority < 0.3
