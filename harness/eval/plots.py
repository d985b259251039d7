"""PNG plots (matplotlib, Agg): learning curves of several runs, weights per gold label, clean vs corrupted."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np

from harness.manifest import iter_jsonl  # noqa: E402
from harness.run import RunDir, atomic_write  # noqa: E402

EVALS_KEYS = ("step", "split", "macro_f1", "train_loss")


def read_evals_jsonl(path: str | Path) -> list[dict]:
    """One JSON object per line with at least step, split, macro_f1, train_loss (the training loop's file).
    ``path``: the file, or a run folder (its ``RunDir.evals``)."""
    path = Path(path)
    if path.is_dir():
        path = RunDir(path).evals
    out = []
    for n, rec in iter_jsonl(path, "evals.jsonl"):
        missing = [k for k in EVALS_KEYS if k not in rec]
        if missing:
            raise ValueError(f"{path}:{n}: missing field(s) {missing}; each line needs {list(EVALS_KEYS)}")
        out.append(rec)
    if not out:
        raise ValueError(f"{path}: no evaluation records")
    return out


def _save(fig, path: str | Path) -> Path:
    """Write the figure atomically (the format from ``path``'s suffix, PNG without one), then close it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight", format=fmt))
    finally:
        plt.close(fig)


def plot_learning_curves(runs: dict[str, list[dict]], path: str | Path, *, split: str = "dev") -> Path:
    """Macro-F1 (of ``split``) and training loss per evaluation step, one line per run (e.g. SFT vs ATLANTIS)."""
    if not runs:
        raise ValueError("no runs to plot")
    fig, (ax_f1, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for name, recs in runs.items():
        recs = sorted((r for r in recs if r["split"] == split), key=lambda r: r["step"])
        if not recs:
            raise ValueError(f"run {name!r} has no evaluation on split {split!r}")
        steps = [r["step"] for r in recs]
        ax_f1.plot(steps, [100 * r["macro_f1"] for r in recs], marker="o", label=name)
        loss = [(r["step"], r["train_loss"]) for r in recs if r["train_loss"] is not None]
        ax_loss.plot([s for s, _ in loss], [v for _, v in loss], marker="o", label=name)
    ax_f1.set(xlabel="optimizer step", ylabel=f"{split} macro-F1 (%)", title="macro-F1 per evaluation")
    ax_loss.set(xlabel="optimizer step", ylabel="training loss", title="training loss per evaluation")
    for ax in (ax_f1, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def _check_weights(weights: np.ndarray, n: int, what: str) -> np.ndarray:
    w = np.asarray(weights)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"weights must be a 1-D array of {n} values (one per {what}); got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError(f"weights hold {int((~np.isfinite(w)).sum())} non-finite value(s)")
    return w.astype(np.float64)


def plot_weights_per_label(weights: np.ndarray, gold: list[str], path: str | Path) -> Path:
    """Box plot of the importance weights of the training examples, one box per gold label."""
    w = _check_weights(weights, len(gold), "gold label")
    labels = sorted(set(gold))
    groups = [w[[g == lab for g in gold]] for lab in labels]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(labels) + 2), 4.5))
    ax.boxplot(groups, showfliers=True)
    ax.set_xticks(range(1, len(labels) + 1), [f"{lab} ({len(g)})" for lab, g in zip(labels, groups)],
                  rotation=60, ha="right")
    ax.set(ylabel="weight", title="example weight per gold label")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def plot_weights_noisy(weights: np.ndarray, is_noisy: np.ndarray, path: str | Path, *, bins: int = 40) -> Path:
    """Histograms of the weights of clean vs corrupted (relabelled) training examples."""
    noisy = np.asarray(is_noisy)
    if noisy.dtype != bool:
        raise ValueError(f"is_noisy must be a bool array, got dtype {noisy.dtype}")
    w = _check_weights(weights, noisy.shape[0], "example")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    edges = np.histogram_bin_edges(w, bins=bins)
    for mask, name in ((~noisy, "clean"), (noisy, "corrupted")):
        if mask.any():
            ax.hist(w[mask], bins=edges, alpha=0.6, density=True,
                    label=f"{name} (n={int(mask.sum())}, mean {w[mask].mean():.3g})")
    ax.set(xlabel="weight", ylabel="density", title="weights of clean vs corrupted examples")
    ax.legend()
    return _save(fig, path)


def plot_epoch_detection(evals: list[dict], path: str | Path, *, title: str) -> Path:
    """RCP's per-epoch tuning figures (its evals.jsonl: epoch, precision, recall, f1 at the F1-best threshold):
    F1, precision and recall (%) per epoch, the selected (best) epoch marked."""
    if not evals:
        raise ValueError("no epoch records to plot")
    recs = sorted(evals, key=lambda r: r["epoch"])
    ep = [r["epoch"] for r in recs]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for key, style in (("f1", "o-"), ("precision", "s--"), ("recall", "^--")):
        ax.plot(ep, [100 * r[key] for r in recs], style, label=key if key != "f1" else "F1")
    best = max(recs, key=lambda r: r["f1"])
    ax.annotate(f"selected: {100 * best['f1']:.2f}", (best["epoch"], 100 * best["f1"]), textcoords="offset points",
                xytext=(0, 8), ha="center")
    ax.set(xlabel="epoch", ylabel="related-pair detection (%)", title=title, xticks=ep)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_seed_differences(per_seed: dict, interval: dict, path: str | Path, *, bootstrap: dict | None = None) -> Path:
    """Left: each seed's macro-F1 of SFT and ATLANTIS (a line per seed joins the pair). Right: each seed's paired
    difference (points) with the mean and its interval (``harness.eval.intervals``; the bootstrap's beside it)."""
    seeds = sorted(per_seed, key=int)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [3, 2]})
    for s in seeds:
        pair = [per_seed[s]["sft"], per_seed[s]["atlantis"]]
        a.plot([0, 1], pair, "o-", alpha=0.7, label=f"seed {s}")
    a.set(xticks=[0, 1], xticklabels=["SFT", "ATLANTIS"], xlim=(-0.3, 1.3), ylabel="test macro-F1 %",
          title="per seed")
    a.legend(fontsize=8)
    diffs = [per_seed[s]["difference"] for s in seeds]
    b.scatter(np.zeros(len(diffs)) + np.linspace(-0.08, 0.08, len(diffs)), diffs, color="gray", zorder=3,
              label="seeds")
    for x, iv, color in ((0.35, interval, "C3"), (0.7, bootstrap, "C0")):
        if iv is None:
            continue
        b.plot([x], [iv["mean"]], "s", color=color, label=f"mean, {iv['method']}")
        if iv.get("lo") is not None:
            b.plot([x, x], [iv["lo"], iv["hi"]], "-", color=color, lw=3)
    b.axhline(0, color="k", lw=0.8)
    b.set(xticks=[], xlim=(-0.3, 1.0), ylabel="ATLANTIS - SFT (macro-F1 pts)",
          title=f"paired difference, {100 * interval['level']:.0f}% intervals")
    b.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def plot_sweep(cells: list[dict], key: str, path: str | Path) -> Path:
    """The paired difference ATLANTIS - SFT (mean and interval) against the swept ``key``; one line per value of the
    other swept keys. ``cells``: [{"values": {key: value, ...}, "difference": interval dict}]."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    groups: dict[str, list[dict]] = {}
    for c in cells:
        rest = ", ".join(f"{k}={v}" for k, v in c["values"].items() if k != key)
        groups.setdefault(rest, []).append(c)
    xs_all = sorted({c["values"][key] for c in cells}, key=_sortable)
    pos = {v: i for i, v in enumerate(xs_all)}
    width = 0.25 / max(1, len(groups))
    for gi, (rest, cs) in enumerate(sorted(groups.items())):
        cs = sorted(cs, key=lambda c: pos[c["values"][key]])
        x = np.array([pos[c["values"][key]] for c in cs]) + (gi - (len(groups) - 1) / 2) * width
        mean = np.array([c["difference"]["mean"] for c in cs])
        lo = np.array([c["difference"]["lo"] if c["difference"]["lo"] is not None else m for c, m in zip(cs, mean)])
        hi = np.array([c["difference"]["hi"] if c["difference"]["hi"] is not None else m for c, m in zip(cs, mean)])
        ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o-", capsize=4, label=rest or "difference")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xticks=range(len(xs_all)), xticklabels=[str(v) for v in xs_all], xlabel=key,
           ylabel="ATLANTIS - SFT (macro-F1 pts)", title="ablation: paired difference, 95% t interval over seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _sortable(v):
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(v))
