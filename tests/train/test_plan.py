"""The memory/throughput plan: parameter counts vs built models, DeepSpeed's estimator called directly, the
activation count vs the bytes autograd saves, picking, the CLI."""

import json
import re
import subprocess
import sys

import pytest
import torch
from deepspeed.runtime.zero.stage3 import (
    estimate_zero3_model_states_mem_needs,
    estimate_zero3_model_states_mem_needs_all_cold,
    model_to_params,
)
from transformers import AutoModelForCausalLM

from harness.models.load import build_model, preset_config
from harness.train import plan as P
from harness.train.metrics import flops_per_token, matmul_params

GIB = 2**30


def _largest_module(model) -> int:
    return max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())


@pytest.mark.parametrize("spec", ["tiny-qwen2", "tiny-qwen2-tied", "tiny-qwen2-small"])
def test_param_counts_equal_built_tiny_model(spec):
    model = build_model(spec, vocab_size=97, dtype="float32")
    counts = P.param_counts(model.config)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert (counts["total"], counts["largest_layer"]) == model_to_params(model)
    assert counts["matmul"] == matmul_params(model)


@pytest.mark.parametrize("spec,billions", [("qwen2-0.5b-shape", 0.494), ("qwen2-7b-shape", 7.616)])
def test_param_counts_equal_real_shapes(spec, billions):
    cfg = preset_config(spec)
    with torch.device("meta"):  # no memory: numel only
        model = AutoModelForCausalLM.from_config(cfg)
    counts = P.param_counts(cfg)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["largest_layer"] == _largest_module(model)
    assert counts["matmul"] == matmul_params(model)
    assert round(counts["total"] / 1e9, 3) == billions


def test_param_counts_qwen2_7b_arithmetic():
    """The known figures: 7.62B params; bf16 params 15.2 GB + grads 15.2 + fp32 master 30.5 + Adam 61 ~ 122 GB."""
    n = P.param_counts(P.model_config("qwen2-7b"))["total"]
    assert round(n / 1e9, 2) == 7.62
    assert [round(n * b / 1e9, 1) for b in (2, 2, 4, 8)] == [15.2, 15.2, 30.5, 60.9]
    assert round(n * 16 / 1e9) == 122


@pytest.mark.parametrize("gpus,nodes", [(1, 1), (8, 1), (8, 2)])
@pytest.mark.parametrize("off_opt,off_par", [(False, False), (True, True), (True, False)])
def test_ds_estimate_equals_deepspeed(gpus, nodes, off_opt, off_par):
    n, largest = 7_615_616_512, 544_997_376
    ours = P.ds_estimate(n, largest, gpus=gpus, nodes=nodes, offload_optimizer=off_opt, offload_params=off_par)
    cpu, gpu, lay = estimate_zero3_model_states_mem_needs(n, largest, num_gpus_per_node=gpus, num_nodes=nodes,
                                                          cpu_offload=off_opt, cpu_offload_params=off_par,
                                                          zero_init=True, additional_buffer_factor=1.5)
    assert (ours["host_per_node"], ours["gpu"], ours["largest_layer"]) == (cpu, gpu, lay)


def test_plan_options_match_printed_all_cold(capsys):
    """The plan's DS columns are the lines ``..._all_cold`` prints (zero_init=1) for the same counts."""
    out = P.plan("qwen2-7b", 8, 80, 1000, nodes=2)
    capsys.readouterr()
    estimate_zero3_model_states_mem_needs_all_cold(out["params"]["total"], out["params"]["largest_layer"],
                                                   num_gpus_per_node=8, num_nodes=2)
    printed = capsys.readouterr().out
    rows = {}  # (offload params, offload optimizer) -> "host | gpu" as printed; the device prints as an enum
    for m in re.finditer(r"^\s*(\S+GB \|\s+\S+GB) \| offload_param=(\S+), offload_optimizer=(\S+), zero_init=1$",
                         printed, re.M):
        rows[(m[2] != "none", m[3] != "none")] = m[1]
    assert len(rows) == 3, printed
    for o in out["options"]:
        ours = f"{o['ds_host_gib_per_node']:7.2f}GB | {o['ds_gpu_gib']:6.2f}GB".strip()
        assert rows[(o["offload_params"], o["offload_optimizer"])] == ours


