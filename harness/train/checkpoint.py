"""Checkpoints that become "latest" only once complete.

Layout under ``<run_dir>/checkpoints`` (``harness.run.RunDir.checkpoints``):
    <tag>/...                  the engine's files (DeepSpeed: model + ZeRO partitions of every rank)
    <tag>/client_rank<R>.pt    per-rank client state: epoch, position in the data order, step, RNG states
    latest                     the tag of the newest *complete* checkpoint, written last and atomically by
                               rank 0 after a barrier (also the file DeepSpeed's zero_to_fp32 reads)
    hf_config/, tokenizer/     what ``export`` needs to rebuild a Hugging Face model directory
A checkpoint killed half-way never becomes ``latest``, so ``--resume`` never loads it.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch

from harness import dist
from harness.run import atomic_write, atomic_write_text

LATEST = "latest"


def restart_mode(files) -> str:
    """What a stage that (re)starts a training run in ``files`` (a ``harness.run.TrainFiles``) should do, in one
    place for every caller: "done" (its export exists: reuse it), "resume" (a complete checkpoint), "overwrite"
    (stopped before its first checkpoint: outputs but nothing to resume from), "fresh" (nothing there)."""
    if (Path(files.export) / "config.json").is_file():
        return "done"
    if (Path(files.checkpoints) / LATEST).is_file():
        return "resume"
    return "overwrite" if Path(files.metrics).exists() or Path(files.checkpoints).exists() else "fresh"


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(s: dict) -> None:
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def save(engine, root: str | Path, tag: str, client: dict, *, keep: int = 0) -> None:
    """Collective: every rank saves its part; ``latest`` moves to ``tag`` only after all ranks finished; then
    rank 0 deletes all but the newest ``keep`` complete checkpoints (0 = keep all)."""
    root = Path(root)
    engine.save(root, tag)
    (root / tag).mkdir(parents=True, exist_ok=True)
    r = dist.rank()
    path = root / tag / f"client_rank{r}.pt"
    atomic_write(path, lambda tmp: torch.save({**client, "rng": rng_state(), "world": dist.world()}, tmp))
    dist.barrier()
    if r == 0:
        atomic_write_text(root / LATEST, tag)
        if keep > 0:
            prune(root, keep)
    dist.barrier()


def _step_of(tag: str) -> int:
    return int(tag[len("step"):]) if tag.startswith("step") and tag[len("step"):].isdigit() else -1


def prune(root: Path, keep: int) -> list[str]:
    """Delete the ``step<N>`` checkpoints older than the newest ``keep`` (never the one ``latest`` names)."""
    latest = (root / LATEST).read_text().strip()
    tags = sorted((p.name for p in root.iterdir() if p.is_dir() and _step_of(p.name) >= 0), key=_step_of)
    gone = [t for t in tags[:-keep] if t != latest]
    for t in gone:
        shutil.rmtree(root / t)
    return gone


def latest_tag(root: str | Path) -> str:
    """The newest complete checkpoint's tag; a clear error when there is none."""
    root = Path(root)
    f = root / LATEST
    if not root.is_dir():
        raise FileNotFoundError(f"--resume: checkpoint folder {root} does not exist (nothing to resume)")
    if not f.is_file():
        raise FileNotFoundError(f"--resume: {f} not found: no complete checkpoint in {root} (a checkpoint "
                                "becomes loadable only once every rank has finished writing it)")
    tag = f.read_text().strip()
    if not (root / tag).is_dir():
        raise FileNotFoundError(f"{f} names tag {tag!r} but {root / tag} is missing")
    return tag


def load(engine, root: str | Path, tag: str) -> dict:
    """Load weights/optimizer/scheduler and this rank's client state (RNG restored)."""
    root = Path(root)
    path = root / tag / f"client_rank{dist.rank()}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: checkpoint {tag} was written by a different number of ranks "
                                "or is incomplete")
    client = torch.load(path, weights_only=False)
    if client["world"] != dist.world():
        raise ValueError(f"checkpoint {root / tag} was written by {client['world']} ranks, this run has "
                         f"{dist.world()}; resume with the same world size")
    engine.load(root, tag)
    set_rng_state(client.pop("rng"))
    return client
