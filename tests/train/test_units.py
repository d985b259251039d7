"""Single-process units: DS config checks, data order/split, schedule, the loss vs HF and float64, bad input."""

import json

import numpy as np
import pytest
import torch

from harness.config import TrainConfig, load_config
from harness.data.dataset import load_splits
from harness.data.prompts import get_template
from harness.data.tokenize import collate, encode
from harness.manifest import ManifestMismatch, write_manifest
from harness.models.load import build_model
from harness.models.tokenizer import train_tokenizer
from harness.train.data import global_batches, rank_micro_batches
from harness.train.dsconfig import DSConfigError, resolve_ds_config
from harness.train.engine import lr_factor
from harness.train.loss import WeightedLoss
from harness.train.normaliser import batch_normaliser
from harness.train.sft import train

COMMON = ["data.synthetic_size=40", "data.max_train_examples=16", "train.epochs=1", "train.eval_split=",
          "train.micro_batch=4"]


def test_dsconfig_fills_and_rejects_disagreement():
    tc = TrainConfig(micro_batch=2, grad_accum=3, grad_clip=1.0)
    out = resolve_ds_config({"zero_optimization": {"stage": 3}}, tc, 4)
    assert (out["train_micro_batch_size_per_gpu"], out["gradient_accumulation_steps"], out["train_batch_size"]) == (2, 3, 24)
    with pytest.raises(DSConfigError, match="train_batch_size = 16 disagrees.*24"):
        resolve_ds_config({"train_batch_size": 16}, tc, 4)
    with pytest.raises(DSConfigError, match="gradient_accumulation_steps"):
        resolve_ds_config({"gradient_accumulation_steps": 1}, tc, 4)
    with pytest.raises(DSConfigError, match="auto"):
        resolve_ds_config({"train_micro_batch_size_per_gpu": "auto"}, tc, 4)
    with pytest.raises(DSConfigError, match="optimizer"):
        resolve_ds_config({"optimizer": {"type": "AdamW"}}, tc, 1)


