"""The dataset registry: ``name -> DatasetSpec(read, default label space, default template, metric view)``.

Adding a dataset is a reader file under ``harness/data/readers/`` and one entry in ``REGISTRY`` (a short
``read`` adapter that finds the files under ``data.data_dir``, splits and checks labels). ``load_splits``
dispatches through here only; ``harness.eval.metrics`` picks the figures it adds by ``metric_view``.

Datasets and their files (``DataConfig.data_dir``):
  semeval    <dir>/TRAIN_FILE.TXT, <dir>/TEST_FILE_FULL.TXT; dev = seeded ``dev_fraction`` of the train file
  conll04    <dir>/conll04_{train,dev,test}.json (SpERT format); the official dev split
  jsonl      <dir>/train.jsonl, <dir>/test.jsonl, optional <dir>/dev.jsonl (else a seeded dev split);
             or a single .jsonl file whose records carry ``split``
  synthetic  no files (``harness.data.synthetic``); dev = seeded ``dev_fraction`` of its train part
  tacred     <dir>/{train,dev,test}.json in the TACRED JSON format (TACRED, TACREV, Re-TACRED); official dev
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.config import DataConfig
from harness.data.examples import Example
from harness.data.labels import NO_RELATION, LabelSpace
from harness.data.readers import CONLL04_MODES, read_conll04, read_jsonl, read_semeval
from harness.data.readers.semeval import TEST_FILE, TRAIN_FILE
from harness.data.readers.tacred import TACRED_NO_RELATION, read_tacred
from harness.data.synthetic import make_synthetic

SPLIT_NAMES = ("train", "dev", "test")


@dataclass(frozen=True)
class Read:
    """What a dataset's ``read`` hands ``load_splits`` (before the example caps and the noise)."""
    source: list[Example]  # the training file's examples (train + dev held out of it): ids weak labels may name
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    space: LabelSpace  # every example's label is in it (the configured space, or one derived from the data)
    files: list[Path]  # the files read (their sizes and hashes go into the manifest)
    dev_source: str  # where the dev split came from, in words


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # the data.dataset value
    read: Callable[[DataConfig, LabelSpace | None], Read]  # None: no configured or default space; derive one
    default_space: Callable[[DataConfig], str | None]  # a labels.SPACES name, or None (derived by ``read``)
    default_template: str  # a prompts.TEMPLATES name
    metric_view: str  # a harness.eval.metrics.METRIC_VIEWS name: the figures evaluation adds to the common ones
    spaces: tuple[str, ...]  # names of the label spaces this dataset defines (evaluation finds the view by them)
    needs_files: bool = True  # False: built in, no data.data_dir


