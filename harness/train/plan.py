"""Memory and throughput plan for Qwen2 full fine-tuning under DeepSpeed ZeRO-3: ``python -m harness.train.plan``.

    python -m harness.train.plan --model qwen2-7b --gpus 8 --gpu-mem-gb 80 --host-mem-gb 1000 [--nodes 2]
        [--micro-batch 4 --seq 512 | --tokens-per-micro-batch 4096] [--no-activation-checkpointing]
        [--mfu 0.4 --peak-tflops 989] [--optimizer adamw|adamw8bit] [--json]

Sizes are GiB (2^30 bytes), as DeepSpeed's estimator prints them ("GB"); GPU figures are per GPU, host figures per
node (``--host-mem-gb`` is one node's RAM). Three options: no offload (``ds_configs/zero3.json``), optimizer + param
CPU offload (``ds_configs/zero3_offload.json``) and optimizer-only offload (printed for comparison: no config file).

From DeepSpeed's estimator (``estimate_zero3_model_states_mem_needs``, the function behind
``estimate_zero3_model_states_mem_needs_all_cold``, zero_init=True as the harness builds under ``zero.Init``):
  GPU  no offload: 18 B x N / GPUs + 4 B x largest layer; optimizer offload: 2 B x N / GPUs + 4 B x largest;
       optimizer + param offload: 4 B x largest. (4 B x largest = one gathered bf16 layer and its bf16 gradient:
       for Qwen2 the largest layer is the LM head / embedding, V x H.)
  host per node, x buffer factor 1.5: no offload 4 B x largest x GPUs per node; optimizer offload 16 B x N / nodes;
       optimizer + param offload 18 B x N / nodes (pinned: pin_memory is true in zero3_offload.json).
The harness's own terms, on every GPU whatever the option:
  activations of one micro-batch of T tokens (bf16, flash/memory-efficient attention: no [heads, seq, seq] scores;
       per token and layer A = 16 H + 8 + 4 heads x d + 4 kv x d + 4 heads + 8 I bytes (d = head dim): two RMSNorms
       2 x (4 H fp32 upcast + 4 rsqrt + 2 H normalised + 2 H weighted output), q and the attention output
       2 x 2 heads x d, K and V at kv-head width 2 x 2 kv x d (HF's SDPA path with a padding mask repeats them
       to all heads: + 4 (heads - kv) d), log-sum-exp 4 B x heads, MLP gate, SiLU, up, product 4 x 2 I); without
       checkpointing L x A x T, with it L x 2 H x T (each layer's bf16 input) + A x T (one layer recomputed);
       plus (8 + 6 H + 4) x T (input ids, final norm),
  the loss: the fused weighted CE's fp32 dL/dW of the LM head, 4 x V x H, alive from the loss forward to its
       backward while the head is gathered, plus one fp32 logits chunk (harness.kernels.chunked, 256 MiB),
  ZeRO-3 caches read from the config: gathered bf16 params kept for reuse, 2 B x (min(stage3_max_live_parameters,
       N) - largest layer), and the gradient reduce bucket 2 B x reduce_bucket_size,
  a fixed CUDA context + allocator fragmentation reserve (3 GiB).
Host: DeepSpeed's figure + 3 GiB per rank process (Python, torch, CUDA libraries).
``--optimizer adamw8bit`` (train.optimizer): bitsandbytes AdamW8bit's states, 2 B/param (+ 2 fp32 block absmax per
256 parameters) instead of Adam's 8 B, so no offload needs 18 - 5.97 B x N / GPUs; the offloaded options do not
apply (the engine refuses adamw8bit with offload_optimizer: DeepSpeed's CPU Adam keeps fp32 states).
Pick: ``ds_configs/zero3.json`` if its GPU total (the 3 GiB reserve is the margin) and host total fit, else
``ds_configs/zero3_offload.json`` if they fit, else none, with what to change (more GPUs, micro-batch 1,
checkpointing, 8-bit Adam, more host memory). The picked path (or ``none``) is the last line printed.
Throughput at a given MFU: tokens/s/GPU = MFU x peak / (6 x N_matmul + 12 x L x H x seq) (``metrics.flops_per_token``;
model FLOPs: recomputation under checkpointing and offload traffic lower the MFU reached, not this formula).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GIB = 2**30
CUDA_RESERVE_GIB = 3.0  # GiB per GPU: CUDA context (~0.5-1 GiB) + caching-allocator fragmentation
HOST_PER_RANK_GIB = 3.0  # GiB of host RAM per rank process: Python, torch, CUDA and NCCL libraries, data
BUFFER_FACTOR = 1.5  # DeepSpeed's additional_buffer_factor default (host figures)
LOGITS_CHUNK_BYTES = 256 * 2**20  # = harness.kernels.chunked.DEFAULT_CHUNK_BYTES (checked by a test)
# (name, config path or None, offload optimizer, offload params)
# train.optimizer=adamw8bit (bitsandbytes AdamW8bit, block-wise): exp_avg and exp_avg_sq in 1 B each instead of
# 4 B each, plus one fp32 absmax per 256-element block per state: 8 - (2 + 2 x 4 / 256) B/param saved on the GPU.
# The fp32 master copy stays (DeepSpeed keeps it). Offloaded options keep DeepSpeed's CPU Adam (fp32 states): the
# engine refuses adamw8bit with offload_optimizer, so those options are marked as not applicable.
ADAM8BIT_SAVED_BYTES = 8 - (2 + 2 * 4 / 256)
OPTIMIZERS = ("adamw", "adamw8bit")
OPTIONS = (("zero3", "ds_configs/zero3.json", False, False),
           ("zero3_offload", "ds_configs/zero3_offload.json", True, True),
           ("opt_offload", None, True, False))


def model_config(model: str, vocab_size: int | None = None):
    """The Qwen2 config of a preset (``qwen2-7b`` = ``qwen2-7b-shape``) or of a checkpoint folder."""
    from harness.models.load import PRESETS, preset_config, resolve_config

    spec = model if model in PRESETS or f"{model}-shape" not in PRESETS else f"{model}-shape"
    if spec in PRESETS:
        if "vocab_size" not in PRESETS[spec][1] and vocab_size is None:
            raise ValueError(f"model {model!r} is a tiny preset without a vocabulary: pass vocab_size (--vocab-size)")
        cfg = preset_config(spec, vocab_size)
    elif (Path(model) / "config.json").is_file():
        cfg = resolve_config(model)
    else:
        raise ValueError(f"unknown model {model!r}: give a preset ({', '.join(sorted(PRESETS))}; 'qwen2-7b' for "
                         "'qwen2-7b-shape') or a checkpoint folder with config.json")
    if getattr(cfg, "model_type", "") != "qwen2":
        raise ValueError(f"model {model!r} is {getattr(cfg, 'model_type', '?')!r}: the plan counts Qwen2 only")
    return cfg


def _shape(cfg) -> dict:
    return dict(layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, intermediate=cfg.intermediate_size,
                heads=cfg.num_attention_heads, kv_heads=cfg.num_key_value_heads, vocab=cfg.vocab_size,
                head_dim=getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads,
                tied=bool(cfg.tie_word_embeddings))


def param_counts(cfg) -> dict:
    """Qwen2 parameters from the config: embedding V x H; per layer q/k/v with biases, o without, MLP gate/up/down,
    two RMSNorms; final norm; the LM head V x H unless tied. ``largest_layer`` is DeepSpeed's (the most
    parameters directly in one module); ``matmul`` as ``metrics.matmul_params``: all but the input embedding, + it when
    tied (the head's matmul uses those weights)."""
    s = _shape(cfg)
    h, i, v = s["hidden"], s["intermediate"], s["vocab"]
    q, kv = s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"]
    modules = dict(q=h * q + q, k=h * kv + kv, v=h * kv + kv, o=q * h, gate=h * i, up=h * i, down=i * h, norm=h)
    per_layer = sum(modules.values()) + h  # + the second RMSNorm
    embedding, head = v * h, 0 if s["tied"] else v * h
    total = embedding + s["layers"] * per_layer + h + head
    return dict(total=total, embedding=embedding, lm_head=head, per_layer=per_layer,
                largest_layer=max(embedding, *modules.values()), matmul=total - (0 if s["tied"] else embedding))


def activation_bytes(cfg, tokens: int, checkpointing: bool) -> dict:
    """Bytes of activations kept for backward by one micro-batch of ``tokens`` tokens (see the module docstring;
    the no-checkpointing count equals the bytes autograd saves for a tiny Qwen2 on CPU, tests/train/test_plan.py)."""
    s = _shape(cfg)
    h, layers, d = s["hidden"], s["layers"], s["head_dim"]
    per_token_layer = (2 * (8 * h + 4) + 4 * s["heads"] * d + 4 * s["kv_heads"] * d + 4 * s["heads"]
                       + 8 * s["intermediate"])
    if checkpointing:
        body = layers * 2 * h * tokens + per_token_layer * tokens
    else:
        body = layers * per_token_layer * tokens
    other = (8 + 6 * h + 4) * tokens  # int64 input ids, final RMSNorm (fp32 input, rsqrt, bf16 output)
    return dict(per_token_layer=per_token_layer, body=body, other=other, total=body + other)


def ds_estimate(total: int, largest: int, *, gpus: int, nodes: int, offload_optimizer: bool, offload_params: bool,
                buffer_factor: float = BUFFER_FACTOR) -> dict:
    """DeepSpeed's ZeRO-3 model-states estimate (bytes): host per node, GPU per GPU, the largest layer's share."""
    from harness.train import deepspeed_api

    est = deepspeed_api.estimate_zero3_model_states_mem_needs
    cpu, gpu, largest_mem = est(total_params=total, largest_layer_params=largest, num_gpus_per_node=gpus,
                                num_nodes=nodes, cpu_offload=offload_optimizer, cpu_offload_params=offload_params,
                                zero_init=True, additional_buffer_factor=buffer_factor)
    return dict(host_per_node=cpu, gpu=gpu, largest_layer=largest_mem)


def zero3_cache_bytes(config_path: str, total: int, largest: int) -> dict:
    """ZeRO-3 buffers the estimator leaves out, from the config: reuse cache of gathered bf16 params (beyond the
    largest layer, which the estimator counts) and the bf16 gradient reduce bucket."""
    from harness.train.dsconfig import read_ds_config

    z = read_ds_config(ROOT / config_path).get("zero_optimization", {})
    live = int(z.get("stage3_max_live_parameters", 1e9))
    return dict(live_params=2 * max(0, min(live, total) - largest),
                reduce_bucket=2 * int(z.get("reduce_bucket_size", 5e8)))


def gpu_extras(cfg, counts: dict, tokens: int, checkpointing: bool, config_path: str, reserve_gib: float) -> dict:
    """The harness's own per-GPU terms (bytes), the same for every option of one config file."""
    v, h = cfg.vocab_size, cfg.hidden_size
    act = activation_bytes(cfg, tokens, checkpointing)
    caches = zero3_cache_bytes(config_path, counts["total"], counts["largest_layer"])
    return dict(activations=act["total"], loss_dw_fp32=4 * v * h, logits_chunk=min(LOGITS_CHUNK_BYTES, 4 * v * tokens),
                zero3_live_params=caches["live_params"], reduce_bucket=caches["reduce_bucket"],
                cuda_reserve=int(reserve_gib * GIB))


def option_plan(name, path, off_opt, off_par, *, counts, extras, gpus, nodes, gpu_mem_gib, host_mem_gib,
                host_per_rank_gib, buffer_factor, optimizer: str = "adamw") -> dict:
    est = ds_estimate(counts["total"], counts["largest_layer"], gpus=gpus, nodes=nodes, offload_optimizer=off_opt,
                      offload_params=off_par, buffer_factor=buffer_factor)
    applies = not (optimizer == "adamw8bit" and off_opt)  # the engine refuses adamw8bit with offload_optimizer
    ds_gpu = est["gpu"] - (ADAM8BIT_SAVED_BYTES * counts["total"] / (gpus * nodes)
                           if optimizer == "adamw8bit" and applies else 0)
    gpu = (ds_gpu + sum(extras.values())) / GIB
    host = est["host_per_node"] / GIB + host_per_rank_gib * gpus
    return dict(name=name, config=path, offload_optimizer=off_opt, offload_params=off_par, optimizer_applies=applies,
                ds_gpu_gib=ds_gpu / GIB, ds_host_gib_per_node=est["host_per_node"] / GIB,
                gpu_gib=gpu, host_gib_per_node=host, gpu_free_gib=gpu_mem_gib - gpu,
                gpu_fits=gpu <= gpu_mem_gib, host_fits=host <= host_mem_gib,
                fits=applies and gpu <= gpu_mem_gib and host <= host_mem_gib)


def throughput(cfg, counts: dict, seq: int, mfu: float, peak_tflops: float, total_gpus: int) -> dict:
    from harness.train.metrics import flops_per_token

    fpt = flops_per_token(cfg, counts["matmul"], seq)
    per_gpu = mfu * peak_tflops * 1e12 / fpt
    return dict(flops_per_token=fpt, peak_tflops=peak_tflops, mfu=mfu, tokens_per_s_per_gpu=per_gpu,
                tokens_per_s_per_job=per_gpu * total_gpus)


def _check_positive(**kw) -> None:
    for k, val in kw.items():
        if val is None or not val > 0:
            raise ValueError(f"{k} must be > 0, got {val}")


def plan(model: str, gpus: int, gpu_mem_gb: float, host_mem_gb: float, micro_batch: int = 4, seq: int = 512,
         activation_checkpointing: bool = True, nodes: int = 1, mfu: float = 0.4, *,
         tokens_per_micro_batch: int | None = None, peak_tflops: float | None = None, vocab_size: int | None = None,
         reserve_gb: float = CUDA_RESERVE_GIB, host_per_rank_gb: float = HOST_PER_RANK_GIB,
         buffer_factor: float = BUFFER_FACTOR, optimizer: str = "adamw") -> dict:
    """The plan as a dict (sizes in GiB): params, the harness's terms, the three options, the picked config path
    (None when nothing fits), advice, throughput. ``gpus`` is per node, ``host_mem_gb`` per node. ``optimizer``:
    train.optimizer (adamw8bit: ADAM8BIT_SAVED_BYTES per parameter less on the GPU, no offloaded option)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS} (train.optimizer), got {optimizer!r}")
    from harness.train.metrics import PEAK_FLOPS

    peak_tflops = PEAK_FLOPS["H200"] / 1e12 if peak_tflops is None else peak_tflops
    tokens = micro_batch * seq if tokens_per_micro_batch is None else tokens_per_micro_batch
    _check_positive(gpus=gpus, gpu_mem_gb=gpu_mem_gb, host_mem_gb=host_mem_gb, micro_batch=micro_batch, seq=seq,
                    nodes=nodes, mfu=mfu, tokens_per_micro_batch=tokens, peak_tflops=peak_tflops,
                    buffer_factor=buffer_factor)
    if reserve_gb < 0 or host_per_rank_gb < 0:
        raise ValueError(f"reserve_gb and host_per_rank_gb must be >= 0, got {reserve_gb}, {host_per_rank_gb}")
    cfg = model_config(model, vocab_size)
    counts = param_counts(cfg)
    setup = dict(gpus_per_node=gpus, nodes=nodes, total_gpus=gpus * nodes, gpu_mem_gib=gpu_mem_gb,
                 host_mem_gib=host_mem_gb, micro_batch=micro_batch, seq=seq, tokens_per_micro_batch=tokens,
                 activation_checkpointing=activation_checkpointing, reserve_gib=reserve_gb,
                 host_per_rank_gib=host_per_rank_gb, buffer_factor=buffer_factor, optimizer=optimizer)
    common = dict(counts=counts, gpus=gpus, nodes=nodes, gpu_mem_gib=gpu_mem_gb, host_mem_gib=host_mem_gb,
                  host_per_rank_gib=host_per_rank_gb, buffer_factor=buffer_factor, optimizer=optimizer)
    options, terms = [], []
    for name, path, off_opt, off_par in OPTIONS:
        extras = gpu_extras(cfg, counts, tokens, activation_checkpointing, path or OPTIONS[0][1], reserve_gb)
        options.append(option_plan(name, path, off_opt, off_par, extras=extras, **common))
        terms.append({k: val / GIB for k, val in extras.items()})
    if any(t != terms[0] for t in terms):
        raise ValueError("the ZeRO-3 configs in ds_configs/ differ in bucket sizes: the terms table assumes one set")
    picked = next((o["config"] for o in options if o["config"] and o["fits"]), None)
    out = dict(model=model, shape=_shape(cfg), params=counts, setup=setup,
               terms_gib=terms[0], options=options, picked=picked,
               throughput=throughput(cfg, counts, seq, mfu, peak_tflops, gpus * nodes))
    out["advice"] = [] if picked else advice(out, cfg)
    return out


def _no_offload_gpu(out: dict, total_gpus: int, adam_bytes_saved: float = 0.0, extras_gib: float | None = None):
    """GPU GiB of the no-offload option at ``total_gpus`` (the estimator's GPU figure depends on the total only),
    optionally less ``adam_bytes_saved`` per parameter, with the harness's terms or ``extras_gib``."""
    p, s = out["params"], out["setup"]
    est = ds_estimate(p["total"], p["largest_layer"], gpus=total_gpus, nodes=1, offload_optimizer=False,
                      offload_params=False, buffer_factor=s["buffer_factor"])
    extras = sum(out["terms_gib"].values()) if extras_gib is None else extras_gib
    return (est["gpu"] - adam_bytes_saved * p["total"] / total_gpus) / GIB + extras


def advice(out: dict, cfg) -> list[str]:
    """What to change when no config fits: more GPUs, more host memory, a smaller micro-batch, checkpointing,
    8-bit Adam (each alone, with whether it would fit the GPU)."""
    s, mem = out["setup"], out["setup"]["gpu_mem_gib"]
    lines = [f"nothing fits: {s['gpus_per_node']} GPU(s) x {s['nodes']} node(s) of {mem:g} GiB, "
             f"{s['host_mem_gib']:g} GiB host per node"]
    if not out["options"][0]["gpu_fits"]:  # the need falls with the GPU count: bisect for the first that fits
        lo, hi = s["total_gpus"], 2**20
        while hi - lo > 1 and _no_offload_gpu(out, hi) <= mem:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _no_offload_gpu(out, mid) <= mem else (mid, hi)
        need = _no_offload_gpu(out, hi)
        lines.append(f"more GPUs: no offload fits from {hi} GPUs of {mem:g} GiB" if need <= mem else
                     f"more GPUs: not even {hi} GPUs suffice, the per-GPU terms alone need {need:.1f} GiB")
    for o in out["options"]:
        if o["config"] and o["gpu_fits"]:
            lines.append(f"more host memory: {o['config']} needs {o['host_gib_per_node']:.1f} GiB per node")
    rest = sum(out["terms_gib"].values()) - out["terms_gib"]["activations"]
    for mb, ckpt in ((1, s["activation_checkpointing"]), (s["micro_batch"], True)):
        if (mb, ckpt) == (s["micro_batch"], s["activation_checkpointing"]):
            continue
        act = activation_bytes(cfg, mb * s["seq"], ckpt)["total"] / GIB
        gpu = _no_offload_gpu(out, s["total_gpus"], extras_gib=rest + act)
        what = f"micro-batch {mb} (raise gradient accumulation)" if mb != s["micro_batch"] else "activation checkpointing"
        lines.append(f"{what}: no offload needs {gpu:.1f} GiB per GPU ({'fits' if gpu <= mem else 'still too big'})")
    if s["optimizer"] != "adamw8bit":
        gpu8 = _no_offload_gpu(out, s["total_gpus"], adam_bytes_saved=ADAM8BIT_SAVED_BYTES)
        lines.append(f"8-bit Adam (train.optimizer=adamw8bit: ~2 B/param of Adam state instead of 8): no offload "
                     f"needs {gpu8:.1f} GiB per GPU ({'fits' if gpu8 <= mem else 'still too big'})")
    return lines


TERM_LABELS = {"activations": "activations (one micro-batch)", "loss_dw_fp32": "loss: fp32 dL/dW of the LM head",
               "logits_chunk": "loss: fp32 logits chunk", "zero3_live_params": "ZeRO-3 reuse cache (bf16 params)",
               "reduce_bucket": "ZeRO-3 reduce bucket", "cuda_reserve": "CUDA context + fragmentation"}


def print_plan(out: dict) -> None:
    from harness import log

    s, p, t = out["setup"], out["params"], out["throughput"]
    ckpt = "with" if s["activation_checkpointing"] else "without"
    log.info(f"{out['model']}: {p['total'] / 1e9:.3f}B params (largest layer {p['largest_layer'] / 1e6:.0f}M, "
             f"matmul {p['matmul'] / 1e9:.3f}B); {s['nodes']} node(s) x {s['gpus_per_node']} GPU(s) of "
             f"{s['gpu_mem_gib']:g} GiB, {s['host_mem_gib']:g} GiB host per node; micro-batch {s['micro_batch']} x "
             f"seq {s['seq']} = {s['tokens_per_micro_batch']} tokens, {ckpt} activation checkpointing; "
             f"optimizer {s['optimizer']}")
    log.table("harness terms, GiB per GPU", ["term", "GiB"],
              [[TERM_LABELS[k], round(v, 2)] for k, v in out["terms_gib"].items()])
    rows = [[o["name"], round(o["ds_gpu_gib"], 1), round(o["gpu_gib"], 1), round(o["gpu_free_gib"], 1),
             round(o["ds_host_gib_per_node"], 1), round(o["host_gib_per_node"], 1),
             "yes" if o["fits"] else ("n/a: adamw8bit" if not o["optimizer_applies"] else
                                      "no: GPU" if not o["gpu_fits"] else "no: host")] for o in out["options"]]
    log.table("ZeRO-3 options, GiB", ["option", "DS GPU", "GPU", "GPU free", "DS host", "host", "fits"], rows)
    log.info("GPU: per GPU, DeepSpeed's estimate (DS) + the harness terms; host: per node, DS + "
             f"{s['host_per_rank_gib']:g} GiB per rank; opt_offload (optimizer-only offload) has no config file")
    log.table("throughput at the given MFU (model FLOPs)", ["FLOPs/token", "peak TFLOP/s", "MFU", "tokens/s/GPU",
                                                             "tokens/s/job"],
              [[f"{t['flops_per_token']:.4g}", t["peak_tflops"], t["mfu"], round(t["tokens_per_s_per_gpu"]),
                round(t["tokens_per_s_per_job"])]])
    for line in out["advice"]:
        log.info(line)
    log.info(out["picked"] or "none")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.train.plan", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="qwen2-0.5b / qwen2-1.5b / qwen2-7b (-shape), or a folder")
    ap.add_argument("--gpus", type=int, required=True, help="GPUs per node")
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--gpu-mem-gb", type=float, required=True, help="GiB per GPU")
    ap.add_argument("--host-mem-gb", type=float, required=True, help="GiB of host RAM per node")
    ap.add_argument("--micro-batch", type=int, default=4, help="sequences per micro-batch per GPU")
    ap.add_argument("--seq", type=int, default=512, help="tokens per sequence")
    ap.add_argument("--tokens-per-micro-batch", type=int, default=None, help="packed budget (default B x seq)")
    ap.add_argument("--no-activation-checkpointing", action="store_true")
    ap.add_argument("--mfu", type=float, default=0.4, help="model-FLOP utilisation assumed for tokens/s")
    ap.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak (default H200/H100: 989)")
    ap.add_argument("--vocab-size", type=int, default=None, help="for tiny presets only")
    ap.add_argument("--reserve-gb", type=float, default=CUDA_RESERVE_GIB, help="CUDA context + fragmentation, GiB")
    ap.add_argument("--host-per-rank-gb", type=float, default=HOST_PER_RANK_GIB, help="host GiB per rank process")
    ap.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS, help="train.optimizer (adamw8bit: "
                    "bitsandbytes 8-bit AdamW states)")
    ap.add_argument("--json", action="store_true", help="print the plan as JSON")
    a = ap.parse_args(argv)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # DeepSpeed's import-time log lines stay off stdout
            out = plan(a.model, a.gpus, a.gpu_mem_gb, a.host_mem_gb, a.micro_batch, a.seq,
                       not a.no_activation_checkpointing, a.nodes, a.mfu, tokens_per_micro_batch=a.tokens_per_micro_batch,
                       peak_tflops=a.peak_tflops, vocab_size=a.vocab_size, reserve_gb=a.reserve_gb,
                       host_per_rank_gb=a.host_per_rank_gb, optimizer=a.optimizer)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print_plan(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
