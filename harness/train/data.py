"""Training data order: seeded, length-grouped global batches, split across ranks and micro-batches.

A step consumes one *global batch* of ``micro_batch x grad_accum x world`` example indices. The order of
global batches depends only on (seed, epoch, global batch size, example lengths), so the same global batch
size sees the same data at any world size; within a global batch, examples are sorted by length and dealt
out in contiguous chunks (micro-batch m of rank r = chunk m * world + r) to cut padding. The step's loss is a
sum over the whole global batch divided by a global normaliser, so the split does not change the gradient.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.data.tokenize import Encoded

GROUP_FACTOR = 32  # global batches per length-sorting window (bigger = less padding, less randomness)


def global_batches(enc: Encoded, *, seed: int, epoch: int, global_batch: int) -> list[list[int]]:
    """Epoch ``epoch``'s list of global batches (the trailing partial batch is dropped: see ``dropped``)."""
    n = len(enc)
    if global_batch <= 0:
        raise ValueError(f"global batch must be > 0, got {global_batch}")
    if n < global_batch:
        raise ValueError(f"{n} training examples are fewer than one global batch ({global_batch} = micro_batch x "
                         "grad_accum x world); lower train.micro_batch or train.grad_accum")
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(n)[: n - n % global_batch].tolist()
    window = global_batch * GROUP_FACTOR
    batches = []
    for start in range(0, len(perm), window):
        chunk = sorted(perm[start:start + window], key=lambda i: (enc.n_tokens(i), i))
        batches += [chunk[j:j + global_batch] for j in range(0, len(chunk), global_batch)]
    order = rng.permutation(len(batches))
    return [batches[k] for k in order]


def dropped(n: int, global_batch: int) -> int:
    return n % global_batch


def rank_micro_batches(batch: list[int], enc: Encoded, *, rank: int, world: int, gas: int) -> list[list[int]]:
    """The ``gas`` micro-batches of ``rank`` within one global batch (each of ``len(batch) / (world*gas)``)."""
    chunks = world * gas
    if len(batch) % chunks:
        raise ValueError(f"global batch of {len(batch)} does not split into {world} ranks x {gas} micro-batches")
    size = len(batch) // chunks
    ordered = sorted(batch, key=lambda i: (enc.n_tokens(i), i))
    return [ordered[(m * world + rank) * size:(m * world + rank + 1) * size] for m in range(gas)]


def example_weights_for(indices: list[int], weights: np.ndarray | None) -> torch.Tensor:
    """Per-example importance weights (all ones without a weights file = plain SFT)."""
    if weights is None:
        return torch.ones(len(indices), dtype=torch.float32)
    return torch.from_numpy(np.asarray(weights[indices], dtype=np.float32))
