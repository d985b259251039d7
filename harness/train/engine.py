"""Engine setup: model construction (partitioned at load under ZeRO-3), client optimizer, warm-up + decay
schedule, and the small engine interface the loop talks to:

    forward(batch, example_weights, normaliser) -> loss     this micro-batch's share of the step loss
    backward(loss)                                          grads of the exact step objective
    step()                                                  called every micro-batch; updates at the boundary
    grad_norm() -> Tensor | float, lr() -> float            of the last optimizer step (the norm may be a
                                                            device tensor: read it with the step's loss, one sync)
    save(dir, tag), load(dir, tag)                          weights + optimizer + scheduler (all ranks)
    head_params() -> context manager yielding (weight, bias) of the full LM head
    state_dict_for_export() -> full state dict on rank 0 (None elsewhere)

``PlainEngine`` is single-process torch (the reference in tests); ``DSEngine`` wraps ``deepspeed.initialize``.
Both take the objective's loss module (``module=``; default ``loss_cls``, the weighted CE) and optimizer parameter
groups (``param_groups=``; default every trainable parameter at train.lr).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch

from harness import dist
from harness.models.label_rows import lm_head_of
from harness.models.load import build_model, canonical_dtype, is_preset, pick_attn
from harness.train.dsconfig import offloads_optimizer, precision, zero_stage
from harness.train.loss import WeightedLoss
from harness.train.normaliser import ds_backward_scale


def lr_factor(step: int, total_steps: int, warmup_ratio: float, schedule: str, warmup_steps: int = 0) -> float:
    """Multiplier f(s) of the peak lr: the LambdaLR below is evaluated at optimizer steps s = 0 .. T-1
    (T = ``total_steps``) and step s runs at lr = peak * f(s).

    Warm-up: W = ceil(warmup_ratio * T) steps when warmup_ratio > 0 (so at least 1; 0.03 over 10 steps gives W = 1,
    one step at half the peak rather than none), at most T - 1 (a warm-up that would fill the run ends at the peak
    on its last step: 3 steps at ratio 0.5 give W = 2, 1/3, 2/3, 1). They ramp linearly below the peak,
    f(s) = (s + 1) / (W + 1) for s < W: the line from 0 at step -1 to 1 at step W, so no step runs at lr 0.
    Peak: f(W) = 1 at step W, the only step at the peak for cosine / linear.
    Decay from step W: p = (s - W) / (T - W), f = (1 + cos(pi p)) / 2 (cosine), 1 - p (linear), 1 (constant).
    p reaches 1 one step AFTER the last, so the last step's factor is > 0 and f(T) = 0 (cosine / linear);
    the decay is the mirror image of the warm-up. Any run of T >= W + 2 steps decays (T = 3, W = 1: 1/2, 1, 1/2).
    ``warmup_steps`` > 0 sets W directly (train.warmup_steps, e.g. LMRC's 100), capped at T - 1 the same way;
    0 leaves W to ``warmup_ratio``.
    W and the peak step match transformers' get_{cosine,linear}_schedule_with_warmup with num_warmup_steps = W;
    its warm-up s / W starts at lr 0 (a wasted step), this one at peak / (W + 1).
    """
    if schedule not in ("cosine", "linear", "constant"):
        raise ValueError(f"train.schedule must be cosine | linear | constant, got {schedule!r}")
    if total_steps < 1 or step < 0:
        raise ValueError(f"lr schedule needs total_steps >= 1 and step >= 0, got step {step} of {total_steps}")
    if not 0.0 <= warmup_ratio <= 1.0:
        raise ValueError(f"train.warmup_ratio must be in [0, 1] (a fraction of the steps), got {warmup_ratio}")
    if warmup_steps < 0:
        raise ValueError(f"train.warmup_steps must be >= 0 (0 = use warmup_ratio), got {warmup_steps}")
    # the 1e-9 keeps a product that float rounding lifts past an integer (0.07 * 100 = 7.000000000000001) at it
    warm = max(1, math.ceil(warmup_ratio * total_steps - 1e-9)) if warmup_ratio > 0 else 0
    warm = warmup_steps or warm
    warm = min(warm, total_steps - 1)
    if step < warm:
        return (step + 1) / (warm + 1)
    if schedule == "constant":
        return 1.0
    progress = min((step - warm) / (total_steps - warm), 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress)) if schedule == "cosine" else 1.0 - progress


def make_scheduler(optimizer, train_cfg, total_steps: int):
    """LambdaLR with ``lr_factor``: construct it before the first optimizer step and call ``step()`` after each
    one, so optimizer step s (0-based) runs at train_cfg.lr * lr_factor(s, ...). Bad settings raise here (LambdaLR
    evaluates f(0) on construction)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, train_cfg.warmup_ratio, train_cfg.schedule,
                                       getattr(train_cfg, "warmup_steps", 0)))