def dev_split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """``(train, dev)``: ``round(fraction * n)`` examples chosen with ``seed`` become dev (split="dev");
    both keep the input order."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"dev_fraction must be in [0, 1), got {fraction}")
    n_dev = round(fraction * len(examples))
    chosen = set(np.random.default_rng(seed).permutation(len(examples))[:n_dev].tolist())
    train = [ex for i, ex in enumerate(examples) if i not in chosen]
    dev = [dataclasses.replace(ex, split="dev") for i, ex in enumerate(examples) if i in chosen]
    return train, dev


def need_files(folder: Path, names: list[str], dataset: str) -> list[Path]:
    paths = [folder / n for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"data.dataset={dataset}: data.data_dir={str(folder)!r} lacks {missing}; "
                                f"expected the files {names}")
    return paths


def check_space(examples: list[Example], space: LabelSpace, source: str) -> None:
    for ex in examples:
        if ex.label not in space:
            raise ValueError(f"{source}: example {ex.id!r}: label {ex.label!r} is not in label space "
                             f"{space.name} {space.labels}")


def space_from_labels(name: str, examples: list[Example], none_label: str) -> LabelSpace:
    """The sorted labels seen in ``examples``; ``none_label`` is the no-relation label when it occurs."""
    labels = tuple(sorted({ex.label for ex in examples}))
    return LabelSpace(name, labels, none_label if none_label in labels else None)


def check_unique_ids(parts: list[list[Example]], where: str) -> None:
    all_ids = [ex.id for part in parts for ex in part]
    if len(set(all_ids)) != len(all_ids):
        dup = sorted({i for i in all_ids if all_ids.count(i) > 1})[:5]
        raise ValueError(f"{where}: example ids repeat across splits, e.g. {dup}")


def _read_semeval(cfg: DataConfig, space: LabelSpace) -> Read:
    if space.name not in ("semeval19", "semeval10"):
        raise ValueError(f"data.label_space={space.name!r} does not fit SemEval; use semeval19 or semeval10")
    train_p, test_p = need_files(Path(cfg.data_dir), [TRAIN_FILE, TEST_FILE], "semeval")
    collapse = space.name == "semeval10"
    source = read_semeval(train_p, "train", collapse=collapse)
    test = read_semeval(test_p, "test", collapse=collapse)
    train, dev = dev_split(source, cfg.dev_fraction, cfg.split_seed)
    return Read(source, train, dev, test, space, [train_p, test_p], f"seeded {cfg.dev_fraction} of {TRAIN_FILE}")


def _read_conll04(cfg: DataConfig, space: LabelSpace | None) -> Read:
    if cfg.conll04_mode not in CONLL04_MODES:
        raise ValueError(f"data.conll04_mode={cfg.conll04_mode!r}; expected one of {CONLL04_MODES}")
    paths = need_files(Path(cfg.data_dir), [f"conll04_{s}.json" for s in SPLIT_NAMES], "conll04")
    train, dev, test = (read_conll04(p, s, cfg.conll04_mode) for p, s in zip(paths, SPLIT_NAMES))
    for part, p in zip((train, dev, test), paths):
        check_space(part, space, str(p))
    return Read(train, train, dev, test, space, paths, "official conll04_dev.json")


def _jsonl_parts(cfg: DataConfig, space: LabelSpace | None) -> tuple[dict, list[Path]]:
    root = Path(cfg.data_dir)
    if root.is_file():
        rows = read_jsonl(root, "train", space)
        return {s: [ex for ex in rows if ex.split == s] for s in SPLIT_NAMES}, [root]
    files = need_files(root, ["train.jsonl", "test.jsonl"], "jsonl")
    parts = {"train": read_jsonl(files[0], "train", space), "test": read_jsonl(files[1], "test", space), "dev": []}
    if (root / "dev.jsonl").is_file():
        files.append(root / "dev.jsonl")
        parts["dev"] = read_jsonl(root / "dev.jsonl", "dev", space)
    return parts, files


def _read_jsonl(cfg: DataConfig, space: LabelSpace | None) -> Read:
    parts, files = _jsonl_parts(cfg, space)
    check_unique_ids([parts[s] for s in SPLIT_NAMES], cfg.data_dir)
    if not parts["train"] or not parts["test"]:
        raise ValueError(f"{cfg.data_dir}: expected train and test examples; found "
                         f"{len(parts['train'])} train, {len(parts['test'])} test")
    source, dev_source = parts["train"], "dev.jsonl / split=dev records"
    train, dev = parts["train"], parts["dev"]
    if not dev:
        train, dev = dev_split(source, cfg.dev_fraction, cfg.split_seed)
        dev_source = f"seeded {cfg.dev_fraction} of the training records"
    space = space or space_from_labels("custom", train + dev + parts["test"], NO_RELATION)
    return Read(source, train, dev, parts["test"], space, files, dev_source)


def _read_synthetic(cfg: DataConfig, space: LabelSpace) -> Read:
    source, test = make_synthetic(cfg.synthetic_size, cfg.synthetic_seed, cfg.synthetic_test_size)
    check_space(source + test, space, "synthetic set")
    train, dev = dev_split(source, cfg.dev_fraction, cfg.split_seed)
    return Read(source, train, dev, test, space, [], f"seeded {cfg.dev_fraction} of the synthetic training part")


def _read_tacred(cfg: DataConfig, space: LabelSpace | None) -> Read:
    paths = need_files(Path(cfg.data_dir), [f"{s}.json" for s in SPLIT_NAMES], "tacred")
    train, dev, test = (read_tacred(p, s) for p, s in zip(paths, SPLIT_NAMES))
    check_unique_ids([train, dev, test], cfg.data_dir)
    space = space or space_from_labels("tacred", train + dev + test, TACRED_NO_RELATION)
    for part, p in zip((train, dev, test), paths):
        check_space(part, space, str(p))
    return Read(train, train, dev, test, space, paths, "official dev.json")


def _fixed(name: str | None) -> Callable[[DataConfig], str | None]:
    return lambda cfg: name


_CONLL04_SPACE = {"gold-pairs": "conll04", "all-pairs": "conll04_all"}

REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("semeval", _read_semeval, _fixed("semeval10"), "semeval", "semeval", ("semeval19", "semeval10")),
    DatasetSpec("conll04", _read_conll04, lambda cfg: _CONLL04_SPACE.get(cfg.conll04_mode), "conll04", "conll04",
                ("conll04", "conll04_all")),
    DatasetSpec("jsonl", _read_jsonl, _fixed(None), "semeval", "relations", ("custom",)),
    DatasetSpec("synthetic", _read_synthetic, _fixed("synthetic"), "synthetic", "relations", ("synthetic",),
                needs_files=False),
    DatasetSpec("tacred", _read_tacred, _fixed(None), "tacred", "tacred", ("tacred", "retacred")),
)}
DATASETS = tuple(REGISTRY)
DEFAULT_METRIC_VIEW = "relations"  # label spaces no dataset defines (e.g. a hand-built LabelSpace)


def get_dataset(name: str) -> DatasetSpec:
    if name not in REGISTRY:
        raise ValueError(f"data.dataset={name!r}; expected one of {DATASETS}")
    return REGISTRY[name]


def metric_view_of(space_name: str) -> str:
    """The metric view of the dataset that defines label space ``space_name`` (``DEFAULT_METRIC_VIEW`` if none)."""
    for spec in REGISTRY.values():
        if space_name in spec.spaces:
            return spec.metric_view
    return DEFAULT_METRIC_VIEW
