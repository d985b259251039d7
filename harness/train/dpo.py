"""DPO and IPO on the harness's engine: the objective, the ZeRO-3-safe loss module, and the training recipe.

Objective (per pair; pi / ref = the policy's / reference's log-prob of a completion given the prompt):
    h    = (pi_c - ref_c) - (pi_r - ref_r)                                    the log-ratio margin (nats)
    dpo  = -(1 - ls) * logsigmoid(beta * h) - ls * logsigmoid(-beta * h)       (ls = dpo.label_smoothing:
           conservative DPO, Mitchell 2023 / TRL's "sigmoid" loss; ls = 0 is Rafailov et al. 2023)
    ipo  = (h - 1 / (2 * beta))^2                                              (Azar et al. 2023)
IPO's log-probs: the paper states the loss on sequence log-probs; TRL's implementation (and its docs) average them
over the completion's tokens, which makes 1/(2 beta) a per-token target independent of length. We follow TRL by
default (``dpo.ipo_average=true``: pi and ref are per-token means, the reference's from the same counts) and keep
the sum as an option. DPO always uses sums. Label smoothing is refused for IPO (it has no flip model).
At policy = reference, h = 0: the DPO loss is log 2 (any ls) and the IPO loss 1 / (4 beta^2).

Sequence log-probs come from the fused kernel: the label rows (completion tokens + EOS) of both sequences of every
pair of the micro-batch (harness.models.label_rows), ``weighted_linear_cross_entropy(reduction="none")`` gives
-log p per row with gradients (its recompute path), summed per sequence in float64. A pair's two sequences are in
the same micro-batch (on the same rank), so its loss is computed whole. The LM head is an external parameter of the
module under ZeRO-3 (``PreferenceLoss`` subclasses harness.train.loss.WeightedLoss for exactly that).

Normalisation: the step loss is sum over the step's pairs of loss_pair / P, P = the step's global pair count,
summed on the host from this rank's micro-batches and all-reduced before any forward (``pair_normaliser``: the pair
counterpart of harness.train.normaliser.step_normaliser; DeepSpeed's backward scaling is undone by the engine as
for every loss). ``train.micro_batch`` counts pairs; ``train.norm_mode`` does not apply.

metrics.jsonl: the trainer's fixed keys (loss = the step's mean pair loss) plus the standard DPO metrics (TRL's
names in the comments), over the step's pairs, with rewards r = beta * (pi - ref):
    rewards_chosen (rewards/chosen), rewards_rejected (rewards/rejected), reward_margin (rewards/margins: mean
    r_c - r_r), reward_accuracy (rewards/accuracies: fraction of pairs with r_c > r_r strictly; where r_c = r_r
    up to rounding, as for every pair at step 1 when the reference is the policy, or a pair with identical
    completions, the comparison is decided by rounding).
No evaluation runs during DPO (``train.eval_split`` is ignored): the generation part evaluates the exported model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from harness import dist, log
from harness.cli import input_errors
from harness.data.tokenize import collate, pack
from harness.kernels import weighted_linear_cross_entropy
from harness.models.label_rows import body_hidden, gather_label_rows, lm_head_of
from harness.runstate import check_same_config, config_hash
from harness.train import engine as eng
from harness.train import metrics as tm
from harness.train import preference as pref
from harness.train.data import dropped, rank_micro_batches
from harness.train.loss import WeightedLoss
from harness.train.trainer import Trainer

LOSSES = ("dpo", "ipo")


@dataclass(frozen=True)
class Objective:
    loss: str = "dpo"  # dpo | ipo
    beta: float = 0.1  # > 0
    label_smoothing: float = 0.0  # dpo only, in [0, 0.5)
    ipo_average: bool = True  # ipo: per-token mean log-probs

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"dpo.loss must be one of {LOSSES}, got {self.loss!r}")
        if not (self.beta > 0 and math.isfinite(self.beta)):
            raise ValueError(f"dpo.beta must be a finite number > 0, got {self.beta}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ValueError(f"dpo.label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.loss == "ipo" and self.label_smoothing:
            raise ValueError("dpo.label_smoothing applies to dpo only (conservative DPO); set it to 0 for ipo")

    @classmethod
    def from_config(cls, dcfg) -> Objective:
        return cls(loss=dcfg.loss, beta=dcfg.beta, label_smoothing=dcfg.label_smoothing,
                   ipo_average=dcfg.ipo_average)

    @property
    def averages(self) -> bool:
        """Whether log-probs are per-token means (ipo with ipo_average) rather than sums."""
        return self.loss == "ipo" and self.ipo_average


def preference_losses(pi_c, pi_r, ref_c, ref_r, obj: Objective) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-pair losses [k], margins h [k]) from per-pair log-probs (any float dtype; computed in it)."""
    h = (pi_c - ref_c) - (pi_r - ref_r)
    if obj.loss == "ipo":
        return (h - 1.0 / (2.0 * obj.beta)) ** 2, h
    ls = obj.label_smoothing
    return -(1.0 - ls) * F.logsigmoid(obj.beta * h) - ls * F.logsigmoid(-obj.beta * h), h


