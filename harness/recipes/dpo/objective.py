"""DPO and IPO on the harness's one loop: the loss, the ZeRO-3-safe loss module, and the preference objective.

The loss (``PreferenceSpec``; per pair; pi / ref = the policy's / reference's log-prob of a completion given the prompt):
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
summed on the host from this rank's micro-batches and all-reduced before any forward
(``harness.train.objective.global_sum``: the pair counterpart of harness.train.normaliser.step_normaliser);
DeepSpeed's backward scaling is undone by the engine as for every loss. ``train.micro_batch`` counts pairs;
``train.norm_mode`` does not apply.

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
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.data.tokenize import collate, pack
from harness.kernels import weighted_linear_cross_entropy
from harness.models.label_rows import body_hidden, gather_label_rows, lm_head_of
from harness.recipes.dpo import preference as pref
from harness.run import RunDir
from harness.train import engine as eng
from harness.train.data import dropped
from harness.train.loss import WeightedLoss
from harness.train.objective import Objective, build_lm, global_sum

LOSSES = ("dpo", "ipo")


@dataclass(frozen=True)
class PreferenceSpec:
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
    def from_config(cls, dcfg) -> PreferenceSpec:
        return cls(loss=dcfg.loss, beta=dcfg.beta, label_smoothing=dcfg.label_smoothing,
                   ipo_average=dcfg.ipo_average)

    @property
    def averages(self) -> bool:
        """Whether log-probs are per-token means (ipo with ipo_average) rather than sums."""
        return self.loss == "ipo" and self.ipo_average


def preference_losses(pi_c, pi_r, ref_c, ref_r, obj: PreferenceSpec) -> tuple[torch.Tensor, torch.Tensor]:
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

    def __init__(self, model, *, objective: PreferenceSpec, norm_mode: str = "sequence", impl: str = "auto",
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


class PreferenceObjective(Objective):
    """The preference objective on the one loop (harness.train.trainer): items are pairs, a micro-batch holds the
    2k sequences of its k pairs plus their reference log-probs, the normaliser is the step's global pair count.
    Set-up: ``prepare`` (config, pairs, tokens), then ``score_reference()`` (the reference pass, skipped when its
    memmaps are complete), then the Trainer's build (``build_model`` loads the checked reference scores first)."""

    stage = "dpo"
    unit = "pairs"

    def __init__(self, cfg):
        self.cfg, self.train_cfg, self.files = cfg, cfg.train, RunDir(cfg.run_dir)

    sections = ("data", "model", "train", "dpo")

    def prepare(self, trainer) -> None:
        from harness.models.load import family_of, resolve_config
        from harness.models.tokenizer import shared_tokenizer

        self.objective = PreferenceSpec.from_config(self.cfg.dpo)  # bad dpo.* settings: one line
        if self.train_cfg.weights_file:
            raise ValueError("train.weights_file does not apply to DPO (every pair counts once); unset it")
        self.pairs = pref.read_pairs(self.cfg.dpo.pairs_file)
        self.tok = tok = shared_tokenizer(self.cfg.model, pref.pair_texts(self.pairs), self.files.tokenizer)
        self.mcfg = resolve_config(self.cfg.model.large, len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
        if family_of(self.mcfg) != "causal":
            raise ValueError(f"DPO trains causal models; model.large={self.cfg.model.large} is {family_of(self.mcfg)}")
        self.seq_enc = pref.encode_pairs(self.pairs, tok)
        self.items = pref.PairView(self.seq_enc)  # harness.train.data orders and splits pairs
        self.packed = self.train_cfg.packing
        self.train_dtype = eng.training_dtype(self.cfg.model.dtype, trainer.ds_config)  # the reference's precision

    def describe(self, trainer) -> str:
        tc, o, n = self.train_cfg, self.objective, len(self.items)
        return (f"dpo: {n} pairs, global batch {trainer.gbs} pairs ({tc.micro_batch} x {tc.grad_accum} x "
                f"{trainer.world} ranks), {trainer.steps_per_epoch} steps/epoch, {trainer.total} steps; "
                f"{dropped(n, trainer.gbs)} pairs/epoch dropped; {o.loss}, beta {o.beta}, label "
                f"smoothing {o.label_smoothing}, reference {pref.reference_spec(self.cfg)}")

    def score_reference(self, on_batch=None) -> PreferenceObjective:
        """The reference pass, in the policy's training precision (harness.train.engine.training_dtype)."""
        pref.score_reference(self.cfg, self.pairs, self.seq_enc, self.tok, on_batch=on_batch,
                             train_dtype=self.train_dtype)
        return self

    def build_model(self, trainer):
        self.ref = pref.load_reference(self.cfg, self.pairs, self.seq_enc, self.tok, train_dtype=self.train_dtype)
        return build_lm(trainer, self.cfg.model, self.tok, self.train_cfg.seed)

    def loss_module(self, model, zero3: bool):
        return PreferenceLoss(model, objective=self.objective, norm_mode=self.train_cfg.norm_mode,
                              impl=self.train_cfg.loss_impl, zero3=zero3)

    def batch(self, pair_ids: list[int]) -> dict:
        seqs = pref.sequence_indices(pair_ids)
        b = (pack(self.seq_enc, seqs, self.train_cfg.tokens_per_micro_batch) if self.packed
             else collate(self.seq_enc, seqs))
        b["ref_logps"] = torch.from_numpy(self.ref.values(pair_ids, self.objective.averages))
        return b

    def normaliser(self, batches: list[dict], micro: list[list[int]]) -> float:
        return global_sum(sum(len(m) for m in micro))  # the step's pairs

    def forward(self, engine, batch: dict, normaliser: float, idx: list[int]):
        loss = engine.forward(batch, None, normaliser)
        return loss, engine.module.stats  # sum r_c, sum r_r, pairs with r_c > r_r

    def readout(self, stats: list[float], normaliser: float) -> dict:
        r_c, r_r, correct = stats
        n = normaliser
        return {"rewards_chosen": r_c / n, "rewards_rejected": r_r / n, "reward_margin": (r_c - r_r) / n,
                "reward_accuracy": correct / n}

    def sequences(self, micro: list[list[int]]) -> int:
        return 2 * sum(len(m) for m in micro)


def dpo_trainer(cfg, ds_path=None, **kw):
    """The one loop (harness.train.trainer.Trainer) on ``PreferenceObjective(cfg)``; keyword arguments as
    ``Trainer``. Its objective is ``trainer.objective`` (``score_reference`` between prepare and build)."""
    from harness.train.trainer import Trainer

    return Trainer(PreferenceObjective(cfg), ds_path, **kw)


def run_dpo(cfg, ds_path=None, **kw) -> dict:
    """The DPO stage: read and check the inputs (one-line errors through harness.cli), score the reference once,
    train, export. Keyword arguments as ``Trainer`` (resume, overwrite, dist_timeout_s, export, on_step).
    Returns ``Trainer.train``'s summary (its ``engine`` must be dropped before ``harness.dist.destroy``)."""
    from harness.train.trainer import run

    objective = PreferenceObjective(cfg)
    return run(objective, ds_path, before_build=objective.score_reference, **kw)
