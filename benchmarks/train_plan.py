"""What a bench_train_throughput case resolves to, without building anything: the worker's spec, its train config,
its resolved DeepSpeed config, the peak FLOP/s of the target GPU, and the ``--dry-run`` plan.

The workers (bench_train_throughput.measure) and the dry-run call the same functions here, so a case that
passes the dry-run on the CPU resolves the same way on the GPU:

    spec = case_spec(case, warmup=1, steps=3, dtype="float32", loss_impl="auto")
    ds = ds_config(spec, train_config(spec))   # resolve_ds_config(read_ds_config(path), train config, world 1)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmarks import gpu_cases
from benchmarks.common import ROOT, append_rows, dry_run_stamp
from benchmarks.gpu_cases import TrainCase

TINY_VOCAB = 1024  # tiny presets take the vocabulary from a tokenizer; the benchmark uses random ids


def check_labels(n_labels: int, seq: int) -> None:
    if not 0 < n_labels < seq:
        raise ValueError(f"need 0 < label tokens ({n_labels}) < sequence length ({seq})")


def case_spec(case: TrainCase, *, warmup: int, steps: int, dtype: str, loss_impl: str) -> dict:
    """The JSON a worker gets (plus its ``provider``)."""
    return {"model": case.model, "batch": case.micro_batch, "seq": case.seq, "labels": case.labels, "ds": case.ds,
            "ac": case.activation_checkpointing, "warmup": warmup, "steps": steps, "dtype": dtype,
            "loss_impl": loss_impl, "pack_len": case.pack_len, "attn": case.attn}


def train_config(spec: dict):
    from harness.config import TrainConfig

    return TrainConfig(micro_batch=spec["batch"], grad_accum=1, lr=1e-5, warmup_ratio=0.0, schedule="constant",
                       grad_clip=1.0, norm_mode="token", loss_impl=spec["loss_impl"], seed=0, epochs=1,
                       activation_checkpointing=spec["ac"])


def ds_config(spec: dict, tc) -> dict | None:
    """The case's DeepSpeed config as the harness resolves it (batch fields filled from ``tc``, one process);
    None for the plain engine. The dry-run calls exactly this."""
    if not spec["ds"]:
        return None
    from harness.train.dsconfig import read_ds_config, resolve_ds_config

    return resolve_ds_config(read_ds_config(ROOT / spec["ds"]), tc, 1, source=spec["ds"])


def tabulated_gpu(name: str) -> str | None:
    """The key of harness.train.metrics.PEAK_FLOPS that a CUDA device name matches (``NVIDIA H200`` -> ``H200``),
    the same lookup as metrics.peak_flops."""
    from harness.train.metrics import PEAK_FLOPS

    return next((k for k in PEAK_FLOPS if k in name), None)


def case_columns(stamp: dict, case: TrainCase, prov: str, warmup: int, steps: int) -> dict:
    return {**stamp, "model": case.model, "provider": prov, "engine": Path(case.ds).stem if case.ds else "plain",
            "micro_batch": case.micro_batch, "seq": case.seq, "label_tokens": case.labels,
            "activation_checkpointing": case.activation_checkpointing, "warmup": warmup, "steps": steps,
            "pack_len": case.pack_len, "attn": case.attn}


def predicted_memory(case: TrainCase) -> str:
    """harness.train.plan's per-GPU / host prediction (GiB) for the case's DeepSpeed config on the target
    machine; "" when that module is absent or plans no option for this config (plain engine, cpu_test.json)."""
    if not case.ds or importlib.util.find_spec("harness.train.plan") is None:
        return ""
    try:  # informational only: a broken planner is reported in the plan line, it does not fail the dry-run
        from harness.train.plan import plan

        got = plan(case.model, gpus=1, gpu_mem_gb=gpu_cases.GPU_MEM_GB, host_mem_gb=gpu_cases.HOST_MEM_GB,
                   micro_batch=case.micro_batch, seq=case.seq,
                   activation_checkpointing=case.activation_checkpointing, vocab_size=TINY_VOCAB)
    except Exception as e:
        return f"harness.train.plan failed ({type(e).__name__}: {e})"
    opt = next((o for o in got["options"] if o["config"] == case.ds), None)
    if opt is None:
        return ""
    fits = "fits" if opt["fits"] else "DOES NOT FIT"
    return (f"GPU {opt['gpu_gib']:.1f} GiB of {gpu_cases.GPU_MEM_GB}, host {opt['host_gib_per_node']:.1f} GiB of "
            f"{gpu_cases.HOST_MEM_GB}: {fits}")


def dry_run(cases, *, warmup: int, steps: int, dtype: str, loss_impl: str, out: Path) -> list:
    """Validate every case as the real run would, building no model; print and append one plan row each."""
    from harness.models.load import resolve_config
    from harness.train.dsconfig import offloads_optimizer, precision, zero_stage
    from harness.train.metrics import PEAK_FLOPS

    if steps < 1 or warmup < 0:
        raise ValueError(f"need --steps >= 1 and --warmup >= 0, got {steps}, {warmup}")
    key = tabulated_gpu(gpu_cases.TARGET_GPU)
    if key is None:
        raise ValueError(f"{gpu_cases.TARGET_GPU} matches no key of harness.train.metrics.PEAK_FLOPS: MFU would be "
                         "empty on the GPU")
    stamp, rows = dry_run_stamp(gpu_cases.TARGET_GPU), []
    for case in cases:
        check_labels(case.labels, case.pack_len // 2 if case.pack_len else case.seq)
        spec = case_spec(case, warmup=warmup, steps=steps, dtype=dtype, loss_impl=loss_impl)
        ds = ds_config(spec, train_config(spec))
        cfg = resolve_config(case.model, TINY_VOCAB)
        mem = predicted_memory(case)
        ds_note = "plain torch" if ds is None else (
            f"zero{zero_stage(ds)} {precision(ds)} offload={offloads_optimizer(ds)} micro="
            f"{ds['train_micro_batch_size_per_gpu']} gas={ds['gradient_accumulation_steps']} "
            f"batch={ds['train_batch_size']} clip={ds['gradient_clipping']}")
        row = {**case_columns(stamp, case, " ".join(case.providers()), warmup, steps), "layers": cfg.num_hidden_layers,
               "hidden": cfg.hidden_size, "vocab": cfg.vocab_size, "ds_resolved": ds_note,
               "peak_tflops": PEAK_FLOPS[key] / 1e12, "peak_source": f"tabulated bf16 dense ({key})",
               "predicted_memory": mem}
        print(f"[dry-run] {case.label()}: {ds_note}; peak {PEAK_FLOPS[key] / 1e12:.0f} TFLOP/s ({key}); "
              f"harness.train.plan: {mem or '-'}", flush=True)
        append_rows(out, [row])
        rows.append(row)
    return rows


