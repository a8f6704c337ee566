"""A timing claim decided on the work's own CPU clock gets the same verdict on a busy machine.

`kexue.timing.interleaved_seconds` times the sides in turn on the calling thread's CPU time (torch on
one thread), and `kexue.verdicts.speedup` reads the spread of the log-ratio; threads that keep both
cores busy meanwhile must not change the verdict.
"""

import pytest
import torch

from kexue.timing import interleaved_seconds, work_clock
from kexue.verdicts import speedup
from tests.busy import Busy, one_thread  # noqa: F401  (one_thread: a fixture)


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
