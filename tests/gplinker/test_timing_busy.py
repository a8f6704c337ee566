"""The "sparse CE faster" claim gets the same verdict on a busy machine as on a quiet one (issue #20 §4).

It flipped between two quick runs of one commit under different load, when it was timed on the wall clock
with 5 repeats. Now the steps are timed in turn on the thread's CPU time (torch on one thread,
`kexue.timing.interleaved_seconds`) and decided on the spread of log(t_dense / t_sparse)
(`kexue.verdicts.speedup`): threads that keep both cores busy must not change the verdict.
"""

import pytest
import torch

from kexue.gplinker.claims import sparse_faster
from kexue.gplinker.measure import time_steps
from kexue.gplinker.model import EncoderConfig
from tests.busy import Busy, one_thread  # noqa: F401  (one_thread: a fixture)

TINY = EncoderConfig(hidden=16, heads=2, layers=1)


def _verdict() -> str:
    t = time_steps(TINY, batch=4, predicates=49, chars=32, repeats=15)
    return sparse_faster(t["dense_s"], t["sparse_s"]).verdict


def test_sparse_faster_same_verdict_under_load(one_thread):
    quiet = _verdict()
    with Busy(2):
        busy = _verdict()
    assert quiet == busy == "held"


def test_time_steps_interleaves_and_keeps_every_repeat(one_thread):
    t = time_steps(TINY, batch=2, predicates=3, chars=16, repeats=4)
    assert len(t["sparse_s"]) == len(t["dense_s"]) == 4 and min(t["sparse_s"] + t["dense_s"]) > 0
