"""The helpers ranking and decoding share: padding, and the sharded batch loop (one process here; the two-rank
run is tests/eval/test_rank.py's slow test)."""

import pytest
import torch

from harness.eval.batches import pad_rows, sharded_batches


def test_pad_rows_right_and_left():
    ids, mask = pad_rows([[5, 6, 7], [8]], 4, 0, "cpu")
    assert ids.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]] and mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    ids, mask = pad_rows([[5, 6, 7], [8]], 3, 9, "cpu", left=True)
    assert ids.tolist() == [[5, 6, 7], [9, 9, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == mask.dtype == torch.long


def test_sharded_batches_one_process_covers_in_order_and_restores_mode():
    model = torch.nn.Linear(2, 2).train()
    seen = []

    def run(idx):
        seen.append((list(idx), model.training, torch.is_grad_enabled()))
        return [10 * i for i in idx]

    got = sharded_batches(model, 5, 2, run, order=lambda i: -i)
    assert [idx for idx, _ in got] == [[4, 3], [2, 1], [0]] and got[0][1] == [40, 30]
    assert all(not training and not grad for _, training, grad in seen)
    assert model.training
    with pytest.raises(ValueError, match="batch_examples must be >= 1, got 0"):
        sharded_batches(model, 5, 0, run)
