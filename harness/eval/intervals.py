"""Seed statistics of a paired comparison (method A vs method B trained on the same data at the same seeds).

Two 95% intervals of the mean difference A - B (macro-F1, in points), stated with their method wherever reported:

    t over seeds       the paired difference d_s = F1_A(s) - F1_B(s) per seed s; mean +- t_{n-1, 0.975} * sd / sqrt(n)
                       (Student's t, sample sd with n - 1). Seed noise only: each seed's test set is taken as fixed.
                       The headline interval. n = 1 has no interval (lo = hi = None).
    paired bootstrap   over seeds AND test examples (two-level): a replicate draws n seeds with replacement and, for
                       each drawn seed, the test examples with replacement (the same draw for A and B: paired), then
                       averages the drawn seeds' macro-F1 differences; the 2.5 / 97.5 percentiles of ``n_boot``
                       replicates. Adds the test set's sampling noise to the seeds'.

``macro_f1_codes`` is the evaluator's macro-F1 (sklearn ``f1_score(average="macro", labels=<all labels>,
zero_division=0)``, harness.eval.metrics) vectorised over replicates; the tests check it against sklearn.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95


def t_interval(diffs, level: float = LEVEL) -> dict:
    """The t interval over seeds of paired differences ``diffs`` (one per seed)."""
    from scipy import stats

    d = np.asarray(diffs, dtype=np.float64)
    n = int(d.size)
    if n == 0:
        raise ValueError("t_interval needs at least one difference")
    mean = float(d.mean())
    out = {"method": "t over seeds", "level": level, "n": n, "mean": mean, "sd": None, "se": None, "t": None,
           "lo": None, "hi": None}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    t = float(stats.t.ppf(0.5 + level / 2, df=n - 1))
    return {**out, "sd": sd, "se": se, "t": t, "lo": mean - t * se, "hi": mean + t * se}


def mean_sd(values) -> dict:
    """{n, mean, sd} (sample sd, None for one value)."""
    v = np.asarray(values, dtype=np.float64)
    return {"n": int(v.size), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else None}


def macro_f1_codes(gold: np.ndarray, pred: np.ndarray, n_labels: int) -> np.ndarray:
    """Macro-F1 over labels 0..n_labels-1 of each row of ``gold`` / ``pred`` (int arrays, shape (B, N) or (N,);
    a prediction code outside 0..n_labels-1, e.g. -1 for an invalid answer, is wrong for every label). F1 of a label
    = 2 tp / (2 tp + fp + fn), 0 where that is 0 / 0 (sklearn's zero_division=0)."""
    gold = np.atleast_2d(np.asarray(gold))
    pred = np.atleast_2d(np.asarray(pred))
    labels = np.arange(n_labels)[:, None, None]  # (L, 1, 1)
    g = gold[None] == labels  # (L, B, N)
    p = pred[None] == labels
    tp = (g & p).sum(-1)
    denom = g.sum(-1) + p.sum(-1)  # 2 tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return f1.mean(0)  # (B,)


def paired_bootstrap(seeds: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_labels: int, *, n_boot: int = 2000,
                     seed: int = 0, level: float = LEVEL) -> dict:
    """The two-level paired bootstrap of mean(F1_A - F1_B) in points. ``seeds``: per seed (gold, pred_A, pred_B),
    int label codes over one test set each. Draw order (the tests replay it): ``picks = rng.integers(S, size=(n_boot,
    S))``, then per seed slot j = 0..S-1 ``rng.integers(N_k, size=(n_boot, N_k))`` for every seed k (the indices of
    replicate b, slot j are row b of seed picks[b, j]'s draw at slot j)."""
    if not seeds:
        raise ValueError("paired_bootstrap needs at least one seed")
    rng = np.random.default_rng(seed)
    s = len(seeds)
    picks = rng.integers(s, size=(n_boot, s))
    total = np.zeros(n_boot)
    for j in range(s):
        for k, (gold, a, b) in enumerate(seeds):
            idx = rng.integers(len(gold), size=(n_boot, len(gold)))
            rows = picks[:, j] == k
            if not rows.any():
                continue
            i = idx[rows]
            total[rows] += macro_f1_codes(gold[i], a[i], n_labels) - macro_f1_codes(gold[i], b[i], n_labels)
    diffs = 100 * total / s
    alpha = (1 - level) / 2
    point = 100 * float(np.mean([macro_f1_codes(g, a, n_labels)[0] - macro_f1_codes(g, b, n_labels)[0]
                                 for g, a, b in seeds]))
    return {"method": "paired bootstrap over seeds and test examples", "level": level, "n": s, "n_boot": n_boot,
            "seed": seed, "mean": point, "lo": float(np.quantile(diffs, alpha)),
            "hi": float(np.quantile(diffs, 1 - alpha))}


def codes(labels: list[str], gold: list[str], *preds: list[str | None]) -> list[np.ndarray]:
    """Label strings -> int codes in ``labels`` order (None / unknown prediction -> -1)."""
    index = {lab: i for i, lab in enumerate(labels)}
    out = [np.array([index[g] for g in gold], dtype=np.int64)]
    out += [np.array([index.get(p, -1) if p is not None else -1 for p in pred], dtype=np.int64) for pred in preds]
    return out


def format_interval(iv: dict, unit: str = " pts") -> str:
    """'+1.23 [-0.40, +2.86] pts (95%, t over seeds, n=3)'; one seed: '+1.23 pts (one seed: no interval)'."""
    if iv.get("lo") is None:
        return f"{iv['mean']:+.2f}{unit} (one seed: no interval)"
    return (f"{iv['mean']:+.2f} [{iv['lo']:+.2f}, {iv['hi']:+.2f}]{unit} ({100 * iv['level']:.0f}%, "
            f"{iv['method']}, n={iv['n']})")