def make_optimizer(params, train_cfg, *, offload: bool = False):
    """Client optimizer: torch AdamW, bitsandbytes AdamW8bit, or DeepSpeedCPUAdam when ZeRO offloads it."""
    kw = dict(lr=train_cfg.lr, weight_decay=train_cfg.weight_decay, betas=(0.9, 0.999), eps=1e-8)
    if train_cfg.optimizer == "adamw8bit":
        if offload:
            raise ValueError("train.optimizer=adamw8bit cannot be used with offload_optimizer (bitsandbytes states "
                             "live on the device); use adamw or drop the offload")
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, **kw)
    if train_cfg.optimizer != "adamw":
        raise ValueError(f"train.optimizer must be adamw | adamw8bit, got {train_cfg.optimizer!r}")
    if offload:
        from harness.train import deepspeed_api

        return deepspeed_api.DeepSpeedCPUAdam(params, adamw_mode=True, **kw)
    # torch's fused AdamW (CPU and CUDA): one vectorised kernel over all parameters instead of a per-tensor
    # loop (the measured difference is in benchmarks/README.md, "Optimizer step")
    return torch.optim.AdamW(params, fused=True, **kw)


def training_dtype(model_dtype: str, ds_config: dict | None) -> str:
    """The precision the model trains in: the DeepSpeed config's bf16/fp16 section (``model.dtype`` must be auto
    or agree), else ``model.dtype`` ("auto" is picked per device at build: ``pick_dtype``)."""
    if ds_config is None:
        return model_dtype
    ds_dtype = precision(ds_config)
    if model_dtype != "auto" and canonical_dtype(model_dtype) != ds_dtype:
        raise ValueError(f"model.dtype={model_dtype} disagrees with the DeepSpeed config's precision "
                         f"({ds_dtype}); set model.dtype=auto or change the bf16/fp16 section")
    return ds_dtype


def construct_model(model_cfg, *, vocab_size: int, pad_id: int, eos_id: int, seed: int, device,
                    ds_config: dict | None):
    """Build the large model; under ZeRO-3 an ``HfDeepSpeedConfig`` is alive during construction so every
    parameter is partitioned at load (HF init kept). Returns (model, keepalive) - hold ``keepalive``."""
    keep = None
    dtype = training_dtype(model_cfg.dtype, ds_config)
    attn = pick_attn(model_cfg.attn_impl, device)
    kw = dict(vocab_size=vocab_size, dtype=dtype, device=device, attn_impl=attn, seed=seed, pad_id=pad_id,
              eos_id=eos_id)
    if ds_config is None or zero_stage(ds_config) != 3:
        return build_model(model_cfg.large, **kw), None
    from transformers.integrations import HfDeepSpeedConfig

    # Tiny random-init presets: zero.Init draws a different random stream than a plain build, so the seeded plain
    # init is built first and copied into the partitioned model (the ZeRO-3 parity tests compare against the plain
    # engine). Shape presets (``*-shape``: benchmark and planning sizes up to 7B) are built once, partitioned, with
    # HF's own init: a plain 7B build first would cost a second full model per worker. Checkpoints load their
    # weights partitioned, shard by shard, and never exist whole on one rank.
    tiny = is_preset(model_cfg.large) and not model_cfg.large.endswith("-shape")
    init = build_model(model_cfg.large, **kw).state_dict() if tiny else None
    keep = HfDeepSpeedConfig(ds_config)
    model = build_model(model_cfg.large, **kw)
    if init is not None:
        _copy_into_partitioned(model, init)
    return model, keep


def _copy_into_partitioned(model, state: dict) -> None:
    from harness.train import deepspeed_api

    named = dict(model.named_parameters())
    with deepspeed_api.gathered(list(named.values()), modifier_rank=0):
        if dist.rank() == 0:
            with torch.no_grad():
                for name, p in named.items():
                    p.copy_(state[name])


