"""The data stage's one entry point: ``load_splits(DataConfig) -> Splits``, and ``write_splits`` / ``read_splits``.

Datasets and their files (``DataConfig.data_dir``):
  semeval    <dir>/TRAIN_FILE.TXT, <dir>/TEST_FILE_FULL.TXT; dev = seeded ``dev_fraction`` of the train file
  conll04    <dir>/conll04_{train,dev,test}.json (SpERT format); the official dev split
  jsonl      <dir>/train.jsonl, <dir>/test.jsonl, optional <dir>/dev.jsonl (else a seeded dev split);
             or a single .jsonl file whose records carry ``split``
  synthetic  no files (``harness.data.synthetic``); dev = seeded ``dev_fraction`` of its train part
Order of operations: read -> dev split -> ``max_train_examples`` / ``max_eval_examples`` (first N in order) ->
noise or weak labels on train only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.config import DataConfig
from harness.data.examples import Example, fingerprint, read_examples_jsonl, write_jsonl
from harness.data.labels import NO_RELATION, LabelSpace, get_space
from harness.data.noise import apply_weak_labels, uniform_noise
from harness.data.prompts import DEFAULT_TEMPLATE, Template, get_template
from harness.data.readers import CONLL04_MODES, read_conll04, read_jsonl, read_semeval
from harness.data.readers.semeval import TEST_FILE, TRAIN_FILE
from harness.data.synthetic import make_synthetic
from harness.manifest import git_revision, library_versions, read_manifest, write_manifest

DATASETS = ("semeval", "conll04", "jsonl", "synthetic")
DEFAULT_SPACE = {"semeval": "semeval10", "synthetic": "synthetic",
                 ("conll04", "gold-pairs"): "conll04", ("conll04", "all-pairs"): "conll04_all"}
SPLIT_NAMES = ("train", "dev", "test")


@dataclass
class Splits:
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    label_space: LabelSpace
    template: Template
    info: dict  # dataset, data_files, dev_ids, noise report, fingerprints, counts, config


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


def _file_info(path: Path) -> dict:
    data = path.read_bytes()
    return {"path": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()[:16]}


def _need(folder: Path, names: list[str], dataset: str) -> list[Path]:
    paths = [folder / n for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"data.dataset={dataset}: data.data_dir={str(folder)!r} lacks {missing}; "
                                f"expected the files {names}")
    return paths


def _check_space(examples: list[Example], space: LabelSpace, source: str) -> None:
    for ex in examples:
        if ex.label not in space:
            raise ValueError(f"{source}: example {ex.id!r}: label {ex.label!r} is not in label space "
                             f"{space.name} {space.labels}")


def _read_semeval(cfg: DataConfig, space: LabelSpace):
    if space.name not in ("semeval19", "semeval10"):
        raise ValueError(f"data.label_space={space.name!r} does not fit SemEval; use semeval19 or semeval10")
    train_p, test_p = _need(Path(cfg.data_dir), [TRAIN_FILE, TEST_FILE], "semeval")
    collapse = space.name == "semeval10"
    source = read_semeval(train_p, "train", collapse=collapse)
    test = read_semeval(test_p, "test", collapse=collapse)
    train, dev = dev_split(source, cfg.dev_fraction, cfg.split_seed)
    return source, train, dev, test, [train_p, test_p], f"seeded {cfg.dev_fraction} of {TRAIN_FILE}"


def _read_conll04(cfg: DataConfig, space: LabelSpace):
    if cfg.conll04_mode not in CONLL04_MODES:
        raise ValueError(f"data.conll04_mode={cfg.conll04_mode!r}; expected one of {CONLL04_MODES}")
    paths = _need(Path(cfg.data_dir), [f"conll04_{s}.json" for s in SPLIT_NAMES], "conll04")
    train, dev, test = (read_conll04(p, s, cfg.conll04_mode) for p, s in zip(paths, SPLIT_NAMES))
    for part, p in zip((train, dev, test), paths):
        _check_space(part, space, str(p))
    return train, train, dev, test, paths, "official conll04_dev.json"


def _read_jsonl(cfg: DataConfig, space: LabelSpace | None):
    root = Path(cfg.data_dir)
    if root.is_file():
        files = [root]
        rows = read_jsonl(root, "train", space)
        parts = {s: [ex for ex in rows if ex.split == s] for s in SPLIT_NAMES}
    else:
        files = _need(root, ["train.jsonl", "test.jsonl"], "jsonl")
        parts = {"train": read_jsonl(files[0], "train", space), "test": read_jsonl(files[1], "test", space),
                 "dev": []}
        if (root / "dev.jsonl").is_file():
            files.append(root / "dev.jsonl")
            parts["dev"] = read_jsonl(root / "dev.jsonl", "dev", space)
    all_ids = [ex.id for s in SPLIT_NAMES for ex in parts[s]]
    if len(set(all_ids)) != len(all_ids):
        dup = sorted({i for i in all_ids if all_ids.count(i) > 1})[:5]
        raise ValueError(f"{cfg.data_dir}: example ids repeat across splits, e.g. {dup}")
    if not parts["train"] or not parts["test"]:
        raise ValueError(f"{cfg.data_dir}: expected train and test examples; found "
                         f"{len(parts['train'])} train, {len(parts['test'])} test")
    source, dev_source = parts["train"], "dev.jsonl / split=dev records"
    train, dev = parts["train"], parts["dev"]
    if not dev:
        train, dev = dev_split(source, cfg.dev_fraction, cfg.split_seed)
        dev_source = f"seeded {cfg.dev_fraction} of the training records"
    return source, train, dev, parts["test"], files, dev_source


def _custom_space(examples: list[Example]) -> LabelSpace:
    labels = tuple(sorted({ex.label for ex in examples}))
    return LabelSpace("custom", labels, NO_RELATION if NO_RELATION in labels else None)


def _resolve_space(cfg: DataConfig) -> LabelSpace | None:
    if cfg.label_space:
        return get_space(cfg.label_space)
    if cfg.dataset == "conll04":
        return get_space(DEFAULT_SPACE[("conll04", cfg.conll04_mode)]) if cfg.conll04_mode in CONLL04_MODES else None
    return get_space(DEFAULT_SPACE[cfg.dataset]) if cfg.dataset in DEFAULT_SPACE else None


def load_splits(cfg: DataConfig) -> Splits:
    """Read, split, cap and (train only) corrupt a dataset as ``cfg`` says. Raises ValueError / FileNotFoundError
    naming the file and line (or record) on bad input."""
    if cfg.dataset not in DATASETS:
        raise ValueError(f"data.dataset={cfg.dataset!r}; expected one of {DATASETS}")
    if cfg.max_train_examples < 0 or cfg.max_eval_examples < 0:
        raise ValueError("data.max_train_examples and data.max_eval_examples must be >= 0 (0 = all)")
    if cfg.noise_rate and cfg.weak_labels:
        raise ValueError("set data.noise_rate or data.weak_labels, not both")
    if cfg.dataset != "synthetic" and not cfg.data_dir:
        raise ValueError(f"data.dataset={cfg.dataset} needs data.data_dir (the folder holding its files)")
    space = _resolve_space(cfg)
    if cfg.dataset == "semeval":
        source, train, dev, test, files, dev_source = _read_semeval(cfg, space)
    elif cfg.dataset == "conll04":
        source, train, dev, test, files, dev_source = _read_conll04(cfg, space)
    elif cfg.dataset == "jsonl":
        source, train, dev, test, files, dev_source = _read_jsonl(cfg, space)
        space = space or _custom_space(train + dev + test)
    else:
        source, test = make_synthetic(cfg.synthetic_size, cfg.synthetic_seed)
        _check_space(source + test, space, "synthetic set")
        train, dev = dev_split(source, cfg.dev_fraction, cfg.split_seed)
        files, dev_source = [], f"seeded {cfg.dev_fraction} of the synthetic training part"
    if cfg.max_train_examples:
        train = train[: cfg.max_train_examples]
    if cfg.max_eval_examples:
        dev, test = dev[: cfg.max_eval_examples], test[: cfg.max_eval_examples]
    noise = None
    if cfg.weak_labels:
        train, noise = apply_weak_labels(train, cfg.weak_labels, space, {ex.id for ex in source})
        files = [*files, Path(cfg.weak_labels)]
    elif cfg.noise_rate:
        train, noise = uniform_noise(train, space, cfg.noise_rate, cfg.noise_seed)
    template = get_template(cfg.template or DEFAULT_TEMPLATE[cfg.dataset])
    info = {
        "dataset": cfg.dataset, "config": dataclasses.asdict(cfg),
        "data_files": [_file_info(Path(p)) for p in files],
        "label_space": space.name, "labels": list(space.labels), "none_label": space.none_label,
        "template": template.name, "template_hash": template.hash,
        "dev_source": dev_source, "dev_ids": [ex.id for ex in dev], "noise": noise,
        "counts": {"train": len(train), "dev": len(dev), "test": len(test)},
        "fingerprints": {"train": fingerprint(train), "dev": fingerprint(dev), "test": fingerprint(test)},
    }
    return Splits(train, dev, test, space, template, info)


def write_splits(splits: Splits, out_dir: str | Path) -> Path:
    """``{train,dev,test}.jsonl`` (each written atomically) and ``manifest.json`` (last) under ``out_dir``."""
    out_dir = Path(out_dir)
    for name in SPLIT_NAMES:
        write_jsonl(getattr(splits, name), out_dir / f"{name}.jsonl")
    manifest = {"stage": "data", **splits.info, "git_revision": git_revision(), "versions": library_versions(),
                "files": {name: f"{name}.jsonl" for name in SPLIT_NAMES}}
    write_manifest(out_dir / "manifest.json", manifest)
    return out_dir / "manifest.json"


def read_splits(out_dir: str | Path) -> Splits:
    """What ``write_splits`` wrote; checks counts, fingerprints and the template hash against the manifest."""
    out_dir = Path(out_dir)
    man = read_manifest(out_dir / "manifest.json")
    parts = {name: read_examples_jsonl(out_dir / man["files"][name]) for name in SPLIT_NAMES}
    for name, exs in parts.items():
        if fingerprint(exs) != man["fingerprints"][name]:
            raise ValueError(f"{out_dir / man['files'][name]}: content fingerprint {fingerprint(exs)} differs "
                             f"from the manifest's {man['fingerprints'][name]}; the file was changed")
    space = LabelSpace(man["label_space"], tuple(man["labels"]), man["none_label"])
    template = get_template(man["template"])
    if template.hash != man["template_hash"]:
        raise ValueError(f"{out_dir / 'manifest.json'}: template {template.name!r} now hashes to {template.hash}, "
                         f"the manifest recorded {man['template_hash']}")
    return Splits(parts["train"], parts["dev"], parts["test"], space, template, man)


def to_dataset(examples: list[Example]):
    """An Arrow-backed ``datasets.Dataset`` view of examples (one row per example, same order, with
    ``train_label``), for ``map``-style batch processing downstream."""
    import datasets

    features = datasets.Features({
        "id": datasets.Value("string"), "text": datasets.Value("string"), "head": datasets.Value("string"),
        "tail": datasets.Value("string"), "head_span": datasets.Sequence(datasets.Value("int64"), length=2),
        "tail_span": datasets.Sequence(datasets.Value("int64"), length=2), "label": datasets.Value("string"),
        "split": datasets.Value("string"), "weak_label": datasets.Value("string"),
        "is_noisy": datasets.Value("bool"), "train_label": datasets.Value("string"),
    })
    rows = [{**ex.to_json(), "train_label": ex.train_label} for ex in examples]
    return datasets.Dataset.from_list(rows, features=features)
