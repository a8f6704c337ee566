"""One torch thread for the diffusion tests: their ops are tiny, and on shared cores a second thread
mostly waits at barriers (see benchmarks/attention.py)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
