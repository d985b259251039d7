"""The one training loop: ``Trainer(objective, ds_path).setup()`` (``prepare()`` then ``build()``), ``train()``
(``train_step()`` per global batch), ``close()``. Every task is an objective (harness.train.objective): weighted
CE for SFT / ATLANTIS, the generator warm-up and the DocRE LLM stage (harness.train.sft), DPO / IPO
(harness.recipes.dpo.objective), RCP's BCE (harness.recipes.docre.rcp.train). The loop imports no task.

Per optimizer step (the same collectives on every rank): the rank's ``grad_accum`` micro-batches of the step's
global batch are collated on the host (``objective.batch``); the step's normaliser is computed from them and
all-reduced before any forward (``objective.normaliser``); each micro-batch runs forward/backward through the
engine, which steps at the boundary; the step loss and the objective's stats (summed over micro-batches on the
device) come back to the host with the grad norm in one copy, then one host all-reduce. Data order:
harness.train.data (the same global batches at any world size).

metrics.jsonl keys (fixed): step, epoch, loss, grad_norm, lr, tokens_per_s (non-pad tokens per second, per
process), mfu, peak_mem_gb, step_time_s, plus the objective's readout (DPO: rewards; RCP: pairs); FLOPs per token
and the peak are defined in harness.train.metrics (seq = the step's mean padded row length; packed: this rank's
mean sequence length, the attention span).
"""

from __future__ import annotations

import shutil
import time

import torch

from harness import dist, log
from harness.run import atomic_write_json
from harness.runstate import ConfigMismatch, RunFolderUsed, check_settings, claim_run_folder, settings_hash
from harness.train import checkpoint as ckpt
from harness.train import engine as eng
from harness.train import metrics as tm
from harness.train.data import global_batches, rank_micro_batches
from harness.train.dsconfig import read_ds_config, resolve_ds_config, zero_stage


def step_readout(sums: torch.Tensor, grad_norm) -> tuple[list[float], float]:
    """(``sums`` summed over ranks, grad norm) as floats: the step's one device-to-host copy (the sums were
    accumulated on the device over the micro-batches, the norm may be a device tensor), then a host all-reduce."""
    sums = sums.double().reshape(-1)
    vals = torch.cat([sums, torch.as_tensor(grad_norm, dtype=torch.float64, device=sums.device).reshape(1)]).cpu()
    n = sums.numel()
    return dist.all_reduce_sum(vals[:n].clone()).tolist(), float(vals[n])


