"""Timing helpers shared by `kexue ... measure` commands, `kexue reproduce` and `benchmarks/`.

The best of several calls, not the median: on a shared machine other work only ever adds time.
On CUDA the device is synchronised around each call. `clock="process"` counts this process's CPU
time instead of wall time, which a machine whose cores are shared does not inflate by the time the
process waits for a core (useful on the CPU only).

`interleaved_seconds` is what a timing *claim* uses: every side timed in turn (A B A B …, so a slow
spell of the machine hits both), on the work's own CPU clock, every repeat kept, so that a rule can
read the spread (`kexue.verdicts.speedup`) and a busy machine does not decide the verdict. The work's
own clock is the calling thread's CPU time when torch runs on one thread (a busy thread or process
beside it does not count), and the process's CPU time when torch has several threads.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Literal

import torch


def best_seconds(fn: Callable[[], object], repeats: int = 3, warmup: int = 1, device: str | torch.device = "cpu",
                 clock: Literal["wall", "process"] = "wall") -> float:
    """The best time of `fn()` over `repeats` calls, in seconds, after `warmup` untimed calls."""
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    now = time.process_time if clock == "process" and dev.type == "cpu" else time.perf_counter
    for _ in range(warmup):
        fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = now()
        fn()
        sync()
        best = min(best, now() - t0)
    return best


def work_clock(device: str | torch.device = "cpu") -> Callable[[], float]:
    """The clock of the work itself: wall time on a GPU (synchronised by the caller); on a CPU the
    calling thread's CPU time when torch computes on one thread, else the process's CPU time."""
    if torch.device(device).type != "cpu":
        return time.perf_counter
    return time.thread_time if torch.get_num_threads() == 1 else time.process_time


def interleaved_seconds(sides: Mapping[str, Callable[[], object]], repeats: int = 5, warmup: int = 1,
                        device: str | torch.device = "cpu") -> dict[str, list[float]]:
    """{side: seconds of each of `repeats` calls}, the sides called in turn within each repeat (the order
    rotates, so neither side always runs first), on `work_clock(device)`, after `warmup` untimed rounds."""
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    now = work_clock(dev)
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    sync()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = now()
            sides[name]()
            sync()
            times[name].append(now() - t0)
    return times


def matmul_flops(device: str | torch.device = "cpu", size: int = 1024, dtype: torch.dtype = torch.float32,
                 repeats: int = 3, clock: Literal["wall", "process"] = "wall") -> float:
    """The machine's measured dense matmul rate: 2·size³ FLOPs over the best time of a size×size product."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    return 2 * size**3 / best_seconds(lambda: a @ b, repeats, warmup=1, device=device, clock=clock)


def against(target: float, best: float, median: float) -> str:
    """A measured ratio against its target (≥ target): "met" when both the best and the median ratio reach
    it, "not met" when both fall short, else "within noise"."""
    if min(best, median) >= target:
        return "met"
    if max(best, median) < target:
        return "not met"
    return "within noise"
