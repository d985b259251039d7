"""The objective protocol: what a task plugs into the one training loop (``harness.train.trainer.Trainer``).

The loop owns step planning (world size, global batch, steps), the world-size-independent data order
(harness.train.data), the engines, the step readout (loss, grad norm, tokens/s, MFU, memory: one device-to-host
copy and one host all-reduce per step), logging, checkpoints and exact resume, the run-folder claim and the
settings check, the evaluation and export calls. An objective supplies only what is its own:

    stage, describe                      names for the lock, the messages and the start-up line
    train_cfg, files                     the TrainConfig the engines read; the run folder's paths
    config_dict(), settings(d)           the config written to files.config; its result-changing fields
                                         (flat ``{"section.key": value}``): a resume must match them
    outputs()                            the paths a finished or started run leaves (a fresh run refuses them
                                         unless --overwrite, which deletes them)
    prepare(trainer)                     read the inputs (inside ``input_errors``): data, tokenizer, ``items``
    items, unit                          the ordered view (``len``, ``n_tokens(i)``) and what one item is
    build_model(trainer)                 -> (model, keepalive); loss_module(model, zero3); param_groups(model)
    batch(idx)                           one micro-batch on the host
    normaliser(batches, micro)           the step's global normaliser (all-reduced before any forward)
    forward(engine, batch, normaliser, idx) -> (loss share, stats [k] float64 on the device)
    readout(stats_sums, normaliser)      metric record entries from the stats summed over micro-batches and ranks
    sequences(micro), flops_per_token    for tokens/s and MFU
    evaluate(trainer, step, epoch, loss) on every rank (ZeRO-3 collectives), at eval points
    state_dict() / load_state_dict(d)    objective state carried in checkpoints (e.g. the best epoch)
    export(trainer), summary()           after the last step

``Objective`` below gives the defaults; a task overrides the public methods it needs (never the loop's).
"""

from __future__ import annotations

import torch

from harness import dist


class Objective:
    """Defaults of the protocol (see the module docstring). Subclasses set ``stage``, ``train_cfg``, ``files``
    and implement ``prepare``, ``build_model``, ``loss_module``, ``batch``, ``normaliser``."""

    stage = "train"  # the run-folder lock's stage name and the checkpoint's owner
    unit = "examples"  # what one item of ``items`` is (log lines, errors)
    what = "a training run"  # what a used run folder holds (the refusal message)
    items = None
    mcfg = None  # the model's HF config (FLOPs per token), set by build or prepare
    packed = False  # micro-batches are packed rows (tokens/s and MFU take the mean sequence length then)
    tok = None  # the tokenizer (returned in the loop's summary)

    # ---- config and run folder --------------------------------------------------------------------------
    def config_dict(self) -> dict:
        return self.cfg.to_dict()

    sections: tuple | None = None  # the config sections whose result fields a resume must match (None: all)

    def settings(self, config: dict | None = None) -> dict:
        """The result-changing fields (flat, harness.config.settings) of ``config`` (a recorded config.json) or
        of this run's config, over ``sections``."""
        from harness.config import settings

        return settings(self.cfg if config is None else config, self.sections, cls=type(self.cfg))

    def outputs(self) -> list:
        f = self.files
        return [f.checkpoints, f.metrics, f.evals, f.export]

    def describe(self, trainer) -> str:
        return (f"{self.stage}: {len(self.items)} {self.unit}, global batch {trainer.gbs} ({self.train_cfg.micro_batch}"
                f" x {self.train_cfg.grad_accum} x {trainer.world} ranks), {trainer.steps_per_epoch} steps/epoch, "
                f"{trainer.total} steps")

    # ---- model ------------------------------------------------------------------------------------------
    def param_groups(self, model):
        """Optimizer parameter groups (None: every trainable parameter at train.lr)."""
        return None

    # ---- one step -----------------------------------------------------------------------------------------
    def batch(self, idx: list[int]) -> dict:
        """One micro-batch on the host from ``items`` (a harness.data.tokenize.Encoded): packed rows of at most
        ``train.tokens_per_micro_batch`` tokens when ``packed``, else padded."""
        from harness.data.tokenize import collate, pack

        if self.packed:
            return pack(self.items, idx, self.train_cfg.tokens_per_micro_batch)
        return collate(self.items, idx)

    def to_device(self, batch: dict, device) -> dict:
        return {k: v.to(device) for k, v in batch.items()}

    def forward(self, engine, batch: dict, normaliser: float, idx: list[int]):
        """(this micro-batch's share of the step loss, stats [k] float64 detached on the loss's device). The default
        gives every item weight 1 (the weighted CE's per-example weights; other loss modules ignore them)."""
        loss = engine.forward(batch, torch.ones(len(idx), dtype=torch.float32), normaliser)
        return loss, loss.new_zeros(0, dtype=torch.float64)

    def readout(self, stats: list[float], normaliser: float) -> dict:
        return {}

    def sequences(self, micro: list[list[int]]) -> int:
        """Sequences of this rank's micro-batches (packed rows: the mean sequence length is tokens / this)."""
        return sum(len(m) for m in micro)

    def flops_per_token(self, n_matmul: int, seq: float) -> float | None:
        if self.mcfg is None:
            return None
        from harness.train import metrics as tm

        return tm.flops_per_token(self.mcfg, n_matmul, seq)

    # ---- evaluation, state, end --------------------------------------------------------------------------
    def evaluate(self, trainer, step: int, epoch: int, train_loss: float) -> None:
        """Runs on every rank at the loop's evaluation points (none by default)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore from a checkpoint's client state (which also holds the loop's keys)."""

    def export(self, trainer):
        """The trained language model as a Hugging Face folder (``files.export``); None for objectives whose
        result is written elsewhere."""
        from harness.train.export import export_live

        return export_live(trainer.engine, self.tok, self.files.export)

    def summary(self) -> dict:
        return {}


def global_sum(local: float) -> float:
    """A step normaliser: this rank's host-side count, summed over ranks (a host tensor, before any forward)."""
    return float(dist.all_reduce_sum(torch.tensor([float(local)], dtype=torch.float64)).item())


def build_lm(trainer, model_cfg, tok, seed: int):
    """The causal / seq2seq LM of a run (partitioned at load under ZeRO-3), its HF config and tokenizer saved
    beside the checkpoints on rank 0 (the export reads them). Returns (model, keepalive)."""
    from harness.train import engine as eng

    model, keep = eng.construct_model(model_cfg, vocab_size=len(tok), pad_id=tok.pad_token_id,
                                      eos_id=tok.eos_token_id, seed=seed, device=trainer.device,
                                      ds_config=trainer.ds_config)
    if trainer.info.is_main:
        model.config.save_pretrained(str(trainer.files.checkpoints / "hf_config"))
        tok.save_pretrained(str(trainer.files.checkpoints / "tokenizer"))
    return model, keep
