"""tests/gen: every module runs its tiny models with one intra-op thread (module-scoped, restored after)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread for tiny models: on a shared 2-core machine two threads per process were 10x slower
    (measured: 5 training steps 0.13 s vs 2.9 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
