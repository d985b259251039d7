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