class PreferenceLoss(WeightedLoss):
    """``forward(batch, _, normaliser) -> scalar``: this micro-batch's share of the step's preference loss.
    ``batch`` holds 2k sequences (chosen, rejected of each pair, in order) and ``ref_logps`` [2k] in the same
    order (sums, or per-token means when the objective averages). After each forward, ``stats`` holds
    [sum of chosen rewards, sum of rejected rewards, pairs with r_c > r_r] (float64, detached, on the device)."""

    def __init__(self, model, *, objective: Objective, norm_mode: str = "sequence", impl: str = "auto",
                 zero3: bool = False):
        super().__init__(model, norm_mode=norm_mode, impl=impl, zero3=zero3)
        if self.family != "causal":
            raise ValueError("DPO here trains causal models (the pairs' canonical form is prompt + completion)")
        self.objective = objective
        self.stats: torch.Tensor | None = None

    def _head_weight(self) -> torch.Tensor:
        weight = lm_head_of(self.model).weight
        if tuple(weight.shape) != self.head_shape:
            raise RuntimeError(f"LM head weight is {tuple(weight.shape)} inside the loss forward, expected the full "
                               f"{self.head_shape}: ZeRO-3 did not gather it (called outside the engine's forward?)")
        return weight

    def sequence_logps(self, batch: dict) -> torch.Tensor:
        """Per-sequence log-probs [B] float64 (sums of label rows, or means when the objective averages)."""
        rows = gather_label_rows(body_hidden(self.model, batch), batch, "causal")
        ones = torch.ones(rows.targets.shape[0], dtype=torch.float32, device=rows.hidden.device)
        ce = weighted_linear_cross_entropy(rows.hidden, self._head_weight(), rows.targets, ones,
                                           bias=lm_head_of(self.model).bias, reduction="none", impl=self.impl)
        n = rows.batch_size
        sums = torch.zeros(n, dtype=torch.float64, device=ce.device).index_add(0, rows.row_batch, -ce.double())
        if not self.objective.averages:
            return sums
        return sums / torch.bincount(rows.row_batch, minlength=n).clamp_min(1).double()

    def forward(self, batch: dict, example_weights, normaliser: float) -> torch.Tensor:
        if not normaliser > 0:
            raise ValueError(f"the step's global pair count must be > 0 (got {normaliser})")
        logps = self.sequence_logps(batch)
        ref = batch["ref_logps"].to(device=logps.device, dtype=torch.float64)
        losses, _ = preference_losses(logps[0::2], logps[1::2], ref[0::2], ref[1::2], self.objective)
        rewards = self.objective.beta * (logps.detach() - ref)
        r_c, r_r = rewards[0::2], rewards[1::2]
        self.stats = torch.stack([r_c.sum(), r_r.sum(), (r_c > r_r).sum().double()])
        return losses.sum().float() / float(normaliser)


