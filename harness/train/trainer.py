"""The training recipe: ``Trainer(cfg, ds_config).setup()``, then ``train()`` (``train_step()`` per global batch),
then ``close()``. ``train(cfg, ...)`` does all four; ``launch/train.py`` and the main job call it.

Per optimizer step (the same collectives on every rank): the rank's ``grad_accum`` micro-batches of the step's
global batch are collated on the host; the step's normaliser is summed from them and all-reduced before any
forward (harness.train.normaliser); each micro-batch runs forward/backward through the engine, which steps at the
boundary; the step loss (the sum of every micro-batch's share, over ranks) and the grad norm come back to the host
in one copy. Data order: harness.train.data (the same global batches at any world size).

metrics.jsonl keys (fixed): step, epoch, loss, grad_norm, lr, tokens_per_s (non-pad tokens per second, per
process), mfu, peak_mem_gb, step_time_s; FLOPs per token and the peak are defined in harness.train.metrics
(seq = the step's mean padded row length; packed: this rank's mean example length, the attention span).

Micro-batches of causal models are packed by default (train.packing, train.tokens_per_micro_batch: the same
examples concatenated into rows, attention confined to each example; harness.data.tokenize.pack): the step's
examples, normaliser and objective are those of the padded micro-batches, only the padding FLOPs go.
"""

from __future__ import annotations

import shutil
import time

import torch

from harness import dist, log
from harness.config import RunConfig
from harness.data.prompts import get_template
from harness.data.tokenize import collate, encode, pack
from harness.models.load import family_of, resolve_config
from harness.models.tokenizer import run_tokenizer
from harness.run import RunDir, atomic_write_json
from harness.runstate import (
    ConfigMismatch,
    RunFolderUsed,
    check_same_config,
    claim_run_folder,
    config_hash,
)
from harness.train import checkpoint as ckpt
from harness.train import engine as eng
from harness.train import metrics as tm
from harness.train.data import dropped, example_weights_for, global_batches, rank_micro_batches
from harness.train.dsconfig import read_ds_config, resolve_ds_config
from harness.train.normaliser import step_normaliser


def step_readout(step_loss: torch.Tensor, grad_norm) -> tuple[float, float]:
    """(step loss summed over ranks, grad norm) as floats: the step's one device-to-host copy (the loss was
    accumulated on the device over the micro-batches, the norm may be a device tensor), then a host all-reduce."""
    vals = torch.stack([step_loss.double().reshape(()),
                        torch.as_tensor(grad_norm, dtype=torch.float64, device=step_loss.device).reshape(())])
    loss_local, norm = vals.cpu().tolist()
    return float(dist.all_reduce_sum(torch.tensor([loss_local], dtype=torch.float64)).item()), norm


