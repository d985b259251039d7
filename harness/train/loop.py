"""The training loop: ``train(cfg, ds_config=...)`` is what ``launch/train.py`` and the main job call.

Per optimizer step (same collectives on every rank): the rank's ``grad_accum`` micro-batches of the step's
global batch are collated; their normaliser contributions are summed and all-reduced (before any forward);
each micro-batch runs forward/backward through the engine; the engine steps at the boundary; the step loss
(exact: sum of every micro-batch's share over ranks) is all-reduced for logging.

metrics.jsonl keys (fixed): step, epoch, loss, grad_norm, lr, tokens_per_s (non-pad tokens per second, per
process), mfu, peak_mem_gb, step_time_s. MFU = tokens_per_s x flops_per_token / peak, with
flops_per_token = 6 x (matmul parameters: all but the input embedding) + 12 x layers x hidden x seq (attention,
seq = the step's mean padded row length); peak from ``PEAK_FLOPS`` by device name (dense bf16 tensor-core
figures), or $HARNESS_PEAK_FLOPS; on CPU the fp32 GEMM throughput measured once at start (see ``peak_flops``);
null for a GPU missing from the table. peak_mem_gb: CUDA max allocated, else the process's peak RSS.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import time
from pathlib import Path

import torch

from harness import dist, log
from harness.config import RunConfig
from harness.data.prompts import get_template
from harness.data.tokenize import collate, encode
from harness.models.load import family_of, resolve_config
from harness.models.tokenizer import run_tokenizer
from harness.train import checkpoint as ckpt
from harness.train.data import (
    dropped,
    example_weights_for,
    global_batches,
    load_train_weights,
    rank_micro_batches,
)
from harness.train.dsconfig import read_ds_config, resolve_ds_config
from harness.train.loss import batch_normaliser

PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "A10G": 125e12, "L40S": 362e12, "L4": 121e12,
              "V100": 125e12}


def cpu_matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 GEMM FLOP/s of this process: the best of ``repeats`` n x n x n torch.mm after one warm-up
    (best, not median: a peak, and the least disturbed by other processes on a shared machine)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2.0 * n ** 3 / min(times)


@functools.cache
def peak_flops() -> float | None:
    """The MFU denominator: $HARNESS_PEAK_FLOPS if set; on CUDA the tabulated dense bf16 peak of the device
    (None for an unknown GPU); on CPU the fp32 GEMM throughput measured once here (1024^3, best of 5, ~0.1 s),
    so CPU MFU is relative to what torch's GEMM reaches on this machine, not to a datasheet figure."""
    if os.environ.get("HARNESS_PEAK_FLOPS"):
        return float(os.environ["HARNESS_PEAK_FLOPS"])
    if not torch.cuda.is_available():
        return cpu_matmul_peak(1024, 5)
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


def flops_per_token(model_config, n_matmul_params: int, seq: float) -> float:
    layers = getattr(model_config, "num_hidden_layers", getattr(model_config, "num_layers", 0))
    hidden = getattr(model_config, "hidden_size", getattr(model_config, "d_model", 0))
    return 6.0 * n_matmul_params + 12.0 * layers * hidden * seq


def peak_mem_gb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def step_normaliser(batches: list[dict], family: str, mode: str) -> float:
    """The step's global normaliser Z: this rank's micro-batches' contributions (from the host-side batches,
    before any forward), summed over ranks on the host group (harness.dist routes CPU tensors there)."""
    z = torch.tensor([sum(batch_normaliser(b, family, mode) for b in batches)], dtype=torch.float64)
    return float(dist.all_reduce_sum(z).item())


def step_readout(step_loss: torch.Tensor, grad_norm) -> tuple[float, float]:
    """(step loss summed over ranks, grad norm) as floats: the step's one device-to-host copy (the loss was
    accumulated on the device over the micro-batches, the norm may be a device tensor), then a host all-reduce."""
    vals = torch.stack([step_loss.double().reshape(()),
                        torch.as_tensor(grad_norm, dtype=torch.float64, device=step_loss.device).reshape(())])
    loss_local, norm = vals.cpu().tolist()
    return float(dist.all_reduce_sum(torch.tensor([loss_local], dtype=torch.float64)).item()), norm


