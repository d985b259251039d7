"""DeepSpeed JSON configs: read verbatim, check the batch fields against the harness config, fill the missing ones.

No ``"auto"`` values: a DS config either states a batch field (and it must agree with ``TrainConfig`` and the
world size) or leaves it out (the harness fills it). Disagreement stops the run before any model is built. The
shipped configs (ds_configs/) state none of BATCH_FIELDS, so one file serves every micro-batch, accumulation and
world size; the resolved config is written into the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import InputError

BATCH_FIELDS = ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size",
                "gradient_clipping")


class DSConfigError(InputError):
    """The DeepSpeed config disagrees with the harness config or is malformed."""


def read_ds_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DSConfigError(f"DeepSpeed config not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DSConfigError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from e
    if not isinstance(data, dict):
        raise DSConfigError(f"{path}: expected a JSON object at top level")
    return data


def _find_auto(node, where: str) -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _find_auto(v, f"{where}.{k}")]
    return [where] if node == "auto" else []


def resolve_ds_config(ds: dict, train_cfg, world: int, *, source: str = "<ds config>") -> dict:
    """A copy of ``ds`` with batch fields and gradient clipping checked/filled from ``train_cfg`` and ``world``."""
    autos = _find_auto(ds, "")
    if autos:
        raise DSConfigError(f"{source}: \"auto\" values are not allowed (fields {autos}); state them or leave "
                            "the batch fields out so the harness fills them")
    if "optimizer" in ds or "scheduler" in ds:
        raise DSConfigError(f"{source}: remove the 'optimizer'/'scheduler' sections; the harness builds them from "
                            f"train.optimizer, train.lr, train.schedule")
    out = json.loads(json.dumps(ds))
    micro, gas = train_cfg.micro_batch, train_cfg.grad_accum
    want = {
        "train_micro_batch_size_per_gpu": (micro, "train.micro_batch"),
        "gradient_accumulation_steps": (gas, "train.grad_accum"),
        "train_batch_size": (micro * gas * world, f"train.micro_batch x train.grad_accum x world size {world}"),
    }
    for key, (value, what) in want.items():
        if key in out and out[key] != value:
            raise DSConfigError(f"{source}: {key} = {out[key]!r} disagrees with the harness ({what} = {value}); "
                                f"change one of them (or drop {key} from the DeepSpeed config)")
        out[key] = value
    clip = train_cfg.grad_clip if train_cfg.grad_clip > 0 else 0.0
    if "gradient_clipping" in out and float(out["gradient_clipping"]) != float(clip):
        raise DSConfigError(f"{source}: gradient_clipping = {out['gradient_clipping']!r} disagrees with "
                            f"train.grad_clip = {train_cfg.grad_clip}")
    out["gradient_clipping"] = clip
    return out


def zero_stage(ds: dict) -> int:
    return int(ds.get("zero_optimization", {}).get("stage", 0))


def offloads_optimizer(ds: dict) -> bool:
    dev = ds.get("zero_optimization", {}).get("offload_optimizer", {}).get("device", "none")
    return dev not in ("none", None)


def precision(ds: dict) -> str:
    """float32 | bfloat16 | float16, from the DS config's bf16/fp16 sections."""
    if ds.get("bf16", {}).get("enabled"):
        return "bfloat16"
    if ds.get("fp16", {}).get("enabled"):
        return "float16"
    return "float32"
