"""The harness engines (harness.train.engine) driving the RCP loss, with two learning rates.

The engines' interface, checkpoints, clipping and schedule are the harness's; only the construction differs:
the loss module is ``RCPLoss`` around the RCP model, and the optimizer gets two parameter groups, the encoder at
``lr`` and the new layers (extractors, bilinear) at ``head_lr`` (the reference code's grouping). The schedule's
factor multiplies each group's own peak.
"""

from __future__ import annotations

from harness import dist
from harness.docre.rcp.model import RCPLoss
from harness.train.dsconfig import offloads_optimizer, zero_stage
from harness.train.engine import DSEngine, PlainEngine, make_optimizer, make_scheduler
from harness.train.normaliser import ds_backward_scale


def param_groups(model, head_lr: float) -> list[dict]:
    head = set(model.head_parameters())
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if n not in head]},
            {"params": [p for n, p in named if n in head], "lr": head_lr}]


class RCPPlainEngine(PlainEngine):
    """Single-process torch (the reference in tests, and CPU runs)."""

    def __init__(self, model, cfg, total_steps: int):  # cfg: RCPConfig
        if dist.world() > 1:
            raise RuntimeError("the plain engine is single-process; pass a DeepSpeed config for more ranks")
        tc = cfg.train_config()
        self.model = model
        self.module = RCPLoss(model, pos_weight=cfg.pos_weight)
        self.optimizer = make_optimizer(param_groups(model, cfg.head_lr), tc)
        self.scheduler = make_scheduler(self.optimizer, tc, total_steps)
        self.gas, self.clip = tc.grad_accum, tc.grad_clip
        self.micro, self._norm, self._lr = 0, 0.0, tc.lr


class RCPDSEngine(DSEngine):
    """``deepspeed.initialize`` around ``RCPLoss`` (ZeRO-2/3 per the DeepSpeed config)."""

    def __init__(self, model, cfg, total_steps: int, ds_config: dict):
        from harness.train import deepspeed_api

        tc = cfg.train_config()
        self._keep, self.ds_config = None, ds_config
        self.zero3 = zero_stage(ds_config) == 3
        self.model = model
        self.module = RCPLoss(model, pos_weight=cfg.pos_weight)
        opt = make_optimizer(param_groups(model, cfg.head_lr), tc, offload=offloads_optimizer(ds_config))
        sched = make_scheduler(opt, tc, total_steps)
        self.engine, self.optimizer, _, self.scheduler = deepspeed_api.initialize(
            model=self.module, optimizer=opt, lr_scheduler=sched, config=ds_config, dist_init_required=False)
        self.scale = ds_backward_scale(tc.grad_accum, dist.world())
        self._lr = tc.lr