def _numel(p) -> int:
    return int(getattr(p, "ds_numel", p.numel()))


def _load_splits(cfg):
    from harness.data.dataset import load_splits

    return load_splits(cfg.data)


def train(cfg: RunConfig, ds_config: str | Path | None = None, *, resume: bool = False, splits=None,
          dist_timeout_s: float | None = None, export: bool = True, on_step=None) -> dict:
    """Train the large model of ``cfg`` (plain torch when ``ds_config`` is None, else DeepSpeed). Returns a
    summary: {"run_dir", "steps", "losses", "export_dir", "engine", "tokenizer"}. ``on_step(record)`` is
    called on every rank after each step's checkpoint (tests use it to kill a run mid-way)."""
    from harness.train import engine as eng

    tc = cfg.train
    run_dir = Path(cfg.run_dir)
    ds = None
    if ds_config is not None:
        ds_raw = read_ds_config(ds_config)
        ds = resolve_ds_config(ds_raw, tc, dist.env_info().world, source=str(ds_config))
        dist.ensure_single_process_env()
        eng.dist_timeout_init(dist_timeout_s)
    elif dist.env_info().world > 1:
        raise ValueError("more than one process needs a DeepSpeed config (--ds)")
    info = dist.env_info()
    root = ckpt.ckpt_root(run_dir)
    resume_tag = ckpt.latest_tag(root) if resume else None
    splits = splits if splits is not None else _load_splits(cfg)
    template = splits.template if splits.template is not None else get_template(cfg.data.template)
    weights = None
    if tc.weights_file:
        from harness.data.examples import fingerprint

        weights = load_train_weights(tc.weights_file, n_train=len(splits.train),
                                     dataset_fingerprint=fingerprint(splits.train), template_hash=template.hash)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.dump(run_dir / "config.json")
        if ds is not None:
            (run_dir / "ds_config.json").write_text(json.dumps(ds, indent=2, sort_keys=True) + "\n")
    tok = run_tokenizer(cfg.model, splits, run_dir / "tokenizer")
    mcfg = resolve_config(cfg.model.large, len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
    family = family_of(mcfg)
    enc = encode(splits.train, tok, template, family, decoder_start_id=getattr(mcfg, "decoder_start_token_id", None))
    world, gas = dist.world(), tc.grad_accum
    gbs = tc.micro_batch * gas * world
    steps_per_epoch = len(enc) // gbs
    if steps_per_epoch == 0:
        raise ValueError(f"{len(enc)} training examples are fewer than one global batch ({gbs})")
    total = steps_per_epoch * tc.epochs
    log.info(f"train: {len(enc)} examples, global batch {gbs} ({tc.micro_batch} x {gas} x {world} ranks), "
             f"{steps_per_epoch} steps/epoch, {total} steps; {dropped(len(enc), gbs)} examples/epoch dropped "
             f"(partial last batch); {'weights ' + tc.weights_file if weights is not None else 'plain SFT'}")
    device = dist.device_for(info)
    model, keep = eng.construct_model(cfg.model, vocab_size=len(tok), pad_id=tok.pad_token_id,
                                      eos_id=tok.eos_token_id, seed=tc.seed, device=device, ds=ds)
    engine = eng.PlainEngine(model, tc, total) if ds is None else eng.DSEngine(model, tc, total, ds, keep)
    if info.is_main:
        model.config.save_pretrained(str(root / "hf_config"))
        tok.save_pretrained(str(root / "tokenizer"))
    n_matmul = sum(_numel(p) for p in model.parameters()) - _numel(model.get_input_embeddings().weight)
    if getattr(mcfg, "tie_word_embeddings", False):
        n_matmul += _numel(model.get_input_embeddings().weight)
    epoch, pos, step = 0, 0, 0
    if resume_tag is not None:
        client = ckpt.load(engine, root, resume_tag)
        epoch, pos, step = client["epoch"], client["pos"], client["step"]
        log.info(f"resumed from {root / resume_tag}: epoch {epoch}, step {step}")
    metrics = log.MetricsWriter(run_dir / "metrics.jsonl", enabled=info.is_main)
    losses: list[float] = []
    peak = peak_flops()
    save_every = tc.save_every or steps_per_epoch
    eval_every = tc.eval_every or steps_per_epoch
    with log.progress("train", total, "step") as bar:
        bar.advance(step)
        while epoch < tc.epochs:
            order = global_batches(enc, seed=tc.seed, epoch=epoch, global_batch=gbs)
            while pos < len(order):
                t0 = time.perf_counter()
                micro = rank_micro_batches(order[pos], enc, rank=dist.rank(), world=world, gas=gas)
                batches = [collate(enc, idx) for idx in micro]
                z = step_normaliser(batches, family, tc.norm_mode)
                step_loss = torch.zeros((), dtype=torch.float64, device=device)
                n_tok = sum(int(b["attention_mask"].sum()) for b in batches)  # host tensors: no device sync
                seq = sum(b["input_ids"].shape[1] for b in batches) / len(batches)
                for idx, b in zip(micro, batches):
                    w = example_weights_for(idx, weights)
                    b = {k: v.to(device) for k, v in b.items()}
                    loss = engine.forward(b, w, z)
                    engine.backward(loss)
                    engine.step()
                    step_loss += loss.detach().double()
                step_loss, grad_norm = step_readout(step_loss, engine.grad_norm())
                dt = time.perf_counter() - t0
                pos, step = pos + 1, step + 1
                losses.append(step_loss)
                tps = n_tok / dt
                rec = {"step": step, "epoch": epoch, "loss": step_loss, "grad_norm": grad_norm,
                       "lr": engine.lr(), "tokens_per_s": tps, "step_time_s": dt, "peak_mem_gb": peak_mem_gb(),
                       "mfu": (tps * flops_per_token(mcfg, n_matmul, seq) / peak) if peak else None}
                if step % tc.log_every == 0 or step == total:
                    metrics.write(rec)
                bar.advance(1)
                end_epoch = pos == len(order)
                if step % eval_every == 0 or end_epoch:
                    _evaluate(cfg, engine, tok, splits, run_dir, step, epoch + end_epoch, step_loss)
                if step % save_every == 0 or step == total:
                    next_state = (epoch + 1, 0) if end_epoch else (epoch, pos)
                    ckpt.save(engine, root, f"step{step}", {"epoch": next_state[0], "pos": next_state[1],
                                                            "step": step})
                if on_step is not None:
                    on_step(rec)
            epoch, pos = epoch + 1, 0
    export_dir = None
    if export:
        from harness.train.export import export_live

        export_dir = export_live(engine, tok, run_dir / "export")
    return {"run_dir": str(run_dir), "steps": step, "losses": losses, "export_dir": export_dir,
            "engine": engine, "tokenizer": tok}


def _evaluate(cfg, engine, tok, splits, run_dir: Path, step: int, epoch: int, train_loss: float) -> None:
    """Every rank runs the same evaluation forwards (ZeRO-3 needs it); rank 0 appends to evals.jsonl."""
    split = cfg.train.eval_split
    if not split:
        return
    from harness.eval import evaluate_model

    examples = getattr(splits, split)
    engine.module.eval()
    with torch.no_grad():
        res = evaluate_model(engine.model, tok, examples, splits.label_space, splits.template,
                             batch_examples=cfg.eval.batch_examples, head_params=engine.head_params)
    engine.module.train()
    if dist.rank() == 0:
        rec = {"step": step, "epoch": epoch, "split": split, "train_loss": train_loss}
        rec.update({k: v for k, v in dict(res).items() if isinstance(v, (int, float, str))})
        with (run_dir / "evals.jsonl").open("a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
