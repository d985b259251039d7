"""ATLANTIS importance weights from the score memmaps (pure numpy; float64 inside, float32 on disk).

log w_raw(e), from each model's score s_m(e) (``reduction`` sum: the sequence log-likelihood in nats; mean: that
divided by the example's label-token count):
    atlantis   s_large - s_small + s_reference     (seed paper, Algorithm 1)
    influence  s_reference - s_small
    ratio      s_large - s_small
    uniform    0                                   (all weights 1 = plain SFT)
Self-normalisation in log space: w = exp(log w_raw - logsumexp(log w_raw) + log N), so mean(w) = 1 and sequence
scores of hundreds of nats neither overflow nor underflow the sum. Adding a constant to any model's scores
changes nothing.

Clipping to [lo, hi] (seed: [0.1, 5]; lo <= 0 or hi <= 0 disables that side; lo <= 1 <= hi is required: weights
with mean 1 cannot all lie above 1, nor all below it). ``weights.clip_mode`` picks one of three different results
(measured on N(0, 3^2) log-weights, 1000 examples, [0.1, 5]: tests/scoring/test_clip_modes.py):
    once     the seed notebook: clip the mean-1 weights to [lo, hi] once, then divide by the new mean. Mean 1; the
             bounds do NOT hold afterwards (dividing by a mean < 1 lifts everything: 0.23 .. 11.6 in the example).
    iterate  repeat clip-and-divide-by-the-mean until no weight moves by more than ITERATE_RTOL (relative) in one
             round, at most ITERATE_MAX rounds (the stats record the rounds and whether it converged; a run that
             did not converge is warned about). Mean 1; bounds to ~1e-12 relative. Its fixed point is NOT exact's:
             the first clip makes every weight below lo equal, and they stay tied while later rounds lift them
             off the bound together (the minimum ends at 0.38 in the example: the smallest weights lose their
             ranking below lo).
    exact    w = clip(c * w, lo, hi) with the scale c > 0 chosen by bisection so that mean(w) = 1: one common scale
             for every unclipped weight, so ratios are kept inside the bounds. Bounds exact, mean to ~1e-12 (48% of
             the example's weights sit at 0.1).
All three give the plain mean-1 weights when nothing is past a bound. "Clipped" marks the examples that the (last)
clip put at a bound.

Files (``harness.run.WeightsFiles``): ``<dir>/weights.f32`` (float32 memmap [N], example index order),
``<dir>/weights.json`` (manifest with dataset_fingerprint, template_hash, n_examples, formula, reduction, clip,
clip_mode, the scores' model identities, stats), ``<dir>/weights_stats.json``. Every reader goes through
``load_weights``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data.examples import fingerprint
from harness.log import warn
from harness.manifest import ManifestMismatch, check_manifest, git_revision, write_manifest
from harness.recipes.atlantis.scoring import store
from harness.run import WeightsFiles, atomic_write, atomic_write_json

FORMULAS = {  # formula -> {role: coefficient}
    "atlantis": {"large": 1.0, "small": -1.0, "reference": 1.0},
    "influence": {"reference": 1.0, "small": -1.0},
    "ratio": {"large": 1.0, "small": -1.0},
    "uniform": {},
}
REDUCTIONS = ("sum", "mean")
CLIP_MODES = ("once", "iterate", "exact")  # weights.clip_mode (module docstring)
ITERATE_MAX = 10_000  # clip_mode iterate: most clip-and-renormalise rounds (N(0, 3^2) with [0.1, 5] needs 31,
#                       with [1, 2] 438: each round is two passes over N floats)
ITERATE_RTOL = 1e-12  # clip_mode iterate: converged when no weight moves by more than this fraction in a round


def formula_roles(formula: str) -> list[str]:
    """The model roles whose scores ``formula`` needs (sorted)."""
    if formula not in FORMULAS:
        raise ValueError(f"weights.formula must be one of {sorted(FORMULAS)}, got {formula!r}")
    return sorted(FORMULAS[formula])


def missing_roles(formula: str, scored: list[str]) -> list[str]:
    """The model roles ``formula`` needs that ``scored`` lacks: [] = the weights can be written."""
    return sorted(set(formula_roles(formula)) - set(scored))


def log_raw_weights(scores: dict[str, np.ndarray], ntok: dict[str, np.ndarray], formula: str, reduction: str,
                    ids: list[str] | None = None) -> np.ndarray:
    """Unnormalised log-weights [N] float64. Non-finite scores raise, naming the example ids."""
    formula_roles(formula)  # raises on an unknown formula
    if reduction not in REDUCTIONS:
        raise ValueError(f"weights.reduction must be one of {REDUCTIONS}, got {reduction!r}")
    coefs = FORMULAS[formula]
    n = len(next(iter(scores.values()))) if scores else len(ids or [])
    out = np.zeros(n, dtype=np.float64)
    for role, c in coefs.items():
        if role not in scores:
            raise ValueError(f"formula {formula!r} needs the {role!r} model's scores; have {sorted(scores)}")
        s = np.asarray(scores[role], dtype=np.float64)
        if reduction == "mean":
            k = np.asarray(ntok[role], dtype=np.float64)
            s = np.where(k > 0, s / np.where(k > 0, k, 1.0), np.nan)
        bad = np.flatnonzero(~np.isfinite(s))
        if bad.size:
            names = [ids[i] if ids is not None else str(i) for i in bad[:20]]
            raise ValueError(f"{role} scores: {bad.size} non-finite value(s) (NaN = not scored, or a token count "
                             f"of 0) at example ids {names}{' ...' if bad.size > 20 else ''}")
        out += c * s
    return out


def self_normalise(logw: np.ndarray) -> np.ndarray:
    """Log of mean-1 weights: logw - logsumexp(logw) + log N (float64, no overflow)."""
    logw = np.asarray(logw, dtype=np.float64)
    m = logw.max()
    lse = m + np.log(np.exp(logw - m).sum())
    return logw - lse + np.log(logw.size)


def _bounds(lo: float, hi: float) -> tuple[float, float]:
    """(lo, hi) with a disabled side (<= 0) as 0 / inf; raises unless lo <= 1 <= hi."""
    lo_, hi_ = (lo if lo > 0 else 0.0), (hi if hi > 0 else np.inf)
    if not (lo_ <= 1.0 <= hi_):
        raise ValueError(f"clip bounds [{lo}, {hi}] must satisfy lo <= 1 <= hi for mean-1 weights "
                         "(set weights.clip_lo / clip_hi; <= 0 disables a side)")
    return lo_, hi_


def _at_bounds(c: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The clipped mask: weights at an enabled bound (a weight that underflowed to 0 with lo disabled is not)."""
    return ((c <= lo) & (lo > 0)) | (c >= hi)


