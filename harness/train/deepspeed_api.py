"""The one module that imports DeepSpeed (house rule; tests/test_boundaries.py checks it). The rest of
``harness.train`` imports this module lazily, where it needs DeepSpeed, so importing the package stays free of it."""

from __future__ import annotations

import deepspeed
from deepspeed.ops.adam import DeepSpeedCPUAdam
from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

__all__ = ["DeepSpeedCPUAdam", "estimate_zero3_model_states_mem_needs", "gathered", "get_fp32_state_dict_from_zero_checkpoint", "init_distributed",
           "initialize", "register_external_parameter"]


def gathered(params, modifier_rank: int | None):
    """``deepspeed.zero.GatheredParameters``: the full ZeRO-3 parameters inside the block (collective)."""
    return deepspeed.zero.GatheredParameters(params, modifier_rank=modifier_rank)


def register_external_parameter(module, param) -> None:
    """Tell ZeRO-3 that ``module``'s forward uses ``param`` of another module (fetched before that forward)."""
    deepspeed.zero.register_external_parameter(module, param)


def initialize(**kw):
    return deepspeed.initialize(**kw)


def init_distributed(**kw) -> None:
    deepspeed.init_distributed(**kw)