class Trainer:
    """Train ``objective``: plain torch when ``ds_path`` (a DeepSpeed JSON) is None, else DeepSpeed.
    ``on_step(record)`` runs on every rank after each step's checkpoint (tests kill a run mid-way with it);
    ``export=False`` skips the objective's export."""

    def __init__(self, objective, ds_path=None, *, resume: bool = False, overwrite: bool = False,
                 dist_timeout_s: float | None = None, export: bool = True, on_step=None):
        if resume and overwrite:
            raise ValueError("--resume and --overwrite exclude each other: continue the run, or start it over")
        self.objective, self.tc, self.files = objective, objective.train_cfg, objective.files
        self.ds_path, self.resume, self.overwrite = ds_path, resume, overwrite
        self.dist_timeout_s, self.export, self.on_step = dist_timeout_s, export, on_step
        self.engine, self.lock, self.tb = None, None, None

    # ---- setup: config, data, model, engine, resume state -------------------------------------------------
    def setup(self) -> Trainer:
        return self.prepare().build()

    def prepare(self) -> Trainer:
        """Everything that reads the user's inputs (configs, run folder, data), before any model: an entry point
        wraps it in ``harness.cli.input_errors()``."""
        log.quiet_known_warnings()
        self.ds_config = self._resolve_ds()
        self.info = dist.env_info()
        self.lock = claim_run_folder(self.files.root, self.objective.stage, self._check_run_folder)
        self.resume_tag = ckpt.latest_tag(self.files.checkpoints) if self.resume else None
        self.objective.prepare(self)
        self.config_hash = settings_hash(self.objective.settings())
        if self.info.is_main and not self.resume:  # a resume keeps the config the run was made with
            self.files.root.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.files.config, self.objective.config_dict())
            if self.ds_config is not None:
                atomic_write_json(self.files.ds_config, self.ds_config)
        self.plan_steps()
        log.info(self.objective.describe(self))
        return self

    def build(self) -> Trainer:
        """The model, the engine and the resumed state."""
        self.device = dist.device_for(self.info)
        obj, tc = self.objective, self.tc
        model, keep = obj.build_model(self)
        zero3 = self.ds_config is not None and zero_stage(self.ds_config) == 3
        module = obj.loss_module(model, zero3)
        groups = obj.param_groups(model)
        self.engine = (eng.PlainEngine(model, tc, self.total, module=module, param_groups=groups)
                       if self.ds_config is None else
                       eng.DSEngine(model, tc, self.total, self.ds_config, keep, module=module, param_groups=groups))
        self.n_matmul = tm.matmul_params(model) if obj.mcfg is not None else 0  # MFU of language models only
        self.epoch, self.pos, self.step = 0, 0, 0
        main = self.info.is_main
        self.tb = log.tensorboard_writer(self.files.tensorboard) if main and tc.tensorboard else None
        self.metrics = log.MetricsWriter(self.files.metrics, enabled=main, tb=self.tb, tb_prefix="train")
        self.evals = log.MetricsWriter(self.files.evals, enabled=main, tb=self.tb, tb_prefix="eval")
        if self.resume_tag is not None:
            self._restore()
        self.peak = tm.peak_flops()
        self.losses: list[float] = []
        return self

    def plan_steps(self) -> None:
        """World size, global batch (in the objective's items), steps per epoch and total steps."""
        items, unit = self.objective.items, self.objective.unit
        if self.objective.packed and self.tc.tokens_per_micro_batch <= 0:
            raise ValueError(f"train.tokens_per_micro_batch must be > 0, got {self.tc.tokens_per_micro_batch}")
        self.world = dist.world()
        self.gbs = self.tc.micro_batch * self.tc.grad_accum * self.world
        self.steps_per_epoch = len(items) // self.gbs
        if self.steps_per_epoch == 0:
            raise ValueError(f"{len(items)} {unit} are fewer than one global batch ({self.gbs} {unit})")
        self.total = self.steps_per_epoch * self.tc.epochs

    def _check_run_folder(self) -> None:
        """Rank 0 (holding the lock): fresh, resumable with the same settings, or --overwrite."""
        obj, f = self.objective, self.files
        if self.resume:
            ckpt.latest_tag(f.checkpoints)  # FileNotFoundError when there is nothing to resume
            from harness.manifest import read_json

            recorded = read_json(f.config, f"recorded config of {obj.what}")
            check_settings(obj.settings(recorded), obj.settings(), where=f.root,
                           what=f"{obj.what} being resumed was made with another config",
                           way_out="resume with the run's own settings (its config.json), or start it over with "
                                   "--overwrite")
            return
        done = [p.name for p in obj.outputs() if p.exists()]
        if done and not self.overwrite:
            raise RunFolderUsed(f"{f.root} already holds {obj.what} ({', '.join(done)}): pass --resume to "
                                "continue it, --overwrite to start it over (deletes those), or use another run_dir")
        for p in obj.outputs() + [f.config, f.ds_config]:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def _restore(self) -> None:
        client = ckpt.load(self.engine, self.files.checkpoints, self.resume_tag)
        if client.get("config_hash", self.config_hash) != self.config_hash:
            raise ConfigMismatch(f"{self.files.checkpoints / self.resume_tag} was written under config "
                                 f"{client['config_hash']}, this run is {self.config_hash}: resume with the run's own "
                                 "settings (its config.json)")
        self.epoch, self.pos, self.step = client["epoch"], client["pos"], client["step"]
        self.objective.load_state_dict(client)
        self.metrics.truncate_after(self.step)
        self.evals.truncate_after(self.step)
        log.info(f"resumed from {self.files.checkpoints / self.resume_tag}: epoch {self.epoch}, step {self.step} of "
                 f"{self.total}")

    def _resolve_ds(self) -> dict | None:
        if self.ds_path is None:
            if dist.env_info().world > 1:
                raise ValueError("more than one process needs a DeepSpeed config (--ds)")
            return None
        ds = resolve_ds_config(read_ds_config(self.ds_path), self.tc, dist.env_info().world, source=str(self.ds_path))
        dist.ensure_single_process_env()
        eng.dist_timeout_init(self.dist_timeout_s or self.objective.cfg.dist.timeout_s or None)
        return ds

    # ---- one optimizer step ------------------------------------------------------------------------------
    def train_step(self, global_batch: list[int]) -> dict:
        """Forward/backward over this rank's micro-batches of ``global_batch``, one optimizer step; the record."""
        t0 = time.perf_counter()
        obj = self.objective
        micro = rank_micro_batches(global_batch, obj.items, rank=dist.rank(), world=self.world, gas=self.tc.grad_accum)
        batches = [obj.batch(idx) for idx in micro]
        normaliser = obj.normaliser(batches, micro)
        acc = None
        for idx, b in zip(micro, batches):
            loss, stats = obj.forward(self.engine, obj.to_device(b, self.device), normaliser, idx)
            self.engine.backward(loss)
            self.engine.step()
            part = torch.cat([loss.detach().double().reshape(1), stats.detach().double().reshape(-1)])
            acc = part if acc is None else acc + part
        sums, grad_norm = step_readout(acc, self.engine.grad_norm())
        dt = time.perf_counter() - t0
        n_tok = sum(int(b["attention_mask"].sum()) for b in batches)  # host tensors: no device sync
        seq = (n_tok / obj.sequences(micro) if obj.packed  # packed: the mean sequence length
               else sum(b["input_ids"].shape[1] for b in batches) / len(batches))
        tps = n_tok / dt
        fpt = obj.flops_per_token(self.n_matmul, seq)
        mfu = tps * fpt / self.peak if self.peak and fpt else None
        return {"step": self.step + 1, "epoch": self.epoch, "loss": sums[0], "grad_norm": grad_norm,
                **obj.readout(sums[1:], normaliser), "lr": self.engine.lr(), "tokens_per_s": tps,
                "step_time_s": dt, "peak_mem_gb": tm.peak_mem_gb(), "mfu": mfu}

    # ---- the loop: steps, logging, evaluation, checkpoints ----------------------------------------------
    def train(self) -> dict:
        """Run the remaining steps, then export. Returns {"run_dir", "steps", "losses", "export_dir", "engine",
        "tokenizer"} and the objective's summary."""
        if self.step >= self.total:
            log.info(f"nothing left to train: {self.files.root} is at step {self.step} of {self.total}")
        with log.progress(self.objective.stage, self.total, "step", start=self.step) as bar:
            while self.epoch < self.tc.epochs:
                order = global_batches(self.objective.items, seed=self.tc.seed, epoch=self.epoch,
                                       global_batch=self.gbs)
                while self.pos < len(order):
                    rec = self.train_step(order[self.pos])
                    self._after_step(rec, end_epoch=self.pos + 1 == len(order))
                    bar.advance(1)
                self.epoch, self.pos = self.epoch + 1, 0
        export_dir = self.objective.export(self) if self.export else None
        return {"run_dir": str(self.files.root), "steps": self.step, "losses": self.losses, "export_dir": export_dir,
                "engine": self.engine, "tokenizer": self.objective.tok,
                **self.objective.summary()}

    def _after_step(self, rec: dict, *, end_epoch: bool) -> None:
        self.pos, self.step = self.pos + 1, self.step + 1
        self.losses.append(rec["loss"])
        tc, step = self.tc, self.step
        if step % tc.log_every == 0 or step == self.total:
            self.metrics.write(rec)
            log.info(log.step_line(rec, self.total))
        if step % (tc.eval_every or self.steps_per_epoch) == 0 or end_epoch:
            self.objective.evaluate(self, step, self.epoch + end_epoch, rec["loss"])
        if step % (tc.save_every or self.steps_per_epoch) == 0 or step == self.total:
            epoch, pos = (self.epoch + 1, 0) if end_epoch else (self.epoch, self.pos)
            ckpt.save(self.engine, self.files.checkpoints, f"step{step}",
                      {**self.objective.state_dict(), "epoch": epoch, "pos": pos, "step": step,
                       "config_hash": self.config_hash}, keep=tc.keep_checkpoints)
        if self.on_step is not None:
            self.on_step(rec)

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


def run(objective, ds_path=None, *, before_build=None, **kw) -> dict:
    """The stage sequence of every training entry point: ``prepare`` inside ``input_errors`` (one-line errors),
    ``before_build()`` when given (DPO's reference pass), ``build``, ``train``; the lock is released when done (the
    engine stays in the summary: drop it before ``harness.dist.destroy``). Keyword arguments as ``Trainer``."""
    from harness.cli import input_errors

    trainer = Trainer(objective, ds_path, **kw)
    try:
        with input_errors():
            trainer.prepare()
        if before_build is not None:
            before_build()
        return trainer.build().train()
    finally:
        trainer.release_files()


def finish(out: dict) -> int:
    """The end of a training command: the "done" line, then the engine dropped before the process group goes
    (see harness.dist.destroy). Returns the exit status 0."""
    last = f", last step's loss {out['losses'][-1]:.4f}" if out["losses"] else " (nothing left to train)"
    log.info(f"done: {out['steps']} steps{last}, run dir {out['run_dir']}")
    out.pop("engine", None)
    dist.destroy()
    return 0