def test_activation_bytes_equal_saved_tensors():
    """No checkpointing: the formula equals the bytes autograd saves (distinct storages, parameters excluded) in a
    bf16 tiny Qwen2 body forward on CPU (SDPA's flash kernel: K/V at kv width), less the two RoPE tables, which are
    [seq, head_dim] per position, not per token."""
    model = build_model("tiny-qwen2", vocab_size=97, dtype="bfloat16", attn_impl="sdpa")
    b, t = 3, 40
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(x):
        saved.setdefault(x.untyped_storage().data_ptr(), (x.untyped_storage().nbytes(), x.shape))
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        model.model(input_ids=torch.randint(0, 97, (b, t)))
    rope = [n for n, shape in saved.values() if tuple(shape[:2]) == (1, 1)]
    head_dim = model.config.hidden_size // model.config.num_attention_heads
    assert len(rope) == 2 and sum(rope) == 2 * 2 * t * head_dim
    measured = sum(n for ptr, (n, _) in saved.items() if ptr not in params) - sum(rope)
    assert P.activation_bytes(model.config, b * t, False)["total"] == measured


def test_activation_bytes_checkpointing_arithmetic():
    cfg = P.model_config("qwen2-7b")
    h, i, layers, tokens = 3584, 18944, 28, 2048
    a = 16 * h + 8 + 4 * 28 * 128 + 4 * 4 * 128 + 4 * 28 + 8 * i
    other = (6 * h + 12) * tokens
    assert P.activation_bytes(cfg, tokens, False)["total"] == layers * a * tokens + other
    assert P.activation_bytes(cfg, tokens, True)["total"] == layers * 2 * h * tokens + a * tokens + other


def test_logits_chunk_matches_kernel():
    from harness.kernels.chunked import DEFAULT_CHUNK_BYTES

    assert P.LOGITS_CHUNK_BYTES == DEFAULT_CHUNK_BYTES


def test_plan_7b_one_h200_picks_no_offload():
    """1 x 140 GiB, 128 GiB host: offload's pinned host need (DeepSpeed: 18 B/param x 1.5 = 191.5 GiB) exceeds the
    host; no offload fits at 4 x 512 with checkpointing (DeepSpeed's 129.7 GiB + the harness's terms)."""
    out = P.plan("qwen2-7b", 1, 140, 128, micro_batch=4, seq=512, activation_checkpointing=True)
    opts = {o["name"]: o for o in out["options"]}
    assert out["picked"] == "ds_configs/zero3.json"
    assert opts["zero3"]["ds_gpu_gib"] == pytest.approx((18 * 7_615_616_512 + 4 * 544_997_376) / GIB)
    assert opts["zero3"]["gpu_gib"] == pytest.approx(opts["zero3"]["ds_gpu_gib"] + sum(out["terms_gib"].values()))
    assert opts["zero3"]["gpu_gib"] < 140 and not opts["zero3_offload"]["host_fits"]
    assert out["terms_gib"]["loss_dw_fp32"] == pytest.approx(152064 * 3584 * 4 / GIB)
    no_ckpt = P.plan("qwen2-7b", 1, 140, 128, micro_batch=4, seq=512, activation_checkpointing=False)
    assert no_ckpt["picked"] is None and any("activation checkpointing" in a for a in no_ckpt["advice"])


