"""A timing claim of post 8610 gets the same verdict on a busy machine as on a quiet one.

"Linear attention with key size 4d is cheaper than softmax only beyond n = 16d", at a small size
(h = 2, d = 8: 16d = 128), measured as `kexue reproduce` measures it (one torch thread, the work's own
CPU time, the sides and lengths interleaved, every round kept) and decided on the bootstrap interval of
the crossover: once alone, once with threads keeping both cores busy (the `Busy` of
tests/test_timing_claims.py). With the best of three wall times this claim went from held to not held
between two runs of one commit. The control: the same rule on the same rounds against a wrong count
(key size 2d: 4d = 32) comes out not held either way."""

import pytest
import torch

from kexue.attention import claims, cost
from kexue.attention.measure import MeasureConfig, measure_cores, seconds
from tests.busy import Busy, one_thread  # noqa: F401  (one_thread: a fixture)

CFG = MeasureConfig(lengths=(32, 64, 128, 256, 512, 1024, 2048), h=2, d=8, repeats=7, causal=False, threads=1)
S = cost.LayerShape(h=CFG.h, d=CFG.d)


def _verdicts() -> tuple[tuple[str, str], str]:
    """(the claim's verdict, the control's), and the measured interval for the message."""
    cores = measure_cores(CFG)
    ns = list(CFG.lengths)
    x = claims.crossover_interval(ns, seconds(cores, "softmax_full"), seconds(cores, "linear_full"))
    claim = claims.crossover_near(x, cost.crossover_linear(S, 4), ns[-1])
    control = claims.crossover_near(x, cost.crossover_linear(S, 2), ns[-1])
    return (claim.verdict, control.verdict), claim.why


def test_linear_crossover_verdict_is_the_same_under_load(one_thread):
    quiet, why_quiet = _verdicts()
    with Busy(2):
        busy, why_busy = _verdicts()
    assert quiet == busy == ("held", "not held"), f"quiet: {why_quiet}; busy: {why_busy}"
