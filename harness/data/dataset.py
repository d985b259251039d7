"""The data stage: ``load_splits(DataConfig) -> Splits`` reads a dataset; ``prepare_splits`` does it once per run
folder (``write_splits`` -> ``<run>/data/{train,dev,test}.jsonl`` + manifest) and every later stage or resume in
that folder reads the written examples back (``read_splits``: fingerprints checked against the manifest).

The datasets, their files and defaults are entries of ``harness.data.registry.REGISTRY``.
Order of operations: read -> dev split -> ``max_train_examples`` / ``max_eval_examples`` (first N in order) ->
noise or weak labels on train only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from harness.config import DataConfig
from harness.data.examples import Example, fingerprint, read_examples_jsonl, write_jsonl
from harness.data.labels import LabelSpace, get_space
from harness.data.noise import apply_weak_labels, uniform_noise
from harness.data.prompts import Template, get_template
from harness.data.registry import SPLIT_NAMES, DatasetSpec, dev_split, get_dataset
from harness.manifest import git_revision, library_versions, read_manifest, write_manifest

__all__ = ["Splits", "dev_split", "load_splits", "prepare_splits", "read_splits", "to_dataset", "write_splits"]


@dataclass
class Splits:
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    label_space: LabelSpace
    template: Template
    info: dict  # dataset, data_files, dev_ids, noise report, fingerprints, counts, config


def _file_info(path: Path) -> dict:
    data = path.read_bytes()
    return {"path": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()[:16]}


def _check_config(cfg: DataConfig, spec: DatasetSpec) -> None:
    if cfg.max_train_examples < 0 or cfg.max_eval_examples < 0:
        raise ValueError("data.max_train_examples and data.max_eval_examples must be >= 0 (0 = all)")
    if cfg.noise_rate and cfg.weak_labels:
        raise ValueError("set data.noise_rate or data.weak_labels, not both")
    if spec.needs_files and not cfg.data_dir:
        raise ValueError(f"data.dataset={cfg.dataset!r} needs data.data_dir (the folder holding its files)")


def _configured_space(cfg: DataConfig, spec: DatasetSpec) -> LabelSpace | None:
    """``data.label_space`` when set, else the dataset's default; None when the reader derives it."""
    name = cfg.label_space or spec.default_space(cfg)
    return get_space(name) if name else None


def load_splits(cfg: DataConfig) -> Splits:
    """Read, split, cap and (train only) corrupt a dataset as ``cfg`` says. Raises ValueError / FileNotFoundError
    naming the file and line (or record) on bad input."""
    spec = get_dataset(cfg.dataset)
    _check_config(cfg, spec)
    read = spec.read(cfg, _configured_space(cfg, spec))
    train, dev, test, space, files = read.train, read.dev, read.test, read.space, list(read.files)
    if cfg.max_train_examples:
        train = train[: cfg.max_train_examples]
    if cfg.max_eval_examples:
        dev, test = dev[: cfg.max_eval_examples], test[: cfg.max_eval_examples]
    noise = None
    if cfg.weak_labels:
        train, noise = apply_weak_labels(train, cfg.weak_labels, space, {ex.id for ex in read.source})
        files = [*files, Path(cfg.weak_labels)]
    elif cfg.noise_rate:
        train, noise = uniform_noise(train, space, cfg.noise_rate, cfg.noise_seed)
    template = get_template(cfg.template or spec.default_template)
    info = {
        "dataset": cfg.dataset, "config": dataclasses.asdict(cfg),
        "data_files": [_file_info(Path(p)) for p in files],
        "label_space": space.name, "labels": list(space.labels), "none_label": space.none_label,
        "template": template.name, "template_hash": template.hash,
        "dev_source": read.dev_source, "dev_ids": [ex.id for ex in dev], "noise": noise,
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


def prepare_splits(cfg: DataConfig, out_dir: str | Path, *, is_writer: bool = True, wait=lambda: None) -> Splits:
    """The run's examples: written once under ``out_dir`` (by the process with ``is_writer``; the others
    ``wait()`` for it, e.g. a barrier), read back by every process and every later stage. A folder prepared
    under a different data config is refused, naming the fields that differ."""
    out_dir = Path(out_dir)
    manifest = out_dir / "manifest.json"
    if is_writer and not manifest.is_file():
        write_splits(load_splits(cfg), out_dir)
    wait()
    want = json.loads(json.dumps(dataclasses.asdict(cfg)))
    have = read_manifest(manifest).get("config", {})
    differ = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if differ:
        raise ValueError(f"{manifest}: the examples in this run folder were prepared under another data config "
                         f"(fields {', '.join(f'data.{k}: {have.get(k)!r} there, {want.get(k)!r} now' for k in differ)})"
                         "; use a new run folder, or the data config the folder was prepared with")
    return read_splits(out_dir)


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