def _enable_checkpointing(model) -> None:
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 (the old name goes in v6)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class PlainEngine:
    """Single-process torch: the reference the DeepSpeed runs are compared with."""

    loss_cls = WeightedLoss  # the loss module class (harness.train.baseline swaps in the full-logits baseline)

    def __init__(self, model, train_cfg, total_steps: int, *, module=None, param_groups=None):
        if dist.world() > 1:
            raise RuntimeError("PlainEngine is single-process; use a DeepSpeed config for more ranks")
        if train_cfg.activation_checkpointing:
            _enable_checkpointing(model)
        self.model = model
        self.module = module if module is not None else self.loss_cls(model, norm_mode=train_cfg.norm_mode,
                                                                       impl=train_cfg.loss_impl)
        self.optimizer = make_optimizer(param_groups or [p for p in model.parameters() if p.requires_grad],
                                        train_cfg)
        self.scheduler = make_scheduler(self.optimizer, train_cfg, total_steps)
        self.gas, self.clip = train_cfg.grad_accum, train_cfg.grad_clip
        self.micro, self._norm, self._lr = 0, 0.0, train_cfg.lr

    def forward(self, batch, example_weights, normaliser):
        self.module.train()
        return self.module(batch, example_weights, normaliser)

    def backward(self, loss):
        loss.backward()

    def step(self):
        self.micro += 1
        if self.micro % self.gas:
            return
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.clip > 0:
            self._norm = torch.nn.utils.clip_grad_norm_(params, self.clip).detach()
        else:
            self._norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])).detach()
        self._lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def grad_norm(self):
        return self._norm

    def lr(self) -> float:
        return self._lr

    def save(self, ckpt_dir: str | Path, tag: str) -> None:
        path = Path(ckpt_dir) / tag
        path.mkdir(parents=True, exist_ok=True)
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "micro": self.micro}, path / "plain_state.pt")

    def load(self, ckpt_dir: str | Path, tag: str) -> None:
        state = torch.load(Path(ckpt_dir) / tag / "plain_state.pt", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.micro = state["micro"]

    @contextlib.contextmanager
    def head_params(self):
        head = lm_head_of(self.model)
        yield head.weight, head.bias

    def state_dict_for_export(self):
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


class DSEngine:
    """``deepspeed.initialize`` around ``WeightedLoss`` with a client optimizer and scheduler."""

    loss_cls = WeightedLoss  # the loss module class (harness.train.baseline swaps in the full-logits baseline)

    def __init__(self, model, train_cfg, total_steps: int, ds_config: dict, keepalive=None, *, module=None,
                 param_groups=None):
        from harness.train import deepspeed_api

        self._keep = keepalive
        self.ds_config = ds_config
        self.zero3 = zero_stage(ds_config) == 3
        if train_cfg.activation_checkpointing:
            _enable_checkpointing(model)
        self.model = model
        self.module = module if module is not None else self.loss_cls(
            model, norm_mode=train_cfg.norm_mode, impl=train_cfg.loss_impl, zero3=self.zero3)
        params = param_groups or [p for p in model.parameters() if p.requires_grad]
        opt = make_optimizer(params, train_cfg, offload=offloads_optimizer(ds_config))
        sched = make_scheduler(opt, train_cfg, total_steps)
        self.engine, self.optimizer, _, self.scheduler = deepspeed_api.initialize(
            model=self.module, optimizer=opt, lr_scheduler=sched, config=ds_config, dist_init_required=False)
        self.scale = ds_backward_scale(train_cfg.grad_accum, dist.world())
        self._lr = train_cfg.lr

    def forward(self, batch, example_weights, normaliser):
        self.engine.train()
        return self.engine(batch, example_weights, normaliser)

    def backward(self, loss):
        self.engine.backward(loss * self.scale)  # harness.train.normaliser.ds_backward_scale says why

    def step(self):
        if self.engine.is_gradient_accumulation_boundary():
            self._lr = self.scheduler.get_last_lr()[0]
        self.engine.step()

    def grad_norm(self):
        norm = self.engine.get_global_grad_norm()
        return norm if norm is not None else float("nan")

    def lr(self) -> float:
        return self._lr

    def save(self, ckpt_dir: str | Path, tag: str) -> None:
        self.engine.save_checkpoint(str(ckpt_dir), tag=tag, save_latest=False)

    def load(self, ckpt_dir: str | Path, tag: str) -> None:
        path, _ = self.engine.load_checkpoint(str(ckpt_dir), tag=tag, load_optimizer_states=True,
                                              load_lr_scheduler_states=True)
        if path is None:
            raise FileNotFoundError(f"DeepSpeed could not load checkpoint {ckpt_dir}/{tag}")

    @contextlib.contextmanager
    def head_params(self):
        """The full LM head (weight, bias), gathered on every rank (collective: call on all ranks)."""
        head = lm_head_of(self.model)
        ps = [p for p in (head.weight, head.bias) if p is not None]
        if not self.zero3:
            yield head.weight, head.bias
            return
        from harness.train import deepspeed_api

        with deepspeed_api.gathered(ps, modifier_rank=None):
            yield head.weight, head.bias

    def state_dict_for_export(self):
        """Consolidated full state dict of the HF model on rank 0 (collective: call on all ranks)."""
        if self.zero3:
            sd = self.engine._zero3_consolidated_16bit_state_dict()
        else:
            sd = self.engine.module.state_dict()
        if not dist.env_info().is_main or sd is None:
            return None
        return {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")}


def dist_timeout_init(timeout_s: float | None = None):
    """Process group + DeepSpeed's comm layer (gloo on CPU, NCCL on CUDA)."""
    import datetime

    from harness.train import deepspeed_api

    dist.init(timeout_s)
    kw = {"timeout": datetime.timedelta(seconds=timeout_s)} if timeout_s else {}
    deepspeed_api.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo", **kw)
