"""Weighted cross-entropy on examples: the objective of SFT and ATLANTIS (``train.weights_file``: per-example
weights from the scoring stage; none = plain SFT), and of the stages that fine-tune on prompts (the generator
warm-up, harness.recipes.gen.warmup; the DocRE LLM stage, harness.recipes.docre.llm). ``train(cfg, ...)`` runs it.

Micro-batches of causal models are packed by default (train.packing, train.tokens_per_micro_batch: the same
examples concatenated into rows, attention confined to each example; harness.data.tokenize.pack): the step's
examples, normaliser and objective are those of the padded micro-batches, only the padding FLOPs go. The step's
normaliser (train.norm_mode) is harness.train.normaliser's. Evaluation (``train.eval_split``): exact label ranking
on every rank (ZeRO-3 needs the same forwards), rank 0 appends to evals.jsonl. Export: a Hugging Face folder.
"""

from __future__ import annotations

import torch

from harness import dist, log
from harness.config import RunConfig
from harness.data.prompts import get_template
from harness.data.tokenize import encode
from harness.models.load import family_of, resolve_config
from harness.models.tokenizer import run_tokenizer
from harness.run import RunDir
from harness.runstate import STAGE_SECTIONS
from harness.train.data import dropped, example_weights_for
from harness.train.normaliser import step_normaliser
from harness.train.objective import Objective, build_lm


class SFTObjective(Objective):
    """``cfg``: a RunConfig (data, model, train, eval); ``splits``: given examples instead of ``cfg.data``'s."""

    stage = "train"
    sections = STAGE_SECTIONS["train"]

    def __init__(self, cfg: RunConfig, *, splits=None):
        self.cfg, self.train_cfg, self.files = cfg, cfg.train, RunDir(cfg.run_dir)
        self.splits = splits

    # ---- inputs -----------------------------------------------------------------------------------------
    def prepare(self, trainer) -> None:
        if self.splits is None:
            from harness.data.dataset import prepare_splits

            self.splits = prepare_splits(self.cfg.data, self.files.data, is_writer=trainer.info.is_main,
                                         wait=dist.barrier)
        s, tc = self.splits, self.train_cfg
        self.template = s.template if s.template is not None else get_template(self.cfg.data.template)
        self.weights = None
        if tc.weights_file:
            from harness.data.examples import fingerprint
            from harness.recipes.atlantis.scoring.weights import load_weights

            self.weights = load_weights(tc.weights_file, n=len(s.train), dataset_fingerprint=fingerprint(s.train),
                                        template_hash=self.template.hash)
        tok = self.tok = run_tokenizer(self.cfg.model, s, self.files.tokenizer)
        self.mcfg = resolve_config(self.cfg.model.large, len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
        self.family = family_of(self.mcfg)
        self.items = encode(s.train, tok, self.template, self.family,
                            decoder_start_id=getattr(self.mcfg, "decoder_start_token_id", None))
        self.packed = tc.packing and self.family == "causal"
        if tc.packing and not self.packed:
            log.info("train.packing: seq2seq models train on padded micro-batches (packing is for causal models)")

    def describe(self, trainer) -> str:
        tc, n = self.train_cfg, len(self.items)
        return (f"train: {n} examples, global batch {trainer.gbs} ({tc.micro_batch} x {tc.grad_accum} x "
                f"{trainer.world} ranks), {trainer.steps_per_epoch} steps/epoch, {trainer.total} steps; "
                f"{dropped(n, trainer.gbs)} examples/epoch dropped (partial last batch); "
                f"{f'packed rows of <= {tc.tokens_per_micro_batch} tokens' if self.packed else 'padded rows'}; "
                f"{'weights ' + tc.weights_file if self.weights is not None else 'plain SFT'}")

    # ---- model ------------------------------------------------------------------------------------------
    def build_model(self, trainer):
        return build_lm(trainer, self.cfg.model, self.tok, self.train_cfg.seed)

    def loss_module(self, model, zero3: bool):
        from harness.train.loss import WeightedLoss

        return WeightedLoss(model, norm_mode=self.train_cfg.norm_mode, impl=self.train_cfg.loss_impl, zero3=zero3)

    # ---- one step -----------------------------------------------------------------------------------------
    def normaliser(self, batches: list[dict], micro: list[list[int]]) -> float:
        return step_normaliser(batches, self.family, self.train_cfg.norm_mode)

    def forward(self, engine, batch: dict, normaliser: float, idx: list[int]):
        loss = engine.forward(batch, example_weights_for(idx, self.weights), normaliser)
        return loss, loss.new_zeros(0, dtype=torch.float64)

    # ---- evaluation and export --------------------------------------------------------------------------
    def evaluate(self, trainer, step: int, epoch: int, train_loss: float) -> None:
        """Every rank runs the same evaluation forwards (ZeRO-3 needs it); rank 0 appends to evals.jsonl."""
        split = self.train_cfg.eval_split
        if not split:
            return
        from harness.eval import evaluate_model

        engine, s = trainer.engine, self.splits
        engine.module.eval()
        with torch.no_grad():
            res = evaluate_model(engine.model, self.tok, getattr(s, split), s.label_space, s.template,
                                 batch_examples=self.cfg.eval.batch_examples, head_params=engine.head_params)
        engine.module.train()
        if dist.rank() == 0:
            rec = {"step": step, "epoch": epoch, "split": split, "train_loss": train_loss}
            rec.update({k: v for k, v in dict(res).items() if isinstance(v, (int, float, str))})
            trainer.evals.write(rec)
            figures = ", ".join(f"{k} {rec[k]:.4f}" for k in ("macro_f1", "micro_f1", "accuracy") if k in rec)
            log.info(f"eval {split} at step {step}: {figures}")


def train(cfg: RunConfig, ds_path=None, *, splits=None, **kw) -> dict:
    """setup + train of a ``Trainer`` on ``SFTObjective(cfg)`` (keyword arguments as ``Trainer``); the summary of
    ``Trainer.train``. The run folder's lock is released when done (the engine stays in the summary)."""
    from harness.train.trainer import Trainer

    trainer = Trainer(SFTObjective(cfg, splits=splits), ds_path, **kw)
    try:
        return trainer.setup().train()
    finally:
        trainer.release_files()
