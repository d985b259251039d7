"""The shipped DeepSpeed configs leave every batch field to the harness, so any micro-batch, accumulation and world
size resolves (the GPU cases run micro-batch 1, 2 and 4); a field a user states is still checked."""

from pathlib import Path

import pytest

from harness.config import TrainConfig
from harness.train.dsconfig import BATCH_FIELDS, DSConfigError, read_ds_config, resolve_ds_config

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "ds_configs").glob("*.json"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_dsconfig_shipped_configs_state_no_batch_field(path):
    ds = read_ds_config(path)
    assert not set(BATCH_FIELDS) & set(ds), f"{path.name} states {set(BATCH_FIELDS) & set(ds)}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
@pytest.mark.parametrize("micro,gas,world", [(1, 1, 1), (2, 4, 1), (4, 1, 8), (1, 2, 16)])
def test_dsconfig_shipped_configs_resolve_for_any_batch(path, micro, gas, world):
    tc = TrainConfig(micro_batch=micro, grad_accum=gas, grad_clip=0.5)
    out = resolve_ds_config(read_ds_config(path), tc, world, source=str(path))
    assert out["train_micro_batch_size_per_gpu"] == micro
    assert out["gradient_accumulation_steps"] == gas
    assert out["train_batch_size"] == micro * gas * world
    assert out["gradient_clipping"] == 0.5


def test_dsconfig_stated_field_still_checked():
    with pytest.raises(DSConfigError, match="train_micro_batch_size_per_gpu = 8 disagrees"):
        resolve_ds_config({"train_micro_batch_size_per_gpu": 8}, TrainConfig(micro_batch=2), 1, source="x.json")
