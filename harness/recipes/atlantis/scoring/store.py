"""The on-disk score arrays: one float32 memmap per model, its label-token counts and a done mask.

Layout under ``<run_dir>/<scoring.out_dir>/`` (N = number of training examples, index i = example i):
    <name>.f32        float32 [N]  sum of label-token log-probs incl. EOS (nats), NaN until scored
    <name>.ntok.i32   int32   [N]  label tokens scored (incl. EOS), -1 until scored
    <name>.done.u8    uint8   [N]  1 once the row's score and count were written and flushed
    manifest.json     what produced them (dataset fingerprint, template hash, model identities, dtype, batch
                      budget, library versions); a stage reading the scores checks it (``check_scores``)

Concurrency: rank 0 creates missing arrays (pre-filled, each through ``harness.run.atomic_write``) and writes
the manifest last, everybody passes a barrier, then every rank opens ``r+`` and writes only the rows of its own
batches. Write order per batch: scores and counts, flush, then done, flush; a kill at any point leaves rows
either done (with their final values) or not done.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from harness.manifest import ManifestMismatch, check_manifest, write_manifest
from harness.run import atomic_write

MANIFEST = "manifest.json"
ROLES = ("large", "small", "reference")


def score_paths(scores_dir: str | Path, name: str) -> tuple[Path, Path, Path]:
    d = Path(scores_dir)
    return d / f"{name}.f32", d / f"{name}.ntok.i32", d / f"{name}.done.u8"


@dataclass
class ModelArrays:
    scores: np.memmap  # float32 [N]
    ntok: np.memmap  # int32 [N]
    done: np.memmap  # uint8 [N]

    def write(self, idx: np.ndarray, scores: np.ndarray, ntok: np.ndarray, before_done=None) -> None:
        """Rows ``idx``: values first (flushed), done mark last (flushed). ``before_done``: test hook called
        between the two (the kill -9 test dies there)."""
        self.scores[idx] = scores.astype(np.float32)
        self.ntok[idx] = ntok.astype(np.int32)
        self.scores.flush()
        self.ntok.flush()
        if before_done is not None:
            before_done()
        self.done[idx] = 1
        self.done.flush()


def _open(path: Path, dtype, n: int, mode: str, fill=None) -> np.memmap:
    if mode in ("r", "r+"):
        size = path.stat().st_size if path.exists() else -1
        want = n * np.dtype(dtype).itemsize
        if size != want:
            raise ManifestMismatch(f"{path}: {size} bytes on disk, expected {want} ({n} x {np.dtype(dtype).name}); "
                                   "the scores folder is damaged: delete it and score again")
    arr = np.memmap(path, dtype=dtype, mode=mode, shape=(n,))
    if fill is not None:
        arr[:] = fill
        arr.flush()
    return arr


def _write_filled(tmp: Path, *, dtype, n: int, fill) -> None:
    """A fresh ``n``-row memmap of ``dtype`` at ``tmp`` holding ``fill`` (``_open`` flushes it; closed when dropped)."""
    _open(tmp, dtype, n, "w+", fill)


def create_arrays(scores_dir: str | Path, name: str, n: int) -> None:
    """Rank 0 only: fresh arrays (NaN scores, -1 counts, 0 done), each written whole then renamed into place."""
    for path, dtype, fill in zip(score_paths(scores_dir, name), (np.float32, np.int32, np.uint8), (np.nan, -1, 0)):
        atomic_write(path, partial(_write_filled, dtype=dtype, n=n, fill=fill))


def open_arrays(scores_dir: str | Path, name: str, n: int, mode: str = "r+") -> ModelArrays:
    s, c, d = score_paths(scores_dir, name)
    return ModelArrays(_open(s, np.float32, n, mode), _open(c, np.int32, n, mode), _open(d, np.uint8, n, mode))


def prepare(scores_dir: str | Path, header: dict, models: dict[str, dict], extra: dict | None = None) -> dict:
    """Rank 0: make ``scores_dir`` hold arrays for ``models`` ({name: identity}) under ``header`` (the run-wide
    manifest fields). An existing manifest must agree on every header field and on the identity of every model it
    already lists (else ``ManifestMismatch``: resuming would mix inputs); new models get fresh arrays. A model
    listed with missing or damaged files is refused too. ``extra`` fields (git revision) are recorded, not checked.
    Returns the manifest written."""
    scores_dir = Path(scores_dir)
    scores_dir.mkdir(parents=True, exist_ok=True)
    path = scores_dir / MANIFEST
    n = header["n_examples"]
    old_models: dict = {}
    if path.exists():
        old = check_manifest(path, header, what="scores folder (delete it or pick another run_dir to start over)")
        old_models = old.get("models", {})
        for name, ident in models.items():
            if name in old_models and old_models[name] != ident:
                raise ManifestMismatch(f"{path}: scores for {name!r} were produced by {old_models[name]!r}, "
                                       f"this run uses {ident!r}; delete {scores_dir} or pick another run_dir")
    for name in models:
        if name in old_models:
            open_arrays(scores_dir, name, n, "r")  # size check
        else:
            create_arrays(scores_dir, name, n)
    manifest = {**(extra or {}), **header, "models": {**old_models, **models}}
    write_manifest(path, manifest)
    return manifest


def check_scores(scores_dir: str | Path, *, expected: dict, names: list[str]) -> tuple[dict, dict[str, ModelArrays]]:
    """For a consuming stage: the manifest must match ``expected`` (e.g. dataset_fingerprint, template_hash,
    n_examples), list every model in ``names`` and every row of those models must be done."""
    scores_dir = Path(scores_dir)
    manifest = check_manifest(scores_dir / MANIFEST, expected, what="scores folder")
    n = manifest["n_examples"]
    out = {}
    for name in names:
        if name not in manifest.get("models", {}):
            raise ManifestMismatch(f"{scores_dir / MANIFEST}: no scores for model {name!r} (have "
                                   f"{sorted(manifest.get('models', {}))}); run `python -m harness atlantis score` with that model set")
        arrs = open_arrays(scores_dir, name, n, "r")
        missing = np.flatnonzero(arrs.done == 0)
        if missing.size:
            raise ManifestMismatch(f"{scores_dir}: {missing.size} of {n} rows of {name!r} are not scored yet "
                                   f"(first indices {missing[:10].tolist()}); run `python -m harness atlantis score` again to finish")
        out[name] = arrs
    return manifest, out
