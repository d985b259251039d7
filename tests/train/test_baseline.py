"""The full-logits baseline loss equals WeightedLoss in token normalisation with unit weights (loss and grads)."""

import copy

import pytest
import torch

from harness.config import TrainConfig
from harness.constants import IGNORE_INDEX
from harness.models.load import build_model
from harness.train.baseline import BaselineLoss, BaselinePlainEngine
from harness.train.engine import PlainEngine
from harness.train.loss import WeightedLoss
from harness.train.normaliser import batch_normaliser


def _batch(b=3, t=12, vocab=97, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (b, t), generator=g)
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, -3:] = ids[0, -3:]
    labels[1, 5:7] = ids[1, 5:7]
    labels[2, -1:] = ids[2, -1:]
    mask = torch.ones_like(ids)
    mask[2, :2] = 0  # some padding
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@pytest.mark.parametrize("preset", ["tiny-qwen2", "tiny-qwen2-tied"])
def test_baseline_loss_matches_weighted_loss(preset):
    torch.set_default_dtype(torch.float64)
    try:
        model = build_model(preset, vocab_size=97, dtype="float32").double()
    finally:
        torch.set_default_dtype(torch.float32)
    ref_model = copy.deepcopy(model)
    batch = _batch()
    z = batch_normaliser(batch, "causal", "token") * 2.0  # as if a second micro-batch had as many label tokens
    w = torch.ones(3)
    loss_b = BaselineLoss(model, norm_mode="token")(batch, w, z)
    loss_w = WeightedLoss(ref_model, norm_mode="token", impl="reference")(batch, w, z)
    torch.testing.assert_close(loss_b.double(), loss_w.double(), atol=1e-6, rtol=1e-6)
    loss_b.backward()
    loss_w.backward()
    for (name, p), q in zip(model.named_parameters(), ref_model.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-5, msg=name)


def test_baseline_loss_refuses_what_it_cannot_compute():
    model = build_model("tiny-qwen2", vocab_size=97, dtype="float32")
    batch = _batch()
    with pytest.raises(ValueError, match="norm_mode=token"):
        BaselineLoss(model, norm_mode="sequence")
    loss = BaselineLoss(model, norm_mode="token")
    with pytest.raises(ValueError, match="all-ones"):
        loss(batch, torch.tensor([1.0, 2.0, 1.0]), 6.0)
    with pytest.raises(ValueError, match="normaliser"):
        loss(batch, torch.ones(3), 0.0)
    empty = dict(batch, labels=torch.full_like(batch["labels"], IGNORE_INDEX))
    with pytest.raises(ValueError, match="label token"):
        loss(empty, torch.ones(3), 6.0)


def test_baseline_engine_swaps_only_the_loss():
    tc = TrainConfig(norm_mode="token", lr=1e-3, warmup_ratio=0.0, schedule="constant")
    m1 = build_model("tiny-qwen2", vocab_size=97, dtype="float32", seed=3)
    m2 = build_model("tiny-qwen2", vocab_size=97, dtype="float32", seed=3)
    e1, e2 = PlainEngine(m1, tc, 4), BaselinePlainEngine(m2, tc, 4)
    assert isinstance(e1.module, WeightedLoss) and isinstance(e2.module, BaselineLoss)
    batch, w = _batch(), torch.ones(3)
    z = batch_normaliser(batch, "causal", "token")
    for _ in range(2):
        losses = []
        for e in (e1, e2):
            loss = e.forward(batch, w, z)
            e.backward(loss)
            e.step()
            losses.append(float(loss.detach()))
        assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for p, q in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
