"""weights.clip_mode once | iterate | exact: each against a float64 reference written here, the figures of the
issue on N(0, 3^2) log-weights, edge cases, non-convergence reporting, and the manifest / stats fields."""

import json
import math

import numpy as np
import pytest

from harness.config import WeightsConfig
from harness.data.examples import Example, fingerprint
from harness.recipes.atlantis.scoring import store, weights
from harness.recipes.atlantis.scoring.weights import CLIP_MODES, clip_iterate, clip_weights, write_weights

ROLES = ("large", "small", "reference")


def heavy(n=1000, seed=0):
    """N(0, 3^2) log-weights: many weights past both seed bounds (the issue's example)."""
    return np.random.default_rng(seed).normal(0.0, 3.0, n)


def mean_one(logw):
    """Mean-1 weights by a plain float64 loop."""
    m = max(logw)
    raw = [math.exp(v - m) for v in logw]
    total = sum(raw)
    return [v * len(raw) / total for v in raw]


def ref_once(logw, lo, hi):
    lo, hi = (lo if lo > 0 else 0.0), (hi if hi > 0 else math.inf)
    c = [min(max(v, lo), hi) for v in mean_one(logw)]
    mean = sum(c) / len(c)
    return np.array([v / mean for v in c])


def ref_iterate(logw, lo, hi, rounds=3000):
    """A fixed, generous number of clip-and-renormalise rounds (no early stop)."""
    lo, hi = (lo if lo > 0 else 0.0), (hi if hi > 0 else math.inf)
    w = np.array(mean_one(logw))
    for _ in range(rounds):
        c = np.clip(w, lo, hi)
        w = c / c.mean()
    return w


def ref_exact(logw, lo, hi):
    """Solve mean(clip(c * v, lo, hi)) = 1 exactly: the mean is piecewise linear and non-decreasing in c with
    breakpoints lo / v_i and hi / v_i; find the bracketing breakpoints, then solve the linear piece."""
    lo, hi = (lo if lo > 0 else 0.0), (hi if hi > 0 else np.inf)
    v = np.array(mean_one(logw))

    def mean_at(c):
        return np.clip(np.multiply.outer(c, v), lo, hi).mean(axis=-1)

    cuts = np.concatenate([lo / v, hi / v])
    cuts = np.unique(np.concatenate([[0.0, 1e30], cuts[np.isfinite(cuts) & (cuts > 0)]]))  # mean(0) = lo <= 1
    k = np.searchsorted(mean_at(cuts), 1.0)  # first breakpoint with mean >= 1
    a, b = cuts[k - 1], cuts[k]
    mid = 0.5 * (a + b) * v
    inner = (mid > lo) & (mid < hi)  # on (a, b): mean(c) = (lo |L| + hi |U| + c sum_inner v) / N
    c = (v.size - np.clip(mid[~inner], lo, hi).sum()) / v[inner].sum()
    return np.clip(c * v, lo, hi)


REFS = {"once": ref_once, "iterate": ref_iterate, "exact": ref_exact}


@pytest.mark.parametrize("mode", CLIP_MODES)
@pytest.mark.parametrize("lo,hi", [(0.1, 5.0), (0.5, 2.0), (0.0, 5.0), (0.1, 0.0), (0.9, 1.1)])
def test_clip_modes_match_float64_references(mode, lo, hi):
    logw = heavy()
    w, clipped, report = clip_weights(logw, lo, hi, mode)
    ref = REFS[mode](list(logw), lo, hi)
    np.testing.assert_allclose(w, ref, rtol=1e-9, atol=1e-12)
    assert abs(w.mean() - 1.0) < 1e-12 and report["clip_mode"] == mode
    assert clipped.dtype == bool and clipped.any()


def test_clip_modes_reproduce_the_issue_figures():
    """N(0, 3^2), 1000 examples, seed 0, [0.1, 5]: exact puts ~48% at 0.1, iterate's minimum is ~0.38, once spans
    ~0.23 .. 11.6 (the three differ: the old docstring's "bisection = repeated clipping" claim was false)."""
    logw = heavy()
    exact, c_exact, _ = clip_weights(logw, 0.1, 5.0, "exact")
    it, _, rep = clip_weights(logw, 0.1, 5.0, "iterate")
    once, c_once, _ = clip_weights(logw, 0.1, 5.0, "once")
    # exact: bounds hold exactly, almost half the weights sit at the lower bound
    assert exact.min() >= 0.1 and exact.max() <= 5.0 and 0.45 < np.mean(exact <= 0.1 + 1e-12) < 0.5
    assert np.mean(c_exact) > 0.5
    # iterate: converged, bounds hold to the tolerance, but the weights once below 0.1 are tied far above it
    assert rep["clip_converged"] and 0 < rep["clip_rounds"] < 100
    assert it.max() <= 5.0 * (1 + 1e-11) and 0.35 < it.min() < 0.42
    tied = np.isclose(it, it.min(), rtol=1e-9, atol=0)
    np.testing.assert_array_equal(tied, np.array(mean_one(list(logw))) < 0.1)  # all that the first clip lifted
    assert tied.mean() > 0.65 and np.mean(exact[tied] > 0.1) > 0.25  # exact keeps a third of them apart
    # once: mean 1 but outside the bounds on both... sides: min and max keep the clip's ratio lo / hi
    assert 0.2 < once.min() < 0.25 and 11 < once.max() < 12 and once.max() > 5.0
    assert once.min() / once.max() == pytest.approx(0.1 / 5.0, rel=1e-12)
    assert c_once.mean() > 0.4
    assert not np.allclose(exact, it) and not np.allclose(it, once)


