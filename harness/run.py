"""The run folder's one owner: where every stage's files live, and the atomic write they all go through.

    <run_dir>/
      config.json            the resolved RunConfig of the training stage (score_config.json: scoring's)
      ds_config.json         the resolved DeepSpeed config (batch fields filled by the harness)
      tokenizer/             the run's tokenizer (tiny presets train one; checkpoints bring their own)
      data/<split>.jsonl     the examples every later stage reads (+ data/manifest.json)
      scores/                scoring memmaps + manifest (``scoring.out_dir``)
      weights/               weights.f32 + weights.json (manifest) + weights_stats.json (``WeightsFiles``)
      checkpoints/           <tag>/, latest, hf_config/, tokenizer/ (harness.train.checkpoint)
      metrics.jsonl          one record per logged training step
      evals.jsonl            one record per evaluation during training
      export/                the consolidated Hugging Face model
      eval.json              the evaluation of an exported model (+ predictions.txt)
      plots/                 figures
      tensorboard/           TensorBoard event files of metrics.jsonl + evals.jsonl (train.tensorboard)
      qa4re/                 QA4RE zero-shot: <split>.predictions.jsonl, <split>.metrics.json, weak_labels.jsonl

Other code asks a ``RunDir`` for paths and never joins these names itself. Every stage's path class derives from
``Files`` (``TrainFiles``: what the training loop writes; ``RunDir``; ``WeightsFiles``, ``QA4REFiles`` here;
``GenFiles``, ``DocREFiles``, ``RCPFiles`` beside their recipes). Every file is written complete or
not at all: to a temporary name in the same folder, then renamed over the target (``os.replace`` is atomic on
POSIX), so a reader never sees half a file and a crash leaves the previous version.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


class Files:
    """The one base of every run-folder path class: ``root`` and pure path arithmetic (nothing is created until a
    stage writes). Each stage's class adds its names; other code asks those classes and never joins names."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    @property
    def dir(self) -> Path:
        return self.root


class TrainFiles(Files):
    """What the training loop (harness.train.trainer) writes in its folder: every objective's run."""

    config = property(lambda self: self.root / "config.json")
    ds_config = property(lambda self: self.root / "ds_config.json")
    tokenizer = property(lambda self: self.root / "tokenizer")
    checkpoints = property(lambda self: self.root / "checkpoints")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    evals = property(lambda self: self.root / "evals.jsonl")
    export = property(lambda self: self.root / "export")
    tensorboard = property(lambda self: self.root / "tensorboard")


class RunDir(TrainFiles):
    """The ATLANTIS / SFT run folder: the loop's files plus data, scores, weights, evaluation, plots, QA4RE."""

    def __init__(self, root: str | Path, scores_subdir: str = "scores"):
        super().__init__(root)
        self.scores = self.root / scores_subdir

    score_config = property(lambda self: self.root / "score_config.json")
    data = property(lambda self: self.root / "data")
    weights_dir = property(lambda self: self.root / "weights")
    weights_files = property(lambda self: WeightsFiles(self.weights_dir))
    weights = property(lambda self: self.weights_files.data)
    weights_manifest = property(lambda self: self.weights_files.manifest)
    weights_stats = property(lambda self: self.weights_files.stats)
    eval_json = property(lambda self: self.root / "eval.json")
    predictions = property(lambda self: self.root / "predictions.txt")
    plots = property(lambda self: self.root / "plots")
    qa4re = property(lambda self: QA4REFiles(self.root / "qa4re"))

    def examples(self, split: str) -> Path:
        return self.data / f"{split}.jsonl"


class WeightsFiles(Files):
    """The weights stage's files in one folder (``RunDir.weights_dir``, or wherever ``train.weights_file``
    points): the memmap, its manifest beside it, and the statistics."""

    @classmethod
    def beside(cls, weights_path: str | Path) -> WeightsFiles:
        """The files that belong with a ``weights.f32`` at ``weights_path`` (its manifest sits beside it)."""
        return cls(Path(weights_path).parent)

    data = property(lambda self: self.root / "weights.f32")
    manifest = property(lambda self: self.root / "weights.json")
    stats = property(lambda self: self.root / "weights_stats.json")


class QA4REFiles(Files):
    """The QA4RE stages' files (qa4re eval | label): per-split predictions and metrics, and the weak labels."""

    weak_labels = property(lambda self: self.root / "weak_labels.jsonl")

    def predictions(self, split: str) -> Path:
        return self.root / f"{split}.predictions.jsonl"

    def metrics(self, split: str) -> Path:
        return self.root / f"{split}.metrics.json"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` fills a temporary file beside ``path``, which then replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | Path, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_jsonl(path: str | Path, rows) -> Path:
    """One JSON object per line (UTF-8, non-ASCII kept), atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    return atomic_write(path, write)


def atomic_write_dir(path: str | Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp_dir)`` fills a fresh folder beside ``path``, which then replaces ``path`` (the old folder is
    removed first: a crash between the two leaves no ``path`` rather than a mixed one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
    try:
        write(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path
