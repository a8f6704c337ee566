"""A machine kept busy on purpose, for the tests that a timing claim's verdict does not depend on load."""
import threading

import numpy as np
import pytest
import torch


class Busy:
    """`n` threads multiplying matrices (numpy releases the GIL) until stopped: both cores kept busy."""

    def __init__(self, n: int = 2):
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._spin, daemon=True) for _ in range(n)]

    def _spin(self) -> None:
        a = np.random.default_rng(0).standard_normal((192, 192))
        while not self.stop.is_set():
            a = np.tanh(a @ a)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


@pytest.fixture
def one_thread():
    """torch on one thread for the test (the work's CPU clock is then the calling thread's), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