@pytest.mark.parametrize("mode", CLIP_MODES)
def test_clip_modes_edge_cases(mode):
    # all equal weights (any constant): all 1, nothing clipped; one example: [1]
    for logw in (np.full(7, -321.5), np.array([12.0])):
        w, clipped, _ = clip_weights(logw, 0.1, 5.0, mode)
        np.testing.assert_allclose(w, np.ones(logw.size), rtol=1e-12)
        assert not clipped.any()
    # both sides disabled: the plain mean-1 weights
    logw = heavy(50)
    w, clipped, _ = clip_weights(logw, 0.0, -1.0, mode)
    np.testing.assert_allclose(w, mean_one(list(logw)), rtol=1e-12)
    assert not clipped.any()
    # one side disabled: only the other side is clipped
    w, clipped, _ = clip_weights(heavy(), 0.0, 5.0, mode)
    assert w.min() < 0.01 and (w[clipped] > 1).all()
    w, clipped, _ = clip_weights(heavy(), 0.1, 0.0, mode)
    assert w.max() > 50 and (w[clipped] < 1).all()
    # lo = hi = 1: every weight is 1
    np.testing.assert_allclose(clip_weights(heavy(), 1.0, 1.0, mode)[0], np.ones(1000), rtol=1e-9)


@pytest.mark.parametrize("mode", CLIP_MODES)
@pytest.mark.parametrize("lo,hi", [(1.5, 5.0), (0.1, 0.5), (2.0, 0.0), (0.0, 0.9)])
def test_clip_bounds_that_cannot_hold_are_refused(mode, lo, hi):
    with pytest.raises(ValueError, match="lo <= 1 <= hi"):
        clip_weights(np.zeros(4), lo, hi, mode)


def test_unknown_clip_mode_is_refused():
    with pytest.raises(ValueError, match=r"weights.clip_mode must be one of \('once', 'iterate', 'exact'\)"):
        clip_weights(np.zeros(4), 0.1, 5.0, "twice")


def test_iterate_reports_non_convergence(monkeypatch):
    w, _, rounds, converged = clip_iterate(heavy(), 0.1, 5.0, max_rounds=3)
    assert (rounds, converged) == (3, False) and abs(w.mean() - 1) < 1e-12
    said = []
    monkeypatch.setattr(weights, "ITERATE_MAX", 3)
    monkeypatch.setattr(weights, "warn", said.append)
    _, _, report = clip_weights(heavy(), 0.1, 5.0, "iterate")
    assert report == {"clip_mode": "iterate", "clip_rounds": 3, "clip_converged": False}
    assert len(said) == 1 and "did not converge in 3 rounds" in said[0]


def test_default_clip_mode_is_the_seed_once():
    assert WeightsConfig().clip_mode == "once"


def _scores_dir(tmp_path, exs, n):
    rng = np.random.default_rng(3)
    d = tmp_path / "scores"
    header = {"dataset_fingerprint": fingerprint(exs), "template_hash": "th", "n_examples": n}
    store.prepare(d, header, {r: {"spec": r} for r in ROLES})
    for r in ROLES:
        store.open_arrays(d, r, n, "r+").write(np.arange(n), -np.abs(rng.normal(10.0, 4.0, n)), np.ones(n, int))
    return d


@pytest.mark.parametrize("mode", CLIP_MODES)
def test_manifest_and_stats_record_the_clip_mode(tmp_path, mode):
    n = 40
    exs = [Example(f"id{i}", "t", "h", "t", (0, 1), (0, 1), "ab"[i % 2], "train") for i in range(n)]
    d = _scores_dir(tmp_path, exs, n)
    cfg = WeightsConfig(clip_mode=mode)
    man = write_weights(d, tmp_path / "w", exs, "th", cfg)
    on_disk = json.loads((tmp_path / "w" / "weights.json").read_text())
    assert on_disk["clip_mode"] == man["clip_mode"] == mode and on_disk["stats"]["clip_mode"] == mode
    assert json.loads((tmp_path / "w" / "weights_stats.json").read_text())["clip_mode"] == mode
    assert ("clip_converged" in man["stats"]) == (mode == "iterate")
    logw = sum(c * store.open_arrays(d, r, n, "r").scores.astype(np.float64)
               for r, c in weights.FORMULAS["atlantis"].items())
    want, _, _ = clip_weights(logw, cfg.clip_lo, cfg.clip_hi, mode)
    got = np.fromfile(tmp_path / "w" / "weights.f32", dtype=np.float32)
    np.testing.assert_array_equal(got, want.astype(np.float32))
