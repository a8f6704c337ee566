"""A timing claim decided on the work's own CPU clock gets the same verdict on a busy machine.

`kexue.timing.interleaved_seconds` times the sides in turn on the calling thread's CPU time (torch on
one thread), and `kexue.verdicts.speedup` reads the spread of the log-ratio; threads that keep both
cores busy meanwhile must not change the verdict.
"""
import threading

import numpy as np
import pytest
import torch

from kexue.timing import interleaved_seconds, work_clock
from kexue.verdicts import speedup


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def _claim(target: float) -> str:
    x = torch.randn(160, 160)
    once = lambda: x @ x @ x  # noqa: E731
    thrice = lambda: [x @ x @ x for _ in range(3)]  # noqa: E731  three times the same work
    times = interleaved_seconds({"slow": thrice, "fast": once}, repeats=9, warmup=2)
    return speedup({"n=160": (times["slow"], times["fast"])}, target=target).verdict


@pytest.mark.parametrize("target, verdict", [(1.8, "held"), (5.0, "not held")])
def test_the_verdict_does_not_change_under_load(one_thread, target, verdict):
    quiet = _claim(target)
    with Busy(2):
        busy = _claim(target)
    assert quiet == busy == verdict


def test_wall_time_would_be_inflated_by_the_same_load(one_thread):
    """The control: the same load inflates wall time, so the test above has a load that matters."""
    import time

    x = torch.randn(160, 160)
    def per_call(clock) -> float:
        t0 = clock()
        for _ in range(30):
            x @ x @ x
        return clock() - t0
    quiet_cpu = per_call(work_clock("cpu"))
    with Busy(3):
        busy_wall, busy_cpu = per_call(time.perf_counter), per_call(work_clock("cpu"))
    assert busy_cpu < 2.0 * quiet_cpu  # the work's own CPU time barely moves
    assert busy_wall > busy_cpu  # the wall clock also counts the waits for a core


def test_sides_are_interleaved():
    calls = []
    interleaved_seconds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4, warmup=0)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