def engine_class(objective: Objective, ds: bool):
    """PlainEngine / DSEngine with ``PreferenceLoss`` (bound to ``objective``) as the loss module."""
    base = eng.DSEngine if ds else eng.PlainEngine
    return type(f"Preference{base.__name__}", (base,),
                {"loss_cls": staticmethod(partial(PreferenceLoss, objective=objective))})


def pair_normaliser(micro: list[list[int]]) -> float:
    """The step's global pair count: this rank's micro-batches' pairs, summed over ranks (host tensor)."""
    local = torch.tensor([float(sum(len(m) for m in micro))], dtype=torch.float64)
    return float(dist.all_reduce_sum(local).item())


class DPOTrainer(Trainer):
    """The harness's Trainer (loop, checkpoints, exact resume, export) on preference pairs. ``setup()`` =
    ``prepare()`` (config, run folder, pairs, tokens) + ``score_reference()`` (the reference pass, skipped when its
    memmaps are complete) + ``build()`` (checked reference scores, model, engine, resume state)."""

    stage = "dpo"

    def setup(self) -> DPOTrainer:
        return self.prepare().score_reference().build()

    def score_reference(self, on_batch=None) -> DPOTrainer:
        pref.score_reference(self.cfg, self.pairs, self.seq_enc, self.tok, on_batch=on_batch,
                             train_dtype=eng.training_dtype(self.cfg.model.dtype, self.ds_config))
        return self

    def build(self) -> DPOTrainer:
        self.ref = pref.load_reference(self.cfg, self.pairs, self.seq_enc, self.tok,
                                       train_dtype=eng.training_dtype(self.cfg.model.dtype, self.ds_config))
        super().build()
        return self

    def _check_run_folder(self) -> None:
        super()._check_run_folder()
        if self.resume:
            check_same_config(self.run.config, self.cfg, self.stage, what="the DPO run being resumed",
                              way_out="resume with the run's own settings (its config.json), or start it over "
                                      "with --overwrite")

    def _load_data(self) -> None:
        self.objective = Objective.from_config(self.cfg.dpo)
        self.pairs = pref.read_pairs(self.cfg.dpo.pairs_file)
        self.splits, self.weights, self.template = None, None, None
        if self.tc.weights_file:
            raise ValueError("train.weights_file does not apply to DPO (every pair counts once); unset it")

    def _write_run_config(self) -> None:
        super()._write_run_config()
        self.config_hash = config_hash(self.cfg, self.stage)

    def _encode(self) -> None:
        from harness.models.load import family_of, resolve_config
        from harness.models.tokenizer import resolve_tokenizer

        texts, cache = pref.pair_texts(self.pairs), self.run.tokenizer
        tok = resolve_tokenizer(self.cfg.model, texts, cache) if dist.rank() == 0 else None
        dist.barrier()  # rank 0 trained or loaded it first (tiny presets save it to the run folder)
        self.tok = tok = tok if tok is not None else resolve_tokenizer(self.cfg.model, texts, cache)
        self.mcfg = resolve_config(self.cfg.model.large, len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
        self.family = family_of(self.mcfg)
        if self.family != "causal":
            raise ValueError(f"DPO trains causal models; model.large={self.cfg.model.large} is {self.family}")
        self.seq_enc = pref.encode_pairs(self.pairs, tok)
        self.enc = pref.PairView(self.seq_enc)  # harness.train.data orders and splits pairs
        self.packed = self.tc.packing
        gas = self.plan_steps("preference pairs")
        o = self.objective
        log.info(f"dpo: {len(self.enc)} pairs, global batch {self.gbs} pairs ({self.tc.micro_batch} x {gas} x "
                 f"{self.world} ranks), {self.steps_per_epoch} steps/epoch, {self.total} steps; "
                 f"{dropped(len(self.enc), self.gbs)} pairs/epoch dropped; {o.loss}, beta {o.beta}, label "
                 f"smoothing {o.label_smoothing}, reference {pref.reference_spec(self.cfg)}")

    def engine_classes(self) -> tuple[type, type]:
        return engine_class(self.objective, ds=False), engine_class(self.objective, ds=True)

    def _batch(self, pair_ids: list[int]) -> dict:
        seqs = pref.sequence_indices(pair_ids)
        b = (pack(self.seq_enc, seqs, self.tc.tokens_per_micro_batch) if self.packed
             else collate(self.seq_enc, seqs))
        b["ref_logps"] = torch.from_numpy(self.ref.values(pair_ids, self.objective.averages))
        return b

    def train_step(self, global_batch: list[int]) -> dict:
        """Forward/backward over this rank's micro-batches of pairs, one optimizer step; the record."""
        t0 = time.perf_counter()
        micro = rank_micro_batches(global_batch, self.enc, rank=dist.rank(), world=self.world, gas=self.tc.grad_accum)
        batches = [self._batch(idx) for idx in micro]
        n_pairs = pair_normaliser(micro)
        acc = torch.zeros(4, dtype=torch.float64, device=self.device)  # loss, sum r_c, sum r_r, r_c > r_r
        for b in batches:
            b = {k: v.to(self.device) for k, v in b.items()}
            loss = self.engine.forward(b, None, n_pairs)
            self.engine.backward(loss)
            self.engine.step()
            acc += torch.cat([loss.detach().double().reshape(1), self.engine.module.stats])
        rec = self._readout(acc, n_pairs)
        dt = time.perf_counter() - t0
        n_tok = sum(int(b["attention_mask"].sum()) for b in batches)  # host tensors: no device sync
        seq = (n_tok / (2 * sum(len(m) for m in micro)) if self.packed
               else sum(b["input_ids"].shape[1] for b in batches) / len(batches))
        tps = n_tok / dt
        mfu = tps * tm.flops_per_token(self.mcfg, self.n_matmul, seq) / self.peak if self.peak else None
        return {"step": self.step + 1, "epoch": self.epoch, **rec, "lr": self.engine.lr(), "tokens_per_s": tps,
                "step_time_s": dt, "peak_mem_gb": tm.peak_mem_gb(), "mfu": mfu}

    def _readout(self, acc: torch.Tensor, n_pairs: float) -> dict:
        """The step's one device-to-host copy (sums + grad norm), then one host all-reduce of the sums."""
        norm = torch.as_tensor(self.engine.grad_norm(), dtype=torch.float64, device=acc.device).reshape(1)
        vals = torch.cat([acc, norm]).cpu()
        sums = dist.all_reduce_sum(vals[:4].clone()).tolist()
        loss, r_c, r_r, correct = sums
        return {"loss": loss, "grad_norm": float(vals[4]), "rewards_chosen": r_c / n_pairs,
                "rewards_rejected": r_r / n_pairs, "reward_margin": (r_c - r_r) / n_pairs,
                "reward_accuracy": correct / n_pairs}

    def _evaluate(self, step: int, epoch: int, train_loss: float) -> None:
        """No label-ranking evaluation during DPO (see the module docstring)."""


def run_dpo(cfg, ds_path=None, **kw) -> dict:
    """The DPO stage: read and check the inputs (one-line errors through harness.cli), score the reference once,
    train, export. Keyword arguments as ``Trainer`` (resume, overwrite, dist_timeout_s, export, on_step).
    Returns ``Trainer.train``'s summary (its ``engine`` must be dropped before ``harness.dist.destroy``)."""
    trainer = DPOTrainer(cfg, ds_path, **kw)
    try:
        with input_errors():
            trainer.prepare()
        return trainer.score_reference().build().train()
    finally:
        trainer.release_files()