def clip_once(logw: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """(weights, clipped): the seed's single clip of the mean-1 weights, then division by the mean (clip_mode once)."""
    lo, hi = _bounds(lo, hi)
    c = np.clip(np.exp(self_normalise(logw)), lo, hi)
    return c / c.mean(), _at_bounds(c, lo, hi)


def clip_iterate(logw: np.ndarray, lo: float, hi: float, max_rounds: int = ITERATE_MAX,
                 rtol: float = ITERATE_RTOL) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """(weights, clipped, rounds, converged): clip-and-divide-by-the-mean repeated until no weight moves by more
    than ``rtol`` of its value in one round, or ``max_rounds`` rounds (clip_mode iterate)."""
    lo, hi = _bounds(lo, hi)
    w = np.exp(self_normalise(logw))
    for rounds in range(1, max_rounds + 1):
        c = np.clip(w, lo, hi)
        new = c / c.mean()
        done = bool(np.all(np.abs(new - w) <= rtol * new))
        w = new
        if done:
            return w, _at_bounds(c, lo, hi), rounds, True
    return w, _at_bounds(c, lo, hi), max_rounds, False


def clip_mean_one(logw: np.ndarray, lo: float, hi: float, iters: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(weights, clipped mask): w = clip(c * exp(logw), lo, hi) with mean(w) = 1 by bisection on log c (clip_mode
    exact, see module docstring). ``lo <= 0`` / ``hi <= 0`` disable that bound; both disabled = plain mean-1 weights."""
    lo, hi = _bounds(lo, hi)
    llo, lhi = np.log(lo) if lo > 0 else -np.inf, np.log(hi)
    logw = self_normalise(logw)

    def mean_at(a: float) -> float:
        return float(np.exp(np.clip(logw + a, llo, lhi)).mean())

    if np.isinf(llo) and np.isinf(lhi):
        return np.exp(logw), np.zeros(logw.size, dtype=bool)
    a_lo, a_hi = -1.0, 1.0
    while mean_at(a_lo) > 1.0:
        a_lo *= 2.0
    while mean_at(a_hi) < 1.0:
        a_hi *= 2.0
    for _ in range(iters):
        mid = 0.5 * (a_lo + a_hi)
        if mid in (a_lo, a_hi):
            break
        if mean_at(mid) < 1.0:
            a_lo = mid
        else:
            a_hi = mid
    z = logw + 0.5 * (a_lo + a_hi)
    clipped = (z <= llo) | (z >= lhi)
    w = np.exp(np.clip(z, llo, lhi))
    return w, clipped


def clip_weights(logw: np.ndarray, lo: float, hi: float, mode: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(weights, clipped, report) for ``weights.clip_mode`` ``mode``; report = {"clip_mode"} (+ "clip_rounds",
    "clip_converged" for iterate), merged into the stats."""
    if mode == "once":
        return (*clip_once(logw, lo, hi), {"clip_mode": mode})
    if mode == "exact":
        return (*clip_mean_one(logw, lo, hi), {"clip_mode": mode})
    if mode != "iterate":
        raise ValueError(f"weights.clip_mode must be one of {CLIP_MODES}, got {mode!r}")
    w, clipped, rounds, converged = clip_iterate(logw, lo, hi, ITERATE_MAX, ITERATE_RTOL)
    if not converged:
        warn(f"weights: clip_mode iterate did not converge in {rounds} rounds (relative change > {ITERATE_RTOL}); "
             "the weights are those of the last round (clip_converged=false in the stats); exact always converges")
    return w, clipped, {"clip_mode": mode, "clip_rounds": rounds, "clip_converged": converged}


def weight_stats(w: np.ndarray, clipped: np.ndarray, labels: list[str] | None = None,
                 is_noisy: list[bool] | None = None) -> dict:
    """min/max/mean/std, effective sample size (sum w)^2 / sum w^2, fraction clipped, mean weight per gold label,
    ROC-AUC of the weight as a detector of clean (positive) vs corrupted labels when both kinds are present."""
    w = np.asarray(w, dtype=np.float64)
    ess = float(w.sum() ** 2 / (w ** 2).sum())
    stats = {"n": int(w.size), "min": float(w.min()), "max": float(w.max()), "mean": float(w.mean()),
             "std": float(w.std()), "ess": ess, "ess_fraction": ess / w.size,
             "fraction_clipped": float(np.mean(clipped))}
    if labels is not None:
        lab = np.asarray(labels)
        stats["mean_weight_per_label"] = {str(k): float(w[lab == k].mean()) for k in sorted(set(labels))}
    stats["roc_auc_clean_vs_noisy"] = None
    if is_noisy is not None:
        noisy = np.asarray(is_noisy, dtype=bool)
        stats["n_noisy"] = int(noisy.sum())
        if 0 < noisy.sum() < noisy.size:
            from sklearn.metrics import roc_auc_score

            stats["roc_auc_clean_vs_noisy"] = float(roc_auc_score(~noisy, w))
    return stats


def compute_weights(scores: dict, ntok: dict, cfg, ids: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weights [N] float64 and the clipped mask, from score arrays and a ``WeightsConfig`` (``clip_weights`` also
    returns the clip report)."""
    logw = log_raw_weights(scores, ntok, cfg.formula, cfg.reduction, ids)
    w, clipped, _ = clip_weights(logw, cfg.clip_lo, cfg.clip_hi, cfg.clip_mode)
    return w, clipped


def write_weights(scores_dir: str | Path, out_dir: str | Path, examples: list, template_hash: str, cfg) -> dict:
    """Check the scores' manifest against ``examples`` / ``template_hash``, compute the weights and write
    ``weights.f32`` + ``weights.json`` (+ ``weights_stats.json``) into ``out_dir``, each atomically and the
    manifest after the data (an old manifest is removed first, so a crash never pairs new data with it).
    Returns the manifest."""
    expected = {"dataset_fingerprint": fingerprint(examples), "template_hash": template_hash,
                "n_examples": len(examples)}
    roles = formula_roles(cfg.formula)
    smanifest, arrays = store.check_scores(scores_dir, expected=expected, names=roles)
    ids = [ex.id for ex in examples]
    logw = log_raw_weights({r: a.scores for r, a in arrays.items()}, {r: a.ntok for r, a in arrays.items()},
                           cfg.formula, cfg.reduction, ids)  # uniform: zeros -> all weights 1 in every clip mode
    w, clipped, clip_report = clip_weights(logw, cfg.clip_lo, cfg.clip_hi, cfg.clip_mode)
    stats = {**weight_stats(w, clipped, [ex.label for ex in examples], [ex.is_noisy for ex in examples]),
             **clip_report}
    files = WeightsFiles(out_dir)
    files.manifest.unlink(missing_ok=True)
    atomic_write(files.data, w.astype(np.float32).tofile)
    manifest = {**expected, "formula": cfg.formula, "reduction": cfg.reduction,
                "clip": [cfg.clip_lo, cfg.clip_hi], "clip_mode": cfg.clip_mode, "dtype": "float32",
                "models": {r: smanifest["models"][r] for r in roles}, "scores_dir": str(scores_dir),
                "git_revision": git_revision(), "stats": stats}
    write_manifest(files.manifest, manifest)
    atomic_write_json(files.stats, stats)
    return manifest


def print_stats(stats: dict, title: str = "ATLANTIS weights") -> None:
    from harness.log import table

    rows = [[k, v] for k, v in stats.items() if not isinstance(v, dict)]
    rows += [[f"mean w | {k}", v] for k, v in stats.get("mean_weight_per_label", {}).items()]
    table(title, ["statistic", "value"], rows)


def load_weights(path: str | Path, *, n: int, dataset_fingerprint: str, template_hash: str) -> np.memmap:
    """The one checked reader of a weights file: the read-only float32 [n] memmap at ``path`` after checking the
    ``weights.json`` beside it (dataset fingerprint, template hash, n_examples), the file size, and that every
    weight is finite and >= 0. Training (``train.weights_file``) and the weight plots read weights through it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path} (run `python -m harness atlantis score` first, or leave "
                                "train.weights_file empty for plain SFT)")
    expected = {"dataset_fingerprint": dataset_fingerprint, "template_hash": template_hash, "n_examples": n}
    check_manifest(WeightsFiles.beside(path).manifest, expected, what="weights file")
    size = path.stat().st_size
    if size != 4 * n:
        raise ManifestMismatch(f"{path}: {size} bytes, expected {4 * n} (float32 x n_examples={n}); the file is "
                               "damaged: run `python -m harness atlantis score` again")
    w = np.memmap(path, dtype=np.float32, mode="r", shape=(n,))
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"{path}: {bad.size} non-finite or negative weight(s) at indices {bad[:20].tolist()}")
    return w
