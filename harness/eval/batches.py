"""What label ranking and decoding share: padding token-id rows, and the sharded batch loop in which every rank
makes the same number of model calls (ZeRO-3 gathers parameters inside each call, so a rank that stopped
early would hang the others)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from harness import dist


def pad_rows(rows: list[list[int]], width: int, pad: int, device, *, left: bool = False
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) [len(rows), width] long: each row at the right end when ``left`` (pad on the left,
    as decoder-only generation needs), else at the left end."""
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, s in enumerate(rows):
        cols = slice(width - len(s), width) if left else slice(0, len(s))
        ids[r, cols] = torch.tensor(s, dtype=torch.long)
        mask[r, cols] = 1
    return ids.to(device), mask.to(device)


def sharded_batches(model, n: int, batch_examples: int, run: Callable[[list[int]], object], *,
                    order: Callable[[int], object] | None = None) -> list[tuple[list[int], object]]:
    """``run(indices)`` over this rank's shard of ``range(n)`` (sorted by ``order`` when given) in batches of
    ``batch_examples``, with the model in eval mode under ``torch.no_grad`` (its training flag restored after).
    Every rank makes ceil(ceil(n / world) / batch_examples) calls: a rank whose shard ran out runs a dummy batch
    ``[0]`` whose result is dropped. Returns every rank's ``(indices, result)`` pairs, the same list on all ranks."""
    if batch_examples < 1:
        raise ValueError(f"batch_examples must be >= 1, got {batch_examples}")
    shard = list(dist.shard_range(n, dist.rank(), dist.world()))
    if order is not None:
        shard.sort(key=order)
    n_batches = math.ceil(math.ceil(n / dist.world()) / batch_examples)  # identical on every rank
    was_training = model.training
    model.eval()
    local = []
    try:
        with torch.no_grad():
            for j in range(n_batches):
                idx = shard[j * batch_examples: (j + 1) * batch_examples]
                out = run(idx or [0])  # the dummy batch keeps the call count equal across ranks
                if idx:
                    local.append((idx, out))
    finally:
        model.train(was_training)
    return [pair for part in dist.all_gather_object(local) for pair in part]
