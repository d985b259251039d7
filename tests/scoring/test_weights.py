"""ATLANTIS weights: formulas against a float64 loop, invariances, clipping, overflow, errors, files, manifest."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from harness.config import WeightsConfig
from harness.data.examples import Example, fingerprint
from harness.manifest import ManifestMismatch
from harness.recipes.atlantis.scoring import store
from harness.recipes.atlantis.scoring.weights import (
    clip_mean_one,
    compute_weights,
    load_weights,
    log_raw_weights,
    missing_roles,
    self_normalise,
    weight_stats,
    write_weights,
)

ROLES = ("large", "small", "reference")


def fake_scores(n=50, seed=0, scale=30.0):
    rng = np.random.default_rng(seed)
    scores = {r: -np.abs(rng.normal(scale, scale / 3, n)) for r in ROLES}
    ntok = {r: rng.integers(1, 6, n) for r in ROLES}
    return scores, ntok


def loop_reference(scores, ntok, formula, reduction):
    """Per-example float64 loop of the documented formula, mean-1 normalised by plain division."""
    coefs = {"atlantis": {"large": 1, "small": -1, "reference": 1}, "influence": {"reference": 1, "small": -1},
             "ratio": {"large": 1, "small": -1}, "uniform": {}}[formula]
    n = len(scores["large"])
    logw = []
    for i in range(n):
        s = 0.0
        for r, c in coefs.items():
            v = float(scores[r][i])
            s += c * (v / int(ntok[r][i]) if reduction == "mean" else v)
        logw.append(s)
    m = max(logw)
    raw = [math.exp(v - m) for v in logw]
    total = sum(raw)
    return np.array([v * n / total for v in raw])


@pytest.mark.parametrize("formula", ["atlantis", "influence", "ratio", "uniform"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_weights_match_loop_reference_unclipped(formula, reduction):
    scores, ntok = fake_scores(scale=3.0)
    w, clipped = compute_weights(scores, ntok, WeightsConfig(formula=formula, reduction=reduction,
                                                             clip_lo=0, clip_hi=0))
    np.testing.assert_allclose(w, loop_reference(scores, ntok, formula, reduction), rtol=1e-12)
    assert not clipped.any() and abs(w.mean() - 1) < 1e-12


@pytest.mark.parametrize("role", ROLES)
def test_weights_invariant_to_constant_shift_of_any_model(role):
    scores, ntok = fake_scores()
    cfg = WeightsConfig()
    base, _ = compute_weights(scores, ntok, cfg)
    shifted = {**scores, role: scores[role] - 437.25}
    got, _ = compute_weights(shifted, ntok, cfg)
    np.testing.assert_allclose(got, base, rtol=1e-9)


@pytest.mark.parametrize("lo,hi", [(0.1, 5.0), (0.5, 1.5), (0.0, 2.0), (0.3, 0.0), (1.0, 1.0)])
def test_clip_gives_mean_one_within_bounds(lo, hi):
    rng = np.random.default_rng(1)
    logw = rng.normal(0, 3, 400)  # heavy tails: many values past both bounds
    w, clipped = clip_mean_one(logw, lo, hi)
    assert abs(w.mean() - 1.0) < 1e-12
    assert w.min() >= (lo if lo > 0 else 0.0) and w.max() <= (hi if hi > 0 else np.inf)
    if 0 < lo < 1 < hi:
        assert 0 < clipped.mean() < 1
        # unclipped weights keep their ratios (one common scale)
        inner = ~clipped
        ratio = w[inner] / np.exp(logw[inner])
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    # a single clip + renormalise would leave values outside the bounds: exact does not
    naive = np.clip(np.exp(self_normalise(logw)), lo or 0, hi or np.inf)
    naive = naive / naive.mean()
    if 0 < lo < 1 < hi:
        assert naive.max() > hi or naive.min() < lo


def test_clip_bounds_must_contain_one():
    with pytest.raises(ValueError, match="lo <= 1 <= hi"):
        clip_mean_one(np.zeros(4), 1.5, 5.0)


def test_hundreds_of_nats_do_not_overflow():
    scores = {r: np.array([-900.0, -1200.0, -300.0, -700.0]) for r in ROLES}
    scores["large"] = np.array([-100.0, -1500.0, -800.0, -400.0])
    ntok = {r: np.ones(4, dtype=int) for r in ROLES}
    w, _ = compute_weights(scores, ntok, WeightsConfig(clip_lo=0, clip_hi=0))
    assert np.isfinite(w).all() and abs(w.mean() - 1) < 1e-12
    assert w[0] == pytest.approx(4.0)  # the others are exp(-1000s) smaller


def test_nonfinite_scores_name_the_examples():
    scores, ntok = fake_scores(n=6)
    scores["small"][[2, 4]] = [np.nan, -np.inf]
    with pytest.raises(ValueError, match=r"small scores: 2 non-finite.*\['e2', 'e4'\]"):
        log_raw_weights(scores, ntok, "atlantis", "sum", ids=[f"e{i}" for i in range(6)])
    with pytest.raises(ValueError, match="formula"):
        log_raw_weights(scores, ntok, "bogus", "sum")
    with pytest.raises(ValueError, match="reduction"):
        log_raw_weights(scores, ntok, "ratio", "median")


def test_stats_ess_auc_and_per_label():
    w = np.array([2.0, 1.5, 0.25, 0.25, 1.0])
    noisy = [False, False, True, True, False]
    st = weight_stats(w, np.array([1, 0, 0, 0, 0], bool), ["a", "b", "a", "b", "b"], noisy)
    assert st["ess"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert st["fraction_clipped"] == pytest.approx(0.2)
    assert st["mean_weight_per_label"] == {"a": pytest.approx(1.125), "b": pytest.approx(2.75 / 3)}
    assert st["roc_auc_clean_vs_noisy"] == pytest.approx(roc_auc_score([1, 1, 0, 0, 1], w)) == 1.0
    assert weight_stats(w, np.zeros(5, bool), None, [False] * 5)["roc_auc_clean_vs_noisy"] is None


def _scores_dir(tmp_path, exs, scores, ntok, template_hash="th"):
    d = tmp_path / "scores"
    header = {"dataset_fingerprint": fingerprint(exs), "template_hash": template_hash, "n_examples": len(exs)}
    store.prepare(d, header, {r: {"spec": r} for r in ROLES})
    for r in ROLES:
        store.open_arrays(d, r, len(exs), "r+").write(np.arange(len(exs)), scores[r], ntok[r])
    return d


def test_write_and_load_weights_files_and_manifest(tmp_path):
    exs = [Example(f"id{i}", "t", "h", "t", (0, 1), (0, 1), "ab"[i % 2], "train", is_noisy=i % 3 == 0)
           for i in range(12)]
    scores, ntok = fake_scores(n=12)
    d = _scores_dir(tmp_path, exs, scores, ntok)
    cfg = WeightsConfig()
    man = write_weights(d, tmp_path / "w", exs, "th", cfg)
    for key in ("dataset_fingerprint", "template_hash", "n_examples", "formula", "reduction", "clip", "stats"):
        assert key in man
    assert json.loads((tmp_path / "w" / "weights.json").read_text())["stats"] == man["stats"]
    assert (tmp_path / "w" / "weights_stats.json").is_file()
    expected = {"dataset_fingerprint": fingerprint(exs), "template_hash": "th", "n": 12}
    w = load_weights(tmp_path / "w" / "weights.f32", **expected)
    assert w.dtype == np.float32 and w.shape == (12,)
    ref, _ = compute_weights({r: scores[r].astype(np.float32) for r in ROLES}, ntok, cfg)
    np.testing.assert_array_equal(w, ref.astype(np.float32))
    assert abs(float(np.mean(w, dtype=np.float64)) - 1) < 1e-6
    with pytest.raises(ManifestMismatch, match="template_hash"):
        load_weights(tmp_path / "w" / "weights.f32", **{**expected, "template_hash": "other"})
    with pytest.raises(ManifestMismatch, match="dataset_fingerprint"):
        write_weights(d, tmp_path / "w2", exs[:11] + exs[:1], "th", cfg)


def test_write_weights_refuses_unfinished_scores(tmp_path):
    exs = [Example(f"id{i}", "t", "h", "t", (0, 1), (0, 1), "a", "train") for i in range(5)]
    scores, ntok = fake_scores(n=5)
    d = _scores_dir(tmp_path, exs, scores, ntok)
    a = store.open_arrays(d, "reference", 5, "r+")
    a.done[3] = 0
    a.done.flush()
    with pytest.raises(ManifestMismatch, match="'reference' are not scored yet"):
        write_weights(d, tmp_path / "w", exs, "th", WeightsConfig())
    write_weights(d, tmp_path / "w", exs, "th", WeightsConfig(formula="ratio"))  # ratio does not need it


def test_missing_roles_decides_whether_weights_can_be_written():
    assert missing_roles("atlantis", ["large", "small"]) == ["reference"]
    assert missing_roles("ratio", ["large", "small"]) == [] and missing_roles("uniform", []) == []
    with pytest.raises(ValueError, match="weights.formula must be one of"):
        missing_roles("bogus", ["large"])


def test_load_weights_refuses_missing_short_and_negative_files(tmp_path):
    exs = [Example(f"id{i}", "t", "h", "t", (0, 1), (0, 1), "a", "train") for i in range(4)]
    scores, ntok = fake_scores(n=4)
    write_weights(_scores_dir(tmp_path, exs, scores, ntok), tmp_path / "w", exs, "th", WeightsConfig())
    path = tmp_path / "w" / "weights.f32"
    ok = {"n": 4, "dataset_fingerprint": fingerprint(exs), "template_hash": "th"}
    assert load_weights(path, **ok).shape == (4,)
    with pytest.raises(FileNotFoundError, match="weights_file"):
        load_weights(tmp_path / "none.f32", **ok)
    with pytest.raises(ManifestMismatch, match="n_examples: file has 4, expected 5"):
        load_weights(path, **{**ok, "n": 5})
    np.array([1.0, -1.0, 2.0, 1.0], dtype=np.float32).tofile(path)
    with pytest.raises(ValueError, match=r"1 non-finite or negative weight\(s\) at indices \[1\]"):
        load_weights(path, **ok)
    path.write_bytes(path.read_bytes()[:8])
    with pytest.raises(ManifestMismatch, match="8 bytes, expected 16"):
        load_weights(path, **ok)


def test_rewriting_weights_replaces_files_and_leaves_no_temporaries(tmp_path):
    exs = [Example(f"id{i}", "t", "h", "t", (0, 1), (0, 1), "ab"[i % 2], "train") for i in range(6)]
    scores, ntok = fake_scores(n=6)
    d = _scores_dir(tmp_path, exs, scores, ntok)
    write_weights(d, tmp_path / "w", exs, "th", WeightsConfig())
    man = write_weights(d, tmp_path / "w", exs, "th", WeightsConfig(formula="ratio"))
    assert json.loads((tmp_path / "w" / "weights.json").read_text())["formula"] == man["formula"] == "ratio"
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["weights.f32", "weights.json", "weights_stats.json"]
    assert sorted(p.name for p in d.iterdir() if ".tmp" in p.name) == []
