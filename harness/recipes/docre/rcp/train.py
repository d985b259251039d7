"""RCP training as an objective on the one loop (harness.train.trainer.Trainer): ``rcp_trainer(cfg, ds_path)``
builds the Trainer, ``rcp_train(cfg, ...)`` runs it (the ``rcp-train`` entry point).

Data order: harness.train.data's seeded global batches of ``batch_docs x grad_accum x world`` documents (grouped by
length; the trailing partial batch of an epoch is dropped), so the same global batch size sees the same documents
at any world size; each rank takes its micro-batches of a global batch. A step's loss is the BCE summed over all
its pairs divided by the step's pair count over every rank (``RCPLoss``): the mean BCE over the step's pairs.
Optimizer: two parameter groups, the encoder at ``lr`` and the new layers (extractors, bilinear) at ``head_lr``
(the reference code's grouping); the schedule's factor multiplies each group's own peak.
After every epoch (every rank runs the same forwards, as ZeRO-3 needs) the tuning documents are scored; their
detection F1 at the F1-best threshold goes to evals.jsonl, and a better F1 than before (decided on rank 0 and
shared, so every rank joins the ZeRO-3 gather of the weights) saves the weights to ``best/model.pt`` (the paper's
early stopping on dev F1). Then the loop checkpoints (epoch granularity, the best F1 in the client state): an
interrupted run resumes with ``resume=True`` from the last complete epoch.
"""

from __future__ import annotations

import torch

from harness import dist, log
from harness.recipes.docre.config import DocREConfig
from harness.recipes.docre.rcp import propose as prop
from harness.recipes.docre.rcp.config import RCPFiles, check
from harness.recipes.docre.rcp.features import collate, featurize_all, to_device
from harness.recipes.docre.rcp.model import RCPLoss
from harness.recipes.docre.rcp.stage import build_model, load_docs, model_hash, resolve_tokenizer
from harness.run import atomic_write
from harness.train.objective import Objective, global_sum


class _Lengths:
    """The ``len`` / ``n_tokens`` view of the features that harness.train.data orders by."""

    def __init__(self, feats):
        self.feats = feats

    def __len__(self) -> int:
        return len(self.feats)

    def n_tokens(self, i: int) -> int:
        return len(self.feats[i])


def param_groups(model, head_lr: float) -> list[dict]:
    head = set(model.head_parameters())
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if n not in head]},
            {"params": [p for n, p in named if n in head], "lr": head_lr}]


class RCPObjective(Objective):
    """Binary cross-entropy of related-pair detection over documents (items are training documents)."""

    stage = "rcp-train"
    unit = "training documents"
    what = "an RCP training"

    sections = ("rcp",)

    def __init__(self, cfg: DocREConfig):
        check(cfg.rcp)
        self.cfg, self.r, self.files, self.train_cfg = cfg, cfg.rcp, RCPFiles(cfg.run_dir), cfg.rcp.train_config()
        self.best_f1, self.best_epoch = -1.0, 0

    def outputs(self) -> list:
        f = self.files
        return [f.checkpoints, f.metrics, f.evals, f.best, f.tokenizer]

    def prepare(self, trainer) -> None:
        train_docs, tune_docs = load_docs(self.r)
        self.tok = resolve_tokenizer(self.r, self.files, train_docs)
        self.train_feats = [f for f in featurize_all(train_docs, self.tok, self.r.max_doc_len) if f.pairs]
        self.tune_feats = featurize_all(tune_docs, self.tok, self.r.max_doc_len)
        self.items = _Lengths(self.train_feats)

    def describe(self, trainer) -> str:
        return (f"rcp-train: {len(self.train_feats)} training documents, {len(self.tune_feats)} tuning documents, "
                f"global batch {trainer.gbs}, {trainer.steps_per_epoch} steps/epoch, {trainer.total} steps")

    def build_model(self, trainer):
        r = self.r
        model = build_model(r, self.tok).to(trainer.device)
        if trainer.ds_config is None and r.dtype != "float32":
            model = model.to(getattr(torch, r.dtype))
        if dist.rank() == 0:
            model.encoder.config.save_pretrained(str(self.files.encoder_config))
        self.model = model
        return model, None

    def loss_module(self, model, zero3: bool):
        return RCPLoss(model, pos_weight=self.r.pos_weight)

    def param_groups(self, model):
        return param_groups(model, self.r.head_lr)

    def batch(self, idx: list[int]) -> dict:
        return collate([self.train_feats[i] for i in idx], self.tok.pad_token_id)

    def to_device(self, batch: dict, device) -> dict:
        return to_device(batch, device)

    def normaliser(self, batches: list[dict], micro: list[list[int]]) -> float:
        return global_sum(sum(len(b["labels"]) for b in batches))  # the step's pairs

    def readout(self, stats: list[float], normaliser: float) -> dict:
        return {"pairs": int(normaliser)}

    def evaluate(self, trainer, step: int, epoch: int, train_loss: float) -> None:
        """Score the tuning documents, keep the best weights (collective: every rank)."""
        import numpy as np

        probs = prop.predict(self.model, self.tune_feats, batch_docs=self.r.eval_batch_docs,
                             pad_id=self.tok.pad_token_id, device=trainer.device)
        p = np.concatenate(probs) if probs else np.zeros(0)
        y = np.asarray([v for f in self.tune_feats for v in f.labels])
        thr = prop.tune_threshold(p, y, "f1") if y.sum() else 0.5
        rec = {"step": step, "epoch": epoch, **prop.detection(p, y, thr)}
        rec = dist.from_main(rec)  # rank 0's figures decide "improved" on every rank: a ZeRO-3 collective follows
        improved = rec["f1"] > self.best_f1
        if improved:
            self.best_f1, self.best_epoch = rec["f1"], epoch
        state = trainer.engine.state_dict_for_export() if improved else None  # collective under ZeRO-3
        if improved and dist.rank() == 0:
            atomic_write(self.files.best_model, lambda tmp: torch.save(
                {"model": state, "model_hash": model_hash(self.r), "epoch": epoch, "f1": rec["f1"]}, tmp))
        trainer.evals.write({**rec, "best": improved})
        log.info(f"epoch {epoch}: tuning F1 {rec['f1']:.4f} (P {rec['precision']:.4f} R {rec['recall']:.4f} at "
                 f"{thr:.3f}){' best' if improved else ''}")

    def state_dict(self) -> dict:
        return {"best_f1": self.best_f1, "best_epoch": self.best_epoch, "model_hash": model_hash(self.r)}

    def load_state_dict(self, state: dict) -> None:
        self.best_f1, self.best_epoch = state["best_f1"], state["best_epoch"]

    def export(self, trainer):
        return None  # the result is best/model.pt, written by evaluate at the best epoch

    def summary(self) -> dict:
        return {"best_f1": self.best_f1, "best_epoch": self.best_epoch}


def rcp_trainer(cfg: DocREConfig, ds_path=None, **kw):
    """The one loop on ``RCPObjective(cfg)`` (``cfg``: a DocREConfig, its ``rcp`` section; settings refused at once);
    keyword arguments as ``Trainer``."""
    from harness.train.trainer import Trainer

    return Trainer(RCPObjective(cfg), ds_path, **kw)


def rcp_train(cfg: DocREConfig, ds_path=None, **kw) -> dict:
    """prepare (one-line input errors) + build + train of ``rcp_trainer``; {"steps", "best_f1", "best_epoch"}."""
    from harness.train.trainer import run

    out = run(RCPObjective(cfg), ds_path, export=False, **kw)
    return {"steps": out["steps"], "best_f1": out["best_f1"], "best_epoch": out["best_epoch"]}