class Trainer:
    """Train the large model of ``cfg``: plain torch when ``ds_path`` (a DeepSpeed JSON) is None, else DeepSpeed.
    ``on_step(record)`` runs on every rank after each step's checkpoint (tests kill a run mid-way with it)."""

    def __init__(self, cfg: RunConfig, ds_path=None, *, resume: bool = False, overwrite: bool = False,
                 splits=None, dist_timeout_s: float | None = None, export: bool = True, on_step=None):
        if resume and overwrite:
            raise ValueError("--resume and --overwrite exclude each other: continue the run, or start it over")
        self.cfg, self.tc, self.run = cfg, cfg.train, RunDir(cfg.run_dir)
        self.ds_path, self.resume, self.overwrite, self.splits = ds_path, resume, overwrite, splits
        self.dist_timeout_s, self.export, self.on_step = dist_timeout_s, export, on_step
        self.engine, self.lock, self.tb = None, None, None

    # ---- setup: config, data, model, engine, resume state -------------------------------------------------
    def setup(self) -> Trainer:
        return self.prepare().build()

    def prepare(self) -> Trainer:
        """Everything that reads the user's inputs (configs, run folder, data, weights), before any model: an
        entry point wraps it in ``harness.cli.input_errors()``."""
        log.quiet_known_warnings()
        self.ds_config = self._resolve_ds()
        self.info = dist.env_info()
        self._claim_run_folder()
        self.resume_tag = ckpt.latest_tag(self.run.checkpoints) if self.resume else None
        self._load_data()
        self._write_run_config()
        self._encode()
        return self

    def build(self) -> Trainer:
        """The model, the engine and the resumed state."""
        self._build_engine()
        self.epoch, self.pos, self.step = 0, 0, 0
        main = self.info.is_main
        self.tb = log.tensorboard_writer(self.run.tensorboard) if main and self.tc.tensorboard else None
        self.metrics = log.MetricsWriter(self.run.metrics, enabled=main, tb=self.tb, tb_prefix="train")
        self.evals = log.MetricsWriter(self.run.evals, enabled=main, tb=self.tb, tb_prefix="eval")
        if self.resume_tag is not None:
            self._restore()
        self.peak = tm.peak_flops()
        self.losses: list[float] = []
        return self

    def _claim_run_folder(self) -> None:
        """Rank 0 locks the folder and checks it: fresh, resumable with the same settings, or --overwrite."""
        self.lock = claim_run_folder(self.run.root, "train", self._check_run_folder)

    def _check_run_folder(self) -> None:
        run = self.run
        if self.resume:
            ckpt.latest_tag(run.checkpoints)  # FileNotFoundError when there is nothing to resume
            check_same_config(run.config, self.cfg, "train", what="the run being resumed",
                              way_out="resume with the run's own settings (its config.json), or start it over "
                                      "with --overwrite")
            return
        done = [p.name for p in (run.checkpoints, run.metrics, run.evals, run.export) if p.exists()]
        if done and not self.overwrite:
            raise RunFolderUsed(f"{run.root} already holds a training run ({', '.join(done)}): pass --resume to "
                                  "continue it, --overwrite to start it over (deletes those), or use another run_dir")
        for p in (run.checkpoints, run.export):
            shutil.rmtree(p, ignore_errors=True)
        for p in (run.metrics, run.evals, run.config, run.ds_config):
            p.unlink(missing_ok=True)

    def _restore(self) -> None:
        client = ckpt.load(self.engine, self.run.checkpoints, self.resume_tag)
        if client.get("config_hash", self.config_hash) != self.config_hash:
            raise ConfigMismatch(f"{self.run.checkpoints / self.resume_tag} was written under config "
                                 f"{client['config_hash']}, this run is {self.config_hash}: resume with the run's own "
                                 "settings (its config.json)")
        self.epoch, self.pos, self.step = client["epoch"], client["pos"], client["step"]
        self.metrics.truncate_after(self.step)
        self.evals.truncate_after(self.step)
        log.info(f"resumed from {self.run.checkpoints / self.resume_tag}: epoch {self.epoch}, step {self.step} of "
                 f"{self.total}")

    def _resolve_ds(self) -> dict | None:
        if self.ds_path is None:
            if dist.env_info().world > 1:
                raise ValueError("more than one process needs a DeepSpeed config (--ds)")
            return None
        ds = resolve_ds_config(read_ds_config(self.ds_path), self.tc, dist.env_info().world, source=str(self.ds_path))
        dist.ensure_single_process_env()
        eng.dist_timeout_init(self.dist_timeout_s)
        return ds

    def _load_data(self) -> None:
        if self.splits is None:
            from harness.data.dataset import prepare_splits

            self.splits = prepare_splits(self.cfg.data, self.run.data, is_writer=self.info.is_main, wait=dist.barrier)
        s = self.splits
        self.template = s.template if s.template is not None else get_template(self.cfg.data.template)
        self.weights = None
        if self.tc.weights_file:
            from harness.data.examples import fingerprint
            from harness.scoring.weights import load_weights

            self.weights = load_weights(self.tc.weights_file, n=len(s.train), dataset_fingerprint=fingerprint(s.train),
                                        template_hash=self.template.hash)

    def _write_run_config(self) -> None:
        self.config_hash = config_hash(self.cfg, "train")
        if self.info.is_main and not self.resume:  # a resume keeps the config the run was made with
            self.run.root.mkdir(parents=True, exist_ok=True)
            self.cfg.dump(self.run.config)
            if self.ds_config is not None:
                atomic_write_json(self.run.ds_config, self.ds_config)

    def _encode(self) -> None:
        tok = self.tok = run_tokenizer(self.cfg.model, self.splits, self.run.tokenizer)
        self.mcfg = resolve_config(self.cfg.model.large, len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
        self.family = family_of(self.mcfg)
        self.enc = encode(self.splits.train, tok, self.template, self.family,
                          decoder_start_id=getattr(self.mcfg, "decoder_start_token_id", None))
        self.packed = self.tc.packing and self.family == "causal"
        if self.tc.packing and not self.packed:
            log.info("train.packing: seq2seq models train on padded micro-batches (packing is for causal models)")
        gas = self.plan_steps("training examples")
        log.info(f"train: {len(self.enc)} examples, global batch {self.gbs} ({self.tc.micro_batch} x {gas} x "
                 f"{self.world} ranks), {self.steps_per_epoch} steps/epoch, {self.total} steps; "
                 f"{dropped(len(self.enc), self.gbs)} examples/epoch dropped (partial last batch); "
                 f"{f'packed rows of <= {self.tc.tokens_per_micro_batch} tokens' if self.packed else 'padded rows'}; "
                 f"{'weights ' + self.tc.weights_file if self.weights is not None else 'plain SFT'}")

    def plan_steps(self, unit: str) -> int:
        """World size, global batch (in ``unit``s of ``self.enc``), steps per epoch and total steps; returns
        grad_accum. Shared by every recipe on this loop (DPO counts pairs)."""
        if self.packed and self.tc.tokens_per_micro_batch <= 0:
            raise ValueError(f"train.tokens_per_micro_batch must be > 0, got {self.tc.tokens_per_micro_batch}")
        self.world, gas = dist.world(), self.tc.grad_accum
        self.gbs = self.tc.micro_batch * gas * self.world
        self.steps_per_epoch = len(self.enc) // self.gbs
        if self.steps_per_epoch == 0:
            raise ValueError(f"{len(self.enc)} {unit} are fewer than one global batch ({self.gbs} {unit.split()[-1]})")
        self.total = self.steps_per_epoch * self.tc.epochs
        return gas

    def _build_engine(self) -> None:
        self.device = dist.device_for(self.info)
        tok, tc = self.tok, self.tc
        model, keep = eng.construct_model(self.cfg.model, vocab_size=len(tok), pad_id=tok.pad_token_id,
                                          eos_id=tok.eos_token_id, seed=tc.seed, device=self.device,
                                          ds_config=self.ds_config)
        model = self.adapt_model(model)
        plain, ds = self.engine_classes()
        self.engine = (plain(model, tc, self.total) if self.ds_config is None
                       else ds(model, tc, self.total, self.ds_config, keep))
        if self.info.is_main:
            model.config.save_pretrained(str(self.run.checkpoints / "hf_config"))
            tok.save_pretrained(str(self.run.checkpoints / "tokenizer"))
        self.n_matmul = tm.matmul_params(model)

    def engine_classes(self) -> tuple[type, type]:
        """(plain, DeepSpeed) engine classes; a recipe with another loss returns subclasses whose ``loss_cls`` is its
        module (harness.train.dpo)."""
        return eng.PlainEngine, eng.DSEngine

    def adapt_model(self, model):
        """The constructed model before the engine wraps it (harness.docre.llm injects LoRA adapters here)."""
        return model

    # ---- one optimizer step ------------------------------------------------------------------------------
    def _batch(self, idx: list[int]) -> dict:
        """One micro-batch on the host: packed (causal, train.packing) or padded."""
        if self.packed:
            return pack(self.enc, idx, self.tc.tokens_per_micro_batch)
        return collate(self.enc, idx)

    def train_step(self, global_batch: list[int]) -> dict:
        """Forward/backward over this rank's micro-batches of ``global_batch``, one optimizer step; the record."""
        t0 = time.perf_counter()
        micro = rank_micro_batches(global_batch, self.enc, rank=dist.rank(), world=self.world, gas=self.tc.grad_accum)
        batches = [self._batch(idx) for idx in micro]
        normaliser = step_normaliser(batches, self.family, self.tc.norm_mode)
        step_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        for idx, b in zip(micro, batches):
            b = {k: v.to(self.device) for k, v in b.items()}
            loss = self.engine.forward(b, example_weights_for(idx, self.weights), normaliser)
            self.engine.backward(loss)
            self.engine.step()
            step_loss += loss.detach().double()
        loss, grad_norm = step_readout(step_loss, self.engine.grad_norm())
        dt = time.perf_counter() - t0
        n_tok = sum(int(b["attention_mask"].sum()) for b in batches)  # host tensors: no device sync
        seq = (n_tok / sum(len(m) for m in micro) if self.packed  # packed: the mean example length
               else sum(b["input_ids"].shape[1] for b in batches) / len(batches))
        tps = n_tok / dt
        mfu = tps * tm.flops_per_token(self.mcfg, self.n_matmul, seq) / self.peak if self.peak else None
        return {"step": self.step + 1, "epoch": self.epoch, "loss": loss, "grad_norm": grad_norm,
                "lr": self.engine.lr(), "tokens_per_s": tps, "step_time_s": dt, "peak_mem_gb": tm.peak_mem_gb(),
                "mfu": mfu}

    # ---- the loop: steps, logging, evaluation, checkpoints ----------------------------------------------
    def train(self) -> dict:
        """Run the remaining steps, then export. Returns {"run_dir", "steps", "losses", "export_dir", "engine",
        "tokenizer"}."""
        if self.step >= self.total:
            log.info(f"nothing left to train: {self.run.root} is at step {self.step} of {self.total}")
        with log.progress("train", self.total, "step", start=self.step) as bar:
            while self.epoch < self.tc.epochs:
                order = global_batches(self.enc, seed=self.tc.seed, epoch=self.epoch, global_batch=self.gbs)
                while self.pos < len(order):
                    rec = self.train_step(order[self.pos])
                    self._after_step(rec, end_epoch=self.pos + 1 == len(order))
                    bar.advance(1)
                self.epoch, self.pos = self.epoch + 1, 0
        export_dir = None
        if self.export:
            from harness.train.export import export_live

            export_dir = export_live(self.engine, self.tok, self.run.export)
        return {"run_dir": str(self.run.root), "steps": self.step, "losses": self.losses, "export_dir": export_dir,
                "engine": self.engine, "tokenizer": self.tok}

    def _after_step(self, rec: dict, *, end_epoch: bool) -> None:
        self.pos, self.step = self.pos + 1, self.step + 1
        self.losses.append(rec["loss"])
        tc, step = self.tc, self.step
        if step % tc.log_every == 0 or step == self.total:
            self.metrics.write(rec)
            log.info(log.step_line(rec, self.total))
        if step % (tc.eval_every or self.steps_per_epoch) == 0 or end_epoch:
            self._evaluate(step, self.epoch + end_epoch, rec["loss"])
        if step % (tc.save_every or self.steps_per_epoch) == 0 or step == self.total:
            epoch, pos = (self.epoch + 1, 0) if end_epoch else (self.epoch, self.pos)
            ckpt.save(self.engine, self.run.checkpoints, f"step{step}",
                      {"epoch": epoch, "pos": pos, "step": step, "config_hash": self.config_hash},
                      keep=tc.keep_checkpoints)
        if self.on_step is not None:
            self.on_step(rec)

    def _evaluate(self, step: int, epoch: int, train_loss: float) -> None:
        """Every rank runs the same evaluation forwards (ZeRO-3 needs it); rank 0 appends to evals.jsonl."""
        split = self.tc.eval_split
        if not split:
            return
        from harness.eval import evaluate_model

        engine, s = self.engine, self.splits
        engine.module.eval()
        with torch.no_grad():
            res = evaluate_model(engine.model, self.tok, getattr(s, split), s.label_space, s.template,
                                 batch_examples=self.cfg.eval.batch_examples, head_params=engine.head_params)
        engine.module.train()
        if dist.rank() == 0:
            rec = {"step": step, "epoch": epoch, "split": split, "train_loss": train_loss}
            rec.update({k: v for k, v in dict(res).items() if isinstance(v, (int, float, str))})
            self.evals.write(rec)
            figures = ", ".join(f"{k} {rec[k]:.4f}" for k in ("macro_f1", "micro_f1", "accuracy") if k in rec)
            log.info(f"eval {split} at step {step}: {figures}")

    def close(self) -> None:
        """Drop the engine (before the process group goes: see harness.dist.destroy) and the folder lock."""
        self.engine = None
        self.release_files()

    def release_files(self) -> None:
        """Close the TensorBoard writer and release the run folder's lock (idempotent)."""
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def train(cfg: RunConfig, ds_path=None, **kw) -> dict:
    """setup + train of a ``Trainer`` (keyword arguments as ``Trainer``); the summary of ``Trainer.train``. The
    run folder's lock is released when done (the engine stays in the summary)."""
    trainer = Trainer(cfg, ds_path, **kw)
    try:
        return trainer.setup().train()
    finally:
        trainer.release_files()