def test_data_order_same_global_batches_at_any_world_size():
    tok = train_tokenizer(["a b c d e f g h i j k"] * 4, vocab_size=300)
    splits = load_splits(load_config(None, COMMON).data)
    enc = encode(splits.train, tok, splits.template, "causal")
    a = global_batches(enc, seed=3, epoch=1, global_batch=4)
    assert a == global_batches(enc, seed=3, epoch=1, global_batch=4)
    assert a != global_batches(enc, seed=3, epoch=2, global_batch=4)
    assert sorted(i for b in a for i in b) == list(range(16))
    for world, gas in ((1, 1), (2, 1), (1, 2), (2, 2), (4, 1)):
        parts = [m for r in range(world) for m in rank_micro_batches(a[0], enc, rank=r, world=world, gas=gas)]
        assert sorted(i for m in parts for i in m) == sorted(a[0])
        assert all(len(m) == 4 // (world * gas) for m in parts)


def test_lr_schedule_warmup_then_cosine_to_zero():
    f = [lr_factor(s, 10, 0.2, "cosine") for s in range(10)]
    # W = ceil(0.2 * 10) = 2 warm-up steps below the peak, the peak once at step 2, decay from step 3
    assert f[0] == pytest.approx(1 / 3) and f[1] == pytest.approx(2 / 3) and f[2] == 1.0 and f[3] < 1.0
    assert all(x > y for x, y in zip(f[2:], f[3:])) and f[-1] > 0
    assert lr_factor(10, 10, 0.2, "linear") == 0.0


@pytest.fixture(scope="module")
def tiny():
    splits = load_splits(load_config(None, COMMON).data)
    tpl = splits.template
    tok = train_tokenizer([tpl.render(e) + " " + e.train_label for e in splits.train], vocab_size=400)
    enc = encode(splits.train, tok, tpl, "causal")
    model = build_model("tiny-qwen2", vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id)
    return enc, model.double()


@pytest.mark.parametrize("mode", ["token", "sequence", "example"])
def test_loss_weights_one_matches_plain_objective_and_split_is_exact(tiny, mode):
    enc, model = tiny
    idx = list(range(6))
    full = collate(enc, idx)
    wl = WeightedLoss(model, norm_mode=mode, impl="reference")
    z = batch_normaliser(full, "causal", mode)
    model.zero_grad()
    loss = wl(full, torch.ones(6), z)
    loss.backward()
    g_full = [p.grad.clone() for p in model.parameters()]
    # plain objective from full logits in float64
    logits = model(input_ids=full["input_ids"], attention_mask=full["attention_mask"]).logits[:, :-1]
    tgt = full["labels"][:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt, reduction="none", ignore_index=-100)
    n = (tgt != -100).sum(1)
    want = {"token": ce.sum() / n.sum(), "sequence": ce.sum(1).mean(), "example": (ce.sum(1) / n).mean()}[mode]
    torch.testing.assert_close(loss.double(), want.detach(), rtol=1e-6, atol=1e-8)
    # split into micro-batches of 2 with the global normaliser: same loss and gradients
    model.zero_grad()
    total = 0.0
    for part in ([0, 1], [2, 3], [4, 5]):
        piece = wl(collate(enc, part), torch.ones(2), z)
        piece.backward()
        total += float(piece.detach())
    assert total == pytest.approx(float(loss), rel=1e-6)
    for a, b in zip(g_full, [p.grad for p in model.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)  # the kernel computes in fp32


def test_loss_rejects_partitioned_head_shape(tiny):
    enc, model = tiny
    wl = WeightedLoss(model, norm_mode="token", impl="reference")
    wl.head_shape = (1, 1)  # what ZeRO-3 would record; the live weight differs -> clear error
    with pytest.raises(RuntimeError, match="ZeRO-3 did not gather"):
        wl(collate(enc, [0, 1]), torch.ones(2), 4.0)


def test_plain_gas2_micro2_equals_micro4_and_zero_weight_examples(tmp_path):
    a = train(load_config(None, COMMON + [f"run_dir={tmp_path / 'a'}"]), None, export=False)["losses"]
    b = train(load_config(None, COMMON + [f"run_dir={tmp_path / 'b'}", "train.micro_batch=2", "train.grad_accum=2"]),
              None, export=False)["losses"]
    torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=1e-5, atol=1e-6)


def test_bad_input_stops_before_first_step(tmp_path):
    run = tmp_path / "run"
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"train_micro_batch_size_per_gpu": 8, "zero_optimization": {"stage": 3}}))
    with pytest.raises(DSConfigError, match="train_micro_batch_size_per_gpu = 8 disagrees.*micro_batch = 4"):
        train(load_config(None, COMMON + [f"run_dir={run}"]), ds)
    with pytest.raises(FileNotFoundError, match="resume.*does not exist"):
        train(load_config(None, COMMON + [f"run_dir={run}"]), None, resume=True)
    w = tmp_path / "weights.f32"
    np.ones(16, dtype=np.float32).tofile(w)
    write_manifest(tmp_path / "weights.json", {"dataset_fingerprint": "another-dataset",
                                               "template_hash": get_template("semeval").hash, "n_examples": 16})
    with pytest.raises(ManifestMismatch, match="dataset_fingerprint"):
        train(load_config(None, COMMON + [f"run_dir={run}", f"train.weights_file={w}"]), None)
    with pytest.raises(FileNotFoundError, match="weights_file"):
        train(load_config(None, COMMON + [f"run_dir={run}", f"train.weights_file={tmp_path / 'nope.f32'}"]), None)
    assert not (run / "metrics.jsonl").exists()


def test_seq2seq_trains_exports_and_evaluates(tmp_path):
    """The Flan-T5 family through the same loop: loss falls, the export loads, label ranking runs on it."""
    from harness.eval import evaluate_model
    from harness.models.tokenizer import load_tokenizer

    cfg = load_config(None, COMMON + [f"run_dir={tmp_path / 't5'}", "model.large=tiny-t5", "train.epochs=4",
                                      "train.lr=3e-3", "train.warmup_ratio=0"])
    out = train(cfg, None, export=True)
    losses = out["losses"]
    assert len(losses) == 16 and all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])
    model = build_model(out["export_dir"]).eval()
    assert model.config.is_encoder_decoder
    live = out["engine"].model.eval()
    splits = load_splits(cfg.data)
    tok = load_tokenizer(out["export_dir"])
    enc = encode(splits.train[:4], tok, splits.template, "seq2seq", decoder_start_id=model.config.decoder_start_token_id)
    batch = collate(enc, [0, 1, 2, 3])
    keys = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask")
    with torch.no_grad():
        a = model(**{k: batch[k] for k in keys}).logits
        b = live(**{k: batch[k] for k in keys}).logits
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    res = evaluate_model(model, tok, splits.test[:8], splits.label_space, splits.template, batch_examples=4)
    assert 0.0 <= res["macro_f1"] <= 1.0 and res["n_invalid"] == 0 and len(res["predictions"]) == 8


