"""A topic's independent runs (seeds, variants, schemes) side by side on the cores the topic may use.

`kexue reproduce` gives each topic `cores // topics at once` workers (`workers_for`): a topic run alone
on 2 cores trains two seeds at a time, and the seven topics side by side keep one core each, as before.
`map_runs(fn, items)` is `[fn(*item) for item in items]`, in order, in that many spawned processes,
each on one torch thread. Every run seeds itself from its item and reads nothing another run writes,
so the results are the in-process loop's, bit for bit (tests/test_parallel.py), and a timing inside a
run (the thread's own CPU clock, kexue.timing) is not changed by its neighbour.

`fn` must be a module-level function and its arguments and result picklable; a worker's output (its
progress bars) goes where the caller's does.
"""
from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

R = TypeVar("R")

ENV = "KEXUE_WORKERS"  # how many processes a topic's independent runs may use (unset: 1)


def workers() -> int:
    """The processes this topic's independent runs may use: $KEXUE_WORKERS, set by `kexue reproduce`."""
    value = os.environ.get(ENV, "1")
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"${ENV}={value!r}: expected a whole number of processes, e.g. {ENV}=2") from None


def workers_for(jobs: int, cores: int | None = None) -> int:
    """A topic's share of the cores when `jobs` topics run at once: ⌊cores / jobs⌋, at least 1."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, jobs))


@contextmanager
def using(n: int) -> Iterator[None]:
    """`workers()` is `n` inside the block (and in the processes started there), as it was after it."""
    old = os.environ.get(ENV)
    os.environ[ENV] = str(max(1, n))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old


_pools: dict[int, ProcessPoolExecutor] = {}  # n → the pool of n workers, kept for the next call


@atexit.register
def _close_pools() -> None:
    """The kept workers end with the program, before the interpreter takes its modules down (a pool
    collected after that prints an ignored exception)."""
    while _pools:
        _pools.popitem()[1].shutdown(wait=True)


def map_runs(fn: Callable[..., R], items: Iterable[tuple[Any, ...]], n: int | None = None) -> list[R]:
    """[fn(*item) for item in items], in order, in min(n or workers(), len(items)) processes. One
    process: the plain loop, here. A run's error stops the rest (those running finish) and is raised.
    The workers stay for the next call (a loop that maps every generation starts them once); a worker
    runs one item after another, as the loop does in one process."""
    items = list(items)
    n = min(n or workers(), len(items))
    if n <= 1:
        return [fn(*item) for item in items]
    import multiprocessing  # here: `kexue --help` loads this module (kexue.reproduce) and needs no pool
    from concurrent.futures import ProcessPoolExecutor

    pool = _pools.get(n)
    if pool is None:
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch state or threads inherited
        pool = _pools[n] = ProcessPoolExecutor(n, mp_context=spawn, initializer=_one_thread)
    futures = [pool.submit(fn, *item) for item in items]
    try:
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        del _pools[n]  # a failed or interrupted call leaves no pool behind: the next starts afresh
        pool.shutdown(wait=True)
        raise


def _one_thread() -> None:
    """A worker runs torch on one thread, as a topic does (its CPU time is its time alone), and its own
    runs in itself."""
    import torch

    os.environ[ENV] = "1"
    torch.set_num_threads(1)
