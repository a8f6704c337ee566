"""Timing helpers shared by `kexue ... measure` commands and `benchmarks/`.

The best of several calls, not the median: on a shared machine other work only ever adds time.
On CUDA the device is synchronised around each call. `clock="process"` counts this process's CPU
time instead of wall time, which a machine whose cores are shared does not inflate by the time the
process waits for a core (useful on the CPU only).
"""
from __future__ import annotations

import time
from collections.abc import Callable
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
