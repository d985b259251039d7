"""Entity types for QA4RE's type constraints, read from the dataset files beside the examples.

``Example`` carries no entity types, so the QA4RE stages read them here, keyed by the example ids the readers
give (same id rules as ``harness.data.readers.tacred`` / ``conll04``):
  tacred   ``subj_type`` / ``obj_type`` of each record (e.g. PERSON, CITY), id = ``id`` or ``<split>:r<index>``
  conll04  the SpERT entity types (Peop, Loc, Org, Other) of the pair ``conll04:<split>:<sent>:<h>:<t>``
Other datasets have none (SemEval's one type key covers every pair; the synthetic set has no types).
"""

from __future__ import annotations

from pathlib import Path

from harness.config import DataConfig
from harness.data.readers.conll04 import load_records
from harness.manifest import read_json_list

SPLITS = ("train", "dev", "test")


def _tacred_types(folder: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for split in SPLITS:
        for idx, rec in enumerate(read_json_list(folder / f"{split}.json", "TACRED", "TACRED records")):
            if isinstance(rec, dict) and rec.get("subj_type") and rec.get("obj_type"):
                ex_id = str(rec["id"]) if rec.get("id") is not None else f"{split}:r{idx}"
                out[ex_id] = (str(rec["subj_type"]), str(rec["obj_type"]))
    return out


def _conll04_types(folder: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for split in SPLITS:
        for idx, rec in enumerate(load_records(folder / f"conll04_{split}.json")):
            key = str(rec["orig_id"]) if rec.get("orig_id") is not None else f"r{idx}"
            ents = rec["entities"]
            for h in range(len(ents)):
                for t in range(len(ents)):
                    if h != t:
                        out[f"conll04:{split}:{key}:{h}:{t}"] = (ents[h]["type"], ents[t]["type"])
    return out


def entity_types(cfg: DataConfig) -> dict[str, tuple[str, str]] | None:
    """``{example id: (head type, tail type)}`` for tacred / conll04 data, else None (no type constraints)."""
    readers = {"tacred": _tacred_types, "conll04": _conll04_types}
    if cfg.dataset not in readers:
        return None
    return readers[cfg.dataset](Path(cfg.data_dir))
