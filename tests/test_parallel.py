"""kexue.parallel: map_runs is the in-process loop, bit for bit, whatever the number of workers."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kexue import parallel
from kexue.reproduce import topic_workers


def seeded_step(seed: int, n: int, meet: str | None = None) -> tuple[int, list[float], int, str]:
    """A run that seeds itself: a few SGD steps of a linear model on its own random data; also the
    worker's pid, torch threads and $KEXUE_WORKERS, to see where it ran. With `meet`, runs 0 and 1 each
    wait (up to a minute) until the other has started: only two processes at once get past it."""
    if meet is not None and seed < 2:
        (Path(meet) / str(seed)).touch()
        deadline = time.monotonic() + 60
        while not (Path(meet) / str(1 - seed)).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {seed}: run {1 - seed} never started beside it")
            time.sleep(0.01)
    torch.manual_seed(seed)
    w = torch.zeros(n, requires_grad=True)
    x, y = torch.randn(64, n), torch.randn(64)
    for _ in range(5):
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 0.1 * w.grad
            w.grad = None
    return os.getpid(), w.tolist(), torch.get_num_threads(), os.environ.get(parallel.ENV, "")


def fails_on(seed: int) -> int:
    if seed == 2:
        raise RuntimeError(f"run {seed} failed")
    return seed


def test_map_runs_equals_the_loop_in_order(tmp_path):
    here = parallel.map_runs(seeded_step, [(seed, 7) for seed in range(5)], n=1)
    side = parallel.map_runs(seeded_step, [(seed, 7, str(tmp_path)) for seed in range(5)], n=2)
    assert [r[1] for r in side] == [r[1] for r in here]  # bit for bit, in the items' order
    assert {r[0] for r in here} == {os.getpid()}
    pids = {r[0] for r in side}
    assert os.getpid() not in pids and len(pids) == 2  # two worker processes did the work, at once (meet)
    assert {r[2] for r in side} == {1} and {r[3] for r in side} == {"1"}  # one thread; no nested pools


def test_the_kept_workers_end_quietly_with_the_program():
    """A program that used map_runs and exits: its workers end with it, and nothing is printed."""
    code = ("from kexue import parallel; from tests.test_parallel import seeded_step; "
            "print(len(parallel.map_runs(seeded_step, [(s, 3) for s in range(3)], n=2)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).parents[1])
    assert r.returncode == 0 and r.stdout == "3\n" and r.stderr == "", r.stderr


def test_a_failed_run_is_raised():
    with pytest.raises(RuntimeError, match="run 2 failed"):
        parallel.map_runs(fails_on, [(s,) for s in range(4)], n=2)


def test_the_workers_stay_for_the_next_call_and_a_failure_drops_them():
    items = [(seed, 3) for seed in range(4)]
    first = {r[0] for r in parallel.map_runs(seeded_step, items, n=2)}
    second = {r[0] for r in parallel.map_runs(seeded_step, items, n=2)}
    assert first & second  # the same processes ran both calls: a loop starts its workers once
    with pytest.raises(RuntimeError, match="run 2 failed"):
        parallel.map_runs(fails_on, [(s,) for s in range(4)], n=2)
    third = {r[0] for r in parallel.map_runs(seeded_step, items, n=2)}
    assert not third & (first | second)  # a failed call's pool is gone; the next call starts afresh


def test_workers_follow_the_setting():
    with parallel.using(3):
        assert parallel.workers() == 3
        with parallel.using(1):
            assert parallel.workers() == 1
        assert parallel.workers() == 3
    assert parallel.workers_for(1, cores=2) == 2 and parallel.workers_for(2, cores=2) == 1
    assert parallel.workers_for(7, cores=2) == 1
    with parallel.using(1):
        os.environ[parallel.ENV] = "two"
        with pytest.raises(ValueError, match="KEXUE_WORKERS"):
            parallel.workers()


def test_reproduce_gives_the_spare_cores_to_quick_and_standard_only(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setenv(parallel.ENV, "1")  # asked for: one worker, whatever the cores
    assert topic_workers("standard", jobs=1) == 1
    monkeypatch.delenv(parallel.ENV)
    assert topic_workers("standard", jobs=1) == 2 and topic_workers("quick", jobs=2) == 1
    assert topic_workers("smoke", jobs=1) == 1 and topic_workers("full", jobs=1) == 1
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert topic_workers("standard", jobs=1) == 1
