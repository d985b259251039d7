"""What rank 0 writes once every relation is finished: the dataset folder, every candidate, the rejects, the metrics
and (last) the manifest.

samples/ is a ``data.dataset=jsonl`` folder: train.jsonl = the accepted samples (relation order, then step, then
candidate) plus ``gen.gold_per_relation`` gold training examples per relation (the first ones of
``harness.recipes.gen.generate.gold_order``, so they include the gold seeds); dev.jsonl = a seeded ``gen.dev_fraction`` of
the generated samples (not written when empty: the jsonl reader then splits train itself); test.jsonl = the real
test split of the dataset. Train it with ``data.dataset=jsonl data.data_dir=<run>/samples`` (and
``data.label_space`` = the dataset's space to keep its label order and metric view).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from harness.cli import InputError
from harness.data.examples import Example, fingerprint
from harness.data.registry import dev_split
from harness.manifest import git_revision, library_versions, read_json, write_manifest
from harness.recipes.gen.config import GenRunConfig
from harness.recipes.gen.files import GenFiles
from harness.recipes.gen.generate import gold_order
from harness.recipes.gen.metrics import sample_metrics
from harness.recipes.gen.parse import to_example
from harness.recipes.gen.prompt import Sample, prompt_hash
from harness.run import atomic_write_json, atomic_write_jsonl


def reader_record(ex: Example) -> dict:
    """An example as harness.data.readers.jsonl reads it: the marked text (no spans: the reader derives them)."""
    return {"id": ex.id, "text": ex.text, "label": ex.label, "split": ex.split, "head": ex.head, "tail": ex.tail}


def write_split(examples: list[Example], path) -> None:
    atomic_write_jsonl(path, (reader_record(ex) for ex in examples))


def read_states(files: GenFiles, n: int) -> list[dict]:
    return [read_json(files.state(i), "generation state") for i in range(n)]


def generated_examples(states: list[dict]) -> list[Example]:
    return [to_example(Sample(**a["sample"]), a["id"], s["relation"]) for s in states for a in s["accepted"]]


def counts_of(state: dict) -> dict:
    cands = [c for p in state["prompts"] for c in p["candidates"]]
    rejects = Counter(c["reason"] for c in cands if c["reason"])
    return {"candidates": len(cands), "accepted": len(state["accepted"]), "rejects": dict(rejects)}


def candidate_rows(states: list[dict]) -> list[dict]:
    return [{"relation": s["relation"], "relation_index": s["index"], **p} for s in states for p in s["prompts"]]


def reject_rows(states: list[dict]) -> list[dict]:
    return [{"relation": s["relation"], "step": p["step"], "j": c["j"], "reason": c["reason"], "text": c["text"]}
            for s in states for p in s["prompts"] for c in p["candidates"] if c["reason"]]


def write_outputs(cfg: GenRunConfig, splits, states: list[dict], files: GenFiles, model_id: dict) -> dict:
    """Everything after the loop (rank 0). Returns the manifest. Refuses (InputError) an empty training set after
    writing the candidates, rejects and metrics that explain it."""
    g = cfg.gen
    atomic_write_jsonl(files.candidates, candidate_rows(states))
    atomic_write_jsonl(files.rejects, reject_rows(states))
    counts = {s["relation"]: counts_of(s) for s in states}
    sentences = {s["relation"]: [a["sample"]["sentence"] for a in s["accepted"]] for s in states}
    metrics = sample_metrics(sentences, counts)
    atomic_write_json(files.metrics, metrics)
    generated = generated_examples(states)
    gold = [ex for s in states
            for ex in gold_order(splits.train, s["relation"], g.seed, s["index"])[:g.gold_per_relation]]
    gold = [dataclasses.replace(ex, split="train", weak_label=None, is_noisy=False) for ex in gold]
    train, dev = dev_split(generated, g.dev_fraction, g.seed)
    train = train + gold
    if not train:
        raise InputError(f"no training samples: all {metrics['overall']['candidates']} candidates were rejected "
                         f"({metrics['overall']['rejects']}; see {files.rejects}); use a stronger generator, more "
                         "gen.max_steps, or add gold examples with gen.gold_per_relation")
    write_split(train, files.split("train"))
    files.split("dev").unlink(missing_ok=True)
    if dev:
        write_split(dev, files.split("dev"))
    write_split(splits.test, files.split("test"))
    manifest = {"stage": "gen", "config": cfg.to_dict(), "prompt_hash": prompt_hash(), "generator": model_id,
                "data_fingerprints": splits.info["fingerprints"], "label_space": splits.label_space.name,
                "counts": {"generated": len(generated), "gold": len(gold), "train": len(train), "dev": len(dev),
                           "test": len(splits.test)},
                "fingerprints": {"train": fingerprint(train), "dev": fingerprint(dev),
                                 "test": fingerprint(splits.test)},
                "git_revision": git_revision(), "versions": library_versions()}
    write_manifest(files.manifest, manifest)
    return manifest
