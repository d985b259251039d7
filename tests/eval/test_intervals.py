"""The seed intervals (harness.eval.intervals): a hand-computed case, scipy's own t interval, sklearn's macro-F1, and
the bootstrap replayed by a plain loop."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from harness.eval.intervals import (
    codes,
    format_interval,
    macro_f1_codes,
    mean_sd,
    paired_bootstrap,
    t_interval,
)


def test_t_interval_hand_computed_case():
    # d = 1, 2, 3: mean 2, sd 1, se 1/sqrt(3); t_{2, 0.975} = 4.302652729911275 (tables)
    iv = t_interval([1.0, 2.0, 3.0])
    assert iv["mean"] == 2.0 and iv["sd"] == pytest.approx(1.0) and iv["n"] == 3
    assert iv["t"] == pytest.approx(4.302652729911275, abs=1e-9)
    half = 4.302652729911275 / math.sqrt(3)
    assert (iv["lo"], iv["hi"]) == (pytest.approx(2 - half, abs=1e-9), pytest.approx(2 + half, abs=1e-9))
    # the four seeds: +1.56 -0.27 +8.75 +3.19 -> mean 3.3075, sd 3.90..., the interval includes 0
    four = t_interval([1.56, -0.27, 8.75, 3.19])
    assert four["mean"] == pytest.approx(3.3075) and four["t"] == pytest.approx(3.182446305284263)
    assert four["lo"] < 0 < four["hi"]


@pytest.mark.parametrize("d", [[0.5, -1.0], [3.0, 3.5, 2.0, 9.0, -4.0], list(np.random.default_rng(1).normal(2, 3, 17))])
def test_t_interval_equals_scipy_one_sample_t(d):
    ref = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    iv = t_interval(d)
    assert iv["lo"] == pytest.approx(ref.low, rel=1e-12) and iv["hi"] == pytest.approx(ref.high, rel=1e-12)
    iv90 = t_interval(d, level=0.9)
    ref90 = stats.ttest_1samp(d, 0.0).confidence_interval(0.9)
    assert iv90["lo"] == pytest.approx(ref90.low, rel=1e-12)


def test_t_interval_edge_cases():
    one = t_interval([1.5])
    assert one["mean"] == 1.5 and one["lo"] is None and one["hi"] is None
    assert "one seed" in format_interval(one)
    same = t_interval([2.0, 2.0, 2.0])
    assert same["lo"] == same["hi"] == 2.0
    with pytest.raises(ValueError):
        t_interval([])
    assert format_interval(t_interval([1.0, 2.0, 3.0])).startswith("+2.00 [-0.48, +4.48] pts (95%, t over seeds, n=3")
    assert mean_sd([1.0, 3.0]) == {"n": 2, "mean": 2.0, "sd": pytest.approx(math.sqrt(2))}
    assert mean_sd([4.0])["sd"] is None


def test_macro_f1_codes_equals_sklearn_including_invalid_and_absent_labels():
    rng = np.random.default_rng(0)
    for n_labels, n in [(6, 50), (3, 7), (19, 200)]:
        gold = rng.integers(n_labels, size=(4, n))
        pred = rng.integers(-1, n_labels, size=(4, n))  # -1 = invalid answer
        gold[0] = 0  # labels absent from gold (and maybe from the prediction): F1 0, still averaged
        pred[1] = gold[1]
        got = macro_f1_codes(gold, pred, n_labels)
        for b in range(4):
            ref = f1_score(gold[b], pred[b], labels=list(range(n_labels)), average="macro", zero_division=0)
            assert got[b] == pytest.approx(ref, abs=1e-12)
    assert macro_f1_codes(np.array([0, 1]), np.array([0, 1]), 2)[0] == 1.0


def _loop_bootstrap(seeds, n_labels, n_boot, seed):
    """The same draws as paired_bootstrap, one replicate at a time, macro-F1 by sklearn."""
    rng = np.random.default_rng(seed)
    s = len(seeds)
    picks = rng.integers(s, size=(n_boot, s))
    draws = [[rng.integers(len(g), size=(n_boot, len(g))) for g, _, _ in seeds] for _ in range(s)]
    out = []
    for b in range(n_boot):
        vals = []
        for j in range(s):
            k = picks[b, j]
            g, a, p = seeds[k]
            i = draws[j][k][b]
            f = [f1_score(g[i], x[i], labels=list(range(n_labels)), average="macro", zero_division=0) for x in (a, p)]
            vals.append(f[0] - f[1])
        out.append(100 * np.mean(vals))
    return np.quantile(out, 0.025), np.quantile(out, 0.975)


def test_paired_bootstrap_replays_a_plain_loop():
    rng = np.random.default_rng(3)
    seeds = []
    for n in (30, 30, 25):
        g = rng.integers(4, size=n)
        a = np.where(rng.random(n) < 0.8, g, rng.integers(4, size=n))
        b = np.where(rng.random(n) < 0.6, g, rng.integers(-1, 4, size=n))
        seeds.append((g, a, b))
    got = paired_bootstrap(seeds, 4, n_boot=200, seed=5)
    lo, hi = _loop_bootstrap(seeds, 4, 200, 5)
    assert got["lo"] == pytest.approx(lo, abs=1e-9) and got["hi"] == pytest.approx(hi, abs=1e-9)
    assert got["lo"] < got["mean"] < got["hi"] and got["mean"] > 0
    assert paired_bootstrap(seeds, 4, n_boot=200, seed=5) == got  # seeded


def test_paired_bootstrap_identical_methods_give_a_zero_point_interval():
    g = np.array([0, 1, 2, 0, 1, 2, 2])
    p = np.array([0, 2, 2, 1, 1, 2, 0])
    iv = paired_bootstrap([(g, p, p), (g, g, g)], 3, n_boot=50)
    assert iv["mean"] == 0.0 and iv["lo"] == 0.0 and iv["hi"] == 0.0
    with pytest.raises(ValueError):
        paired_bootstrap([], 3)


def test_codes_maps_labels_and_invalid():
    g, p = codes(["x", "y"], ["y", "x"], ["y", None])
    assert g.tolist() == [1, 0] and p.tolist() == [1, -1]
