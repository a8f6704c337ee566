"""The scans of post 9554 timed and counted: the loop against the parallel scans.

kexue.fm/archives/9554 (§并行化): "于是递归下去，我们就将原本是O(L)的循环步数改为了O(log L)". The
speed cells time every side in turn on the work's own clock (`kexue.timing.interleaved_seconds`:
the thread's CPU time with one torch thread, wall time on CUDA), every repeat kept for the interval of
`kexue.verdicts.speedup`; the depth is counted exactly, one aten op per dependent step.
"""
from __future__ import annotations

import torch
from torch import Tensor

from kexue.nn.scan import linear_scan
from kexue.timing import best_seconds, interleaved_seconds

SIDES = ("sequential", "parallel", "chunked")  # the loop, the odd/even log-depth scan, the √L chunked scan


def scan_cells(length: int, batches: tuple[int, ...], width: int, repeats: int = 5, device: str = "cpu",
               methods: tuple[str, ...] = SIDES) -> dict:
    """Seconds of every repeat of each scan, forward + backward (a training step's scan), complex64, per
    batch, the methods interleaved: {f"b{batch}_fwd_bwd": {method: [seconds per repeat]}}."""
    out = {}
    for batch in batches:
        lam, b, upstream = _scan_inputs(length, batch, width, grad=True, device=device)

        def step(m: str):
            def call() -> None:
                x = linear_scan(lam, b, method=m)
                torch.autograd.grad(x, (lam, b), upstream)
            return call

        out[f"b{batch}_fwd_bwd"] = interleaved_seconds({m: step(m) for m in methods}, repeats, warmup=1,
                                                       device=device)
    return out


def scan_speed(length: int, batch: int, width: int, repeats: int = 2) -> dict:
    """fwd+bwd best ms of each scan and of the loop, complex64: one cell, for `kexue lru scan`."""
    lam, b, upstream = _scan_inputs(length, batch, width, grad=True)
    out = {}
    for m in SIDES:
        def step(m: str = m) -> None:
            x = linear_scan(lam, b, method=m)
            torch.autograd.grad(x, (lam, b), upstream)
        out[f"{m}_ms"] = 1e3 * best_seconds(step, repeats)
    out["speedup_parallel"] = out["sequential_ms"] / out["parallel_ms"]
    out["speedup_chunked"] = out["sequential_ms"] / out["chunked_ms"]
    return out


def scan_depth(lengths: tuple[int, ...], methods: tuple[str, ...] = SIDES) -> dict:
    """Aten ops one forward scan dispatches, by method and L: the number of dependent steps it takes
    (each op waits for the last), counted exactly with a TorchDispatchMode. {method: {L: ops}}."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops += 1
            return func(*args, **(kwargs or {}))

    out: dict[str, dict[int, int]] = {m: {} for m in methods}
    for L in lengths:
        lam, b, _ = _scan_inputs(L, 1, 4, grad=False)
        for m in methods:
            with torch.no_grad(), Count() as counter:
                linear_scan(lam, b, method=m)
            out[m][L] = counter.ops
    return out


def scan_time_vs_length(lengths: tuple[int, ...], repeats: int = 3, width: int = 1,
                        methods: tuple[str, ...] = ("sequential", "parallel")) -> dict:
    """Best forward ms per method and L at batch 1 and a tiny width, where a step's cost is its launch,
    so time follows the number of steps (the figure's context): {method: {L: ms}}."""
    out: dict[str, dict[int, float]] = {m: {} for m in methods}
    for L in lengths:
        lam, b, _ = _scan_inputs(L, 1, width, grad=False)

        def forward(m: str):
            def call() -> None:
                with torch.no_grad():
                    linear_scan(lam, b, method=m)
            return call

        times = interleaved_seconds({m: forward(m) for m in methods}, repeats, warmup=1)
        for m in methods:
            out[m][L] = 1e3 * min(times[m])
    return out


def _scan_inputs(length: int, batch: int, width: int, grad: bool,
                 device: str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    # |λ|² ~ U[0, 0.998], arg λ ~ U[0, 6.28]
    lam = torch.polar(0.999 * torch.rand(width, generator=g) ** 0.5, 6.28 * torch.rand(width, generator=g))
    b = torch.randn(batch, length, width, dtype=torch.complex64, generator=g)
    upstream = torch.randn(b.shape, dtype=b.dtype, generator=g)  # a fixed ∂loss/∂x: time the scan alone
    return lam.to(device).requires_grad_(grad), b.to(device).requires_grad_(grad), upstream.to(device)