def test_activation_checkpointing_gives_the_same_losses(tmp_path):
    """Recomputing activations in backward changes memory, not the numbers."""
    base = train(load_config(None, COMMON + [f"run_dir={tmp_path / 'a'}"]), None, export=False)["losses"]
    ckpt = train(load_config(None, COMMON + [f"run_dir={tmp_path / 'b'}", "train.activation_checkpointing=true"]),
                 None, export=False)
    model = ckpt["engine"].model
    assert getattr(model, "is_activation_checkpointing", None) or model.is_gradient_checkpointing
    np.testing.assert_allclose(ckpt["losses"], base, rtol=1e-6, atol=1e-7)


def test_zero3_builds_a_shape_preset_once_and_a_tiny_preset_twice(monkeypatch):
    """Issue 22: under ZeRO-3 a ``*-shape`` preset (benchmark sizes up to 7B) is built once, partitioned; only tiny
    presets get the seeded plain build first (copied in, for the parity tests)."""
    from harness.config import ModelConfig
    from harness.train import engine as eng

    calls, copies = [], []
    monkeypatch.setattr(eng, "build_model", lambda spec, **kw: calls.append(spec) or torch.nn.Linear(1, 1))
    monkeypatch.setattr(eng, "_copy_into_partitioned", lambda model, state: copies.append(len(state)))
    ds = {"zero_optimization": {"stage": 3}, "bf16": {"enabled": False}}
    for spec, builds in (("qwen2-7b-shape", 1), ("tiny-qwen2", 2)):
        calls.clear()
        eng.construct_model(ModelConfig(large=spec), vocab_size=64, pad_id=0, eos_id=1, seed=0, device="cpu",
                            ds_config=ds)
        assert calls == [spec] * builds
    assert copies == [2]  # the tiny preset's plain init (a Linear's weight and bias here) was copied in


def test_adamw8bit_steps_follow_fp32_adamw_on_a_tiny_model():
    """train.optimizer=adamw8bit (bitsandbytes AdamW8bit, CPU) against torch's fp32 AdamW from the same init and
    the same gradients of a fixed batch, 10 steps: per parameter tensor, the 8-bit run's total update differs from
    the fp32 run's by at most 5 % of its norm (tensors of >= 4096 elements have 8-bit block-wise states, the
    smaller ones bitsandbytes keeps in fp32; the measured worst case is printed)."""
    pytest.importorskip("bitsandbytes")
    from harness.train.engine import make_optimizer

    tok = train_tokenizer(["the cat sat on the mat", "a dog ran far away"] * 20, vocab_size=300)
    ids = torch.randint(0, len(tok), (4, 24), generator=torch.Generator().manual_seed(1))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
    runs = {}
    for opt in ("adamw", "adamw8bit"):
        torch.manual_seed(0)
        model = build_model("tiny-qwen2", vocab_size=len(tok))
        start = {k: v.detach().clone() for k, v in model.named_parameters()}
        optim = make_optimizer(model.parameters(), TrainConfig(optimizer=opt, lr=1e-3, weight_decay=0.01))
        for _ in range(10):
            optim.zero_grad(set_to_none=True)
            WeightedLoss(model, norm_mode="token")(batch, torch.ones(4), 4 * 23.0).backward()
            optim.step()
        runs[opt] = {k: v.detach() - start[k] for k, v in model.named_parameters()}
    rel = {k: float((runs["adamw8bit"][k] - d).norm() / d.norm()) for k, d in runs["adamw"].items()}
    big = {k: r for k, r in rel.items() if runs["adamw"][k].numel() >= 4096}
    assert big, "no tensor large enough for 8-bit states"
    print(f"adamw8bit vs adamw after 10 steps: worst relative update difference {max(rel.values()):.4f} "
          f"({max(rel, key=rel.get)}); 8-bit-state tensors worst {max(big.values()):.4f}")
    assert max(rel.values()) <= 0.05
