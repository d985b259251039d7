"""The RCP training recipe: ``RCPTrainer(cfg, ds_path).setup()``, ``train()`` (``train_step()`` per global batch),
``close()``; ``rcp_train(cfg, ...)`` does all of it (the ``rcp-train`` entry point).

Data order: harness.train.data's seeded global batches of ``batch_docs x grad_accum x world`` documents (grouped by
length; the trailing partial batch of an epoch is dropped), so the same global batch size sees the same documents
at any world size; each rank takes its micro-batches of a global batch. A step's loss is the BCE summed over all
its pairs divided by the step's pair count over every rank (``RCPLoss``): the mean BCE over the step's pairs.
After every epoch (every rank runs the same forwards, as ZeRO-3 needs) the tuning documents are scored; their
detection F1 at the F1-best threshold goes to evals.jsonl, and a better F1 than before saves the weights to
``best/model.pt`` (the paper's early stopping on dev F1). Then the engine checkpoints (epoch granularity): an
interrupted run resumes with ``resume=True`` from the last complete epoch.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import torch

from harness import dist, log
from harness.cli import InputError
from harness.docre.rcp import propose as prop
from harness.docre.rcp.config import RCPConfig, RCPFiles, check, model_fields
from harness.docre.rcp.engine import RCPDSEngine, RCPPlainEngine
from harness.docre.rcp.features import collate, featurize_all, to_device
from harness.docre.rcp.stage import build_model, load_docs, model_hash, resolve_tokenizer
from harness.run import atomic_write, atomic_write_json
from harness.runstate import RunFolderUsed, claim_run_folder
from harness.train import checkpoint as ckpt
from harness.train.data import global_batches, rank_micro_batches


class _Lengths:
    """The ``len`` / ``n_tokens`` view of the features that harness.train.data orders by."""

    def __init__(self, feats):
        self.feats = feats

    def __len__(self) -> int:
        return len(self.feats)

    def n_tokens(self, i: int) -> int:
        return len(self.feats[i])


class RCPTrainer:
    """Train RCP: plain torch when ``ds_path`` (a DeepSpeed JSON) is None, else DeepSpeed. ``on_epoch(record)``
    runs on every rank after each epoch's checkpoint (tests interrupt a run with it)."""

    def __init__(self, cfg: RCPConfig, ds_path=None, *, resume: bool = False, overwrite: bool = False,
                 dist_timeout_s: float | None = None, on_epoch=None):
        if resume and overwrite:
            raise ValueError("resume and overwrite exclude each other")
        check(cfg)
        self.cfg, self.files, self.ds_path = cfg, RCPFiles(cfg.run_dir), ds_path
        self.resume, self.overwrite, self.dist_timeout_s, self.on_epoch = resume, overwrite, dist_timeout_s, on_epoch
        self.engine, self.lock = None, None

    # ---- setup ------------------------------------------------------------------------------------------
    def setup(self) -> RCPTrainer:
        return self.prepare().build()

    def prepare(self) -> RCPTrainer:
        """Everything that reads the user's inputs (DeepSpeed config, run folder, documents, tokenizer), before
        any model: an entry point wraps it in ``harness.cli.input_errors()``."""
        self.ds_config = self._resolve_ds()
        self.lock = claim_run_folder(self.files.dir, "rcp-train", self._check_folder)
        train_docs, tune_docs = load_docs(self.cfg)
        self.tok = resolve_tokenizer(self.cfg, self.files, train_docs)
        self.train_feats = [f for f in featurize_all(train_docs, self.tok, self.cfg.max_doc_len) if f.pairs]
        self.tune_feats = featurize_all(tune_docs, self.tok, self.cfg.max_doc_len)
        self.world = dist.world()
        self.gbs = self.cfg.batch_docs * self.cfg.grad_accum * self.world
        self.steps_per_epoch = len(self.train_feats) // self.gbs
        if self.steps_per_epoch == 0:
            raise ValueError(f"{len(self.train_feats)} training documents are fewer than one global batch ({self.gbs})")
        self.total = self.steps_per_epoch * self.cfg.epochs
        if dist.rank() == 0 and not self.resume:
            atomic_write_json(self.files.config, self.cfg.to_dict())
        log.info(f"rcp-train: {len(self.train_feats)} training documents, {len(self.tune_feats)} tuning documents, "
                 f"global batch {self.gbs}, {self.steps_per_epoch} steps/epoch, {self.total} steps")
        return self

    def _resolve_ds(self):
        if self.ds_path is None:
            if dist.env_info().world > 1:
                raise InputError("more than one process needs a DeepSpeed config (--ds)")
            return None
        from harness.train.dsconfig import read_ds_config, resolve_ds_config
        from harness.train.engine import dist_timeout_init

        ds = resolve_ds_config(read_ds_config(self.ds_path), self.cfg.train_config(), dist.env_info().world,
                               source=str(self.ds_path))
        dist.ensure_single_process_env()
        dist_timeout_init(self.dist_timeout_s)
        return ds

    def _check_folder(self) -> None:
        f = self.files
        if self.resume:
            ckpt.latest_tag(f.checkpoints)
            from harness.manifest import read_json

            recorded = {k: v for k, v in read_json(f.config, "RCP config").items() if k in model_fields(self.cfg)}
            if recorded != model_fields(self.cfg):
                diff = sorted(k for k in model_fields(self.cfg) if recorded.get(k) != model_fields(self.cfg)[k])
                raise RunFolderUsed(f"{f.dir} was trained with other settings ({diff}); resume with its config.json")
            return
        done = [p.name for p in (f.checkpoints, f.metrics, f.evals, f.best) if p.exists()]
        if done and not self.overwrite:
            raise RunFolderUsed(f"{f.dir} already holds an RCP training ({', '.join(done)}): resume it, overwrite it, "
                                "or use another run_dir")
        for p in (f.checkpoints, f.best, f.tokenizer):
            shutil.rmtree(p, ignore_errors=True)
        for p in (f.metrics, f.evals):
            p.unlink(missing_ok=True)

    def build(self) -> RCPTrainer:
        """The model, the engine, the writers and the resumed state."""
        cfg = self.cfg
        self.device = dist.device_for()
        model = build_model(cfg, self.tok).to(self.device)
        if self.ds_config is None and cfg.dtype != "float32":
            model = model.to(getattr(torch, cfg.dtype))
        self.model = model
        self.engine = (RCPPlainEngine(model, cfg, self.total) if self.ds_config is None
                       else RCPDSEngine(model, cfg, self.total, self.ds_config))
        if dist.rank() == 0:
            model.encoder.config.save_pretrained(str(self.files.encoder_config))
        main = dist.rank() == 0
        self.metrics = log.MetricsWriter(self.files.metrics, enabled=main)
        self.evals = log.MetricsWriter(self.files.evals, enabled=main)
        self.epoch, self.step, self.best_f1, self.best_epoch = 0, 0, -1.0, 0
        if self.resume:
            tag = ckpt.latest_tag(self.files.checkpoints)
            client = ckpt.load(self.engine, self.files.checkpoints, tag)
            self.epoch, self.step = client["epoch"], client["step"]
            self.best_f1, self.best_epoch = client["best_f1"], client["best_epoch"]
            self.metrics.truncate_after(self.step)
            self.evals.truncate_after(self.step)
            log.info(f"rcp-train: resumed from {tag} (epoch {self.epoch}, step {self.step})")
        return self

    # ---- one optimizer step -----------------------------------------------------------------------------
    def train_step(self, global_batch: list[int]) -> dict:
        t0 = time.perf_counter()
        lengths = _Lengths(self.train_feats)
        micro = rank_micro_batches(global_batch, lengths, rank=dist.rank(), world=self.world, gas=self.cfg.grad_accum)
        batches = [collate([self.train_feats[i] for i in idx], self.tok.pad_token_id) for idx in micro]
        pairs = float(dist.all_reduce_sum(torch.tensor([sum(len(b["labels"]) for b in batches)],
                                                       dtype=torch.float64)).item())
        step_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        for b in batches:
            loss = self.engine.forward(to_device(b, self.device), None, pairs)
            self.engine.backward(loss)
            self.engine.step()
            step_loss += loss.detach().double()
        vals = torch.stack([step_loss, torch.as_tensor(self.engine.grad_norm(), dtype=torch.float64,
                                                       device=self.device).reshape(())]).cpu()
        loss = float(dist.all_reduce_sum(vals[:1].clone()).item())
        dt = time.perf_counter() - t0
        return {"step": self.step + 1, "epoch": self.epoch, "loss": loss, "grad_norm": float(vals[1]),
                "lr": self.engine.lr(), "pairs": int(pairs), "step_time_s": dt}

    # ---- the loop ---------------------------------------------------------------------------------------
    def train(self) -> dict:
        cfg, lengths = self.cfg, _Lengths(self.train_feats)
        with log.progress("rcp-train", self.total, "step", start=self.step) as bar:
            while self.epoch < cfg.epochs:
                for batch in global_batches(lengths, seed=cfg.seed, epoch=self.epoch, global_batch=self.gbs):
                    rec = self.train_step(batch)
                    self.step += 1
                    if self.step % cfg.log_every == 0 or self.step == self.total:
                        self.metrics.write(rec)
                        log.info(f"step {rec['step']}/{self.total} | loss {rec['loss']:.4f} | lr {rec['lr']:.3g} "
                                 f"| grad norm {rec['grad_norm']:.3g} | {rec['step_time_s']:.2f} s")
                    bar.advance(1)
                self.epoch += 1
                self._end_epoch()
        return {"steps": self.step, "best_f1": self.best_f1, "best_epoch": self.best_epoch}

    def _end_epoch(self) -> None:
        """Score the tuning documents, keep the best weights, checkpoint (collective: every rank)."""
        probs = prop.predict(self.model, self.tune_feats, batch_docs=self.cfg.eval_batch_docs,
                             pad_id=self.tok.pad_token_id, device=self.device)
        p = np.concatenate(probs) if probs else np.zeros(0)
        y = np.asarray([v for f in self.tune_feats for v in f.labels])
        thr = prop.tune_threshold(p, y, "f1") if y.sum() else 0.5
        rec = {"step": self.step, "epoch": self.epoch, **prop.detection(p, y, thr)}
        rec = dist.from_main(rec)  # rank 0's figures decide "improved" on every rank: a ZeRO-3 collective follows
        improved = rec["f1"] > self.best_f1
        if improved:
            self.best_f1, self.best_epoch = rec["f1"], self.epoch
        state = self.engine.state_dict_for_export() if improved else None  # collective under ZeRO-3
        if improved and dist.rank() == 0:
            atomic_write(self.files.best_model, lambda tmp: torch.save(
                {"model": state, "model_hash": model_hash(self.cfg), "epoch": self.epoch, "f1": rec["f1"]}, tmp))
        self.evals.write({**rec, "best": improved})
        log.info(f"epoch {self.epoch}: tuning F1 {rec['f1']:.4f} (P {rec['precision']:.4f} R {rec['recall']:.4f} at "
                 f"{thr:.3f}){' best' if improved else ''}")
        ckpt.save(self.engine, self.files.checkpoints, f"step{self.step}",
                  {"epoch": self.epoch, "step": self.step, "best_f1": self.best_f1, "best_epoch": self.best_epoch,
                   "model_hash": model_hash(self.cfg)}, keep=self.cfg.keep_checkpoints)
        if self.on_epoch is not None:
            self.on_epoch(rec)

    def close(self) -> None:
        self.engine = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def rcp_train(cfg: RCPConfig, ds_path=None, **kw) -> dict:
    """setup + train + close of an ``RCPTrainer``; its summary."""
    trainer = RCPTrainer(cfg, ds_path, **kw)
    try:
        return trainer.setup().train()
    finally:
        trainer.close()
