"""One intra-op thread for the in-process model tests of this folder: tiny models gain nothing from more, and on a
shared 2-core machine two threads per process were 10x slower (measured: 5 training steps 0.13 s vs 2.9 s)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