def test_plan_7b_one_h200_with_adamw8bit_leaves_20_gib():
    """Issue 22: train.optimizer=adamw8bit (8-bit AdamW states: 2 B/param + block absmax instead of 8 B) plans 7B
    full fine-tuning on one H200 (139 GiB usable) with >= 20 GiB free; with fp32 Adam the same run keeps ~2 GiB.
    The offloaded options do not apply (the engine refuses adamw8bit with offload_optimizer)."""
    args = dict(micro_batch=1, seq=2048, activation_checkpointing=True)
    fp32 = P.plan("qwen2-7b", 1, 139, 128, **args)
    q8 = P.plan("qwen2-7b", 1, 139, 128, optimizer="adamw8bit", **args)
    z32, z8 = fp32["options"][0], q8["options"][0]
    assert q8["picked"] == fp32["picked"] == "ds_configs/zero3.json"
    saved = (8 - 2 - 2 * 4 / 256) * 7_615_616_512 / GIB
    assert z32["gpu_gib"] - z8["gpu_gib"] == pytest.approx(saved) and saved == pytest.approx(42.33, abs=0.01)
    assert z8["gpu_free_gib"] >= 20 > z32["gpu_free_gib"]
    assert [o["fits"] for o in q8["options"][1:]] == [False, False]
    assert not any(o["optimizer_applies"] for o in q8["options"][1:])
    with pytest.raises(ValueError, match="optimizer must be one of"):
        P.plan("qwen2-7b", 1, 139, 128, optimizer="sgd")


def test_plan_picks_offload_when_gpu_too_small():
    out = P.plan("qwen2-7b", 8, 16, 1000)  # no offload needs 18 B x N / 8 ~ 16 GiB + terms per GPU
    assert out["picked"] == "ds_configs/zero3_offload.json"
    assert not out["options"][0]["gpu_fits"] and out["options"][1]["fits"]


def test_plan_nothing_fits_says_what_to_change():
    out = P.plan("qwen2-7b", 1, 80, 128)
    assert out["picked"] is None
    text = "\n".join(out["advice"])
    assert "from 2 GPUs of 80 GiB" in text and "8-bit Adam" in text and "micro-batch 1" in text
    host_only = P.plan("qwen2-7b", 8, 80, 20)  # every option fits the GPUs, none the host
    assert host_only["picked"] is None and "more GPUs" not in "\n".join(host_only["advice"])
    assert "more host memory: ds_configs/zero3.json needs 48.4 GiB per node" in host_only["advice"]


def test_plan_throughput_uses_metrics_formula():
    out = P.plan("qwen2-7b", 8, 80, 1000, nodes=2, seq=512, mfu=0.5, peak_tflops=800)
    cfg = P.model_config("qwen2-7b")
    fpt = flops_per_token(cfg, 7_615_616_512 - 544_997_376, 512)
    assert fpt == 6 * 7_070_619_136 + 12 * 28 * 3584 * 512
    assert out["throughput"]["tokens_per_s_per_gpu"] == pytest.approx(0.5 * 800e12 / fpt)
    assert out["throughput"]["tokens_per_s_per_job"] == pytest.approx(16 * 0.5 * 800e12 / fpt)


def test_plan_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'qwen9'"):
        P.plan("qwen9", 1, 80, 100)
    with pytest.raises(ValueError, match="gpu_mem_gb must be > 0"):
        P.plan("qwen2-7b", 1, 0, 100)
    preset_config("tiny-t5", 50).save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="the plan counts Qwen2 only"):
        P.plan(str(tmp_path), 1, 80, 100)


def test_plan_reads_checkpoint_folder(tmp_path):
    preset_config("qwen2-0.5b-shape").save_pretrained(str(tmp_path))
    assert P.plan(str(tmp_path), 1, 80, 100)["params"]["total"] == 494_032_768


def test_cli_entry_point_prints_picked_config_last():
    cmd = [sys.executable, "-m", "harness.train.plan", "--model", "qwen2-7b", "--gpus", "8", "--gpu-mem-gb", "80",
           "--host-mem-gb", "1000"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "ds_configs/zero3.json" and "zero3_offload" in r.stdout


def test_cli_json_and_one_line_errors(capsys):
    base = ["--gpus", "1", "--gpu-mem-gb", "80", "--host-mem-gb", "128"]
    assert P.main(["--model", "qwen2-7b", *base, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["picked"] is None and out["params"]["total"] == 7_615_616_512
    assert P.main(["--model", "qwen2-7b", *base]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "none"
    assert P.main(["--model", "nope", *base]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: unknown model 'nope'")


def test_import_stays_light():
    code = "import sys, harness.train.plan; print('deepspeed' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
