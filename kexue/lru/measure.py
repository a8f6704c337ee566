"""The layer-level claims of post 9554, measured: init statistics, γ, the closed form, scan speed, streaming.

kexue.fm/archives/9554. Each function returns plain numbers (for results.json) and, where it helps,
writes one figure. `reproduce.py` turns them into claims with verdicts.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kexue.nn.lru import LRU, ring_init  # noqa: E402
from kexue.nn.scan import METHODS, linear_scan, scan_closed_form, scan_sequential  # noqa: E402
from kexue.timing import best_seconds  # noqa: E402


def ks_uniform(samples: torch.Tensor, low: float, high: float) -> float:
    """Kolmogorov–Smirnov distance between the samples and U[low, high]."""
    s = ((samples.double().sort().values - low) / (high - low)).clamp(0, 1)
    i = torch.arange(1, s.numel() + 1, dtype=torch.float64)
    return max((i / s.numel() - s).max().item(), (s - (i - 1) / s.numel()).max().item())


def init_statistics(n: int, r_min: float, r_max: float, max_phase: float, path: Path | None = None) -> dict:
    """Ring init vs the Glorot spectrum: KS distances of |λ|² and arg λ from uniform, P(|eig| < r) ≈ r²."""
    g = torch.Generator().manual_seed(0)
    nu_log, theta_log, gamma_log = ring_init(n, r_min, r_max, max_phase, g)
    lam = torch.polar(torch.exp(-torch.exp(nu_log.double())), torch.exp(theta_log.double()))
    glorot_n = min(n, 500)
    eig = torch.linalg.eigvals(torch.randn(glorot_n, glorot_n, generator=g, dtype=torch.float64) / math.sqrt(glorot_n))
    disk = [abs((eig.abs() < r).double().mean().item() - r**2) for r in (0.25, 0.5, 0.75)]
    out = {"n": n, "ks_modulus2": ks_uniform(lam.abs() ** 2, r_min**2, r_max**2),
           "ks_phase": ks_uniform(lam.angle() % (2 * math.pi), 0.0, max_phase),
           "ks_bound_0.1%": 1.95 / math.sqrt(n), "glorot_disk_max_error": max(disk),
           "gamma_error": (torch.exp(2 * gamma_log.double()) - (1 - lam.abs() ** 2)).abs().max().item()}
    if path is not None:
        fig, ax = plt.subplots(1, 2, figsize=(8, 3.8))
        t = torch.linspace(0, 2 * math.pi, 200)
        for a, pts, title in ((ax[0], eig, f"Glorot {glorot_n}×{glorot_n}: eigenvalues"),
                              (ax[1], lam[:2000], f"ring init [{r_min}, {r_max}], max_phase {max_phase:.3g}")):
            a.plot(torch.cos(t), torch.sin(t), c="gray", lw=0.8)
            a.scatter(pts.real, pts.imag, s=2)
            a.set(aspect="equal", title=title, xlabel="Re λ", ylabel="Im λ")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return out


def gamma_effect(r_min: float, r_max: float, d_state: int, batch: int, length: int, path: Path | None = None) -> dict:
    """E|x_n|² / E|(Bu)_n|² under white noise, with and without γ, against 1/(1 − |λ_n|²) (Prop. 3)."""
    torch.manual_seed(0)
    lru = LRU(16, d_state, r_min=r_min, r_max=r_max).double()
    u = torch.randn(batch, length, 16, dtype=torch.float64)
    with torch.no_grad():
        b = torch.view_as_complex(lru.input_projection(u).unflatten(-1, (d_state, 2)))  # γ ⊙ B u
        bu = b / lru.gamma
        tail = length // 2
        power_bu = bu.abs().pow(2).mean((0, 1))
        with_gamma = linear_scan(lru.Lambda, b)[:, tail:].abs().pow(2).mean((0, 1)) / power_bu
        without = linear_scan(lru.Lambda, bu)[:, tail:].abs().pow(2).mean((0, 1)) / power_bu
        modulus = lru.Lambda.abs()
    predicted = 1 / (1 - modulus**2)
    ring_average = math.log((1 - r_min**2) / (1 - r_max**2)) / (r_max**2 - r_min**2)
    out = {"with_gamma_mean": with_gamma.mean().item(), "without_gamma_mean": without.mean().item(),
           "without_gamma_max": without.max().item(), "predicted_ring_average": ring_average,
           "without_vs_prediction_rel_error": ((without - predicted) / predicted).abs().mean().item()}
    if path is not None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        order = modulus.argsort()
        ax.semilogy(modulus[order], predicted[order], "k-", label="1 / (1 − |λ|²)  (Prop. 3)")
        ax.semilogy(modulus[order], without[order], ".", label="no γ: measured")
        ax.semilogy(modulus[order], with_gamma[order], ".", label="with γ = √(1 − |λ|²)")
        ax.set(xlabel="|λ|", ylabel="E|x|² / E|Bu|²", title="white noise in, state power out")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return out


def closed_form_overflow(length: int = 1000, radius: float = 0.9) -> dict:
    """λ^t Σ λ^{−k} b_k in complex64 vs every scan, against the loop."""
    g = torch.Generator().manual_seed(0)
    lam = torch.polar(torch.full((8,), radius), 6.28 * torch.rand(8, generator=g))
    b = torch.complex(torch.randn(2, length, 8, generator=g), torch.randn(2, length, 8, generator=g))
    ref = scan_sequential(lam, b)
    closed = scan_closed_form(lam, b)
    first_bad = (~torch.isfinite(closed)).any(0).any(-1).nonzero()
    errors = {m: (linear_scan(lam, b, method=m) - ref).abs().max().item() for m in METHODS}
    return {"length": length, "radius": radius, "closed_form_nonfinite": int((~torch.isfinite(closed)).sum()),
            "closed_form_first_nonfinite_t": int(first_bad[0]) if len(first_bad) else None,
            "scan_max_abs_error": errors, "reference_max_abs": ref.abs().max().item()}


def repeat_seconds(fn, repeats: int, warmup: int = 1) -> list[float]:
    """Wall seconds of each of `repeats` calls of fn() after `warmup` untimed calls (all kept, for a spread)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def _scan_inputs(length: int, batch: int, width: int, grad: bool):
    g = torch.Generator().manual_seed(0)
    lam = torch.polar(0.999 * torch.rand(width, generator=g) ** 0.5, 6.28 * torch.rand(width, generator=g))
    b = torch.randn(batch, length, width, dtype=torch.complex64, generator=g)
    upstream = torch.randn(b.shape, dtype=b.dtype, generator=g)  # a fixed ∂loss/∂x: time the scan alone
    return lam.requires_grad_(grad), b.requires_grad_(grad), upstream


def scan_cells(length: int, batches: tuple[int, ...], width: int, repeats: int = 3,
               methods: tuple[str, ...] = ("sequential", "parallel", "chunked")) -> dict:
    """Seconds of every repeat of each scan, forward (no grad) and forward + backward, complex64, per batch.

    {f"b{batch}_{fwd|fwd_bwd}": {method: [seconds per repeat]}}."""
    out = {}
    for batch in batches:
        for mode in ("fwd", "fwd_bwd"):
            lam, b, upstream = _scan_inputs(length, batch, width, grad=mode == "fwd_bwd")
            cell = {}
            for m in methods:
                if mode == "fwd":
                    def call(m=m):
                        with torch.no_grad():
                            linear_scan(lam, b, method=m)
                else:
                    def call(m=m):
                        x = linear_scan(lam, b, method=m)
                        torch.autograd.grad(x, (lam, b), upstream)
                cell[m] = repeat_seconds(call, repeats)
            out[f"b{batch}_{mode}"] = cell
    return out


def scan_speed(length: int, batch: int, width: int, repeats: int = 2) -> dict:
    """fwd+bwd best ms of each scan and of the loop, complex64: one cell, for `kexue lru scan`."""
    g = torch.Generator().manual_seed(0)
    lam = torch.polar(0.999 * torch.rand(width, generator=g) ** 0.5, 6.28 * torch.rand(width, generator=g))
    lam.requires_grad_()
    b = torch.randn(batch, length, width, dtype=torch.complex64, generator=g, requires_grad=True)
    upstream = torch.randn(b.shape, dtype=b.dtype, generator=g)  # a fixed ∂loss/∂x: time the scan alone
    out = {}
    for m in ("sequential", "parallel", "chunked"):
        def step():
            x = linear_scan(lam, b, method=m)
            torch.autograd.grad(x, (lam, b), upstream)
        out[f"{m}_ms"] = 1e3 * best_seconds(step, repeats)
    out["speedup_parallel"] = out["sequential_ms"] / out["parallel_ms"]
    out["speedup_chunked"] = out["sequential_ms"] / out["chunked_ms"]
    return out


def scan_depth(lengths: tuple[int, ...], methods: tuple[str, ...] = ("sequential", "parallel", "chunked")) -> dict:
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
    so time follows the number of steps: {method: {L: ms}}."""
    out: dict[str, dict[int, float]] = {m: {} for m in methods}
    for L in lengths:
        lam, b, _ = _scan_inputs(L, 1, width, grad=False)
        for m in methods:
            def call(m=m):
                with torch.no_grad():
                    linear_scan(lam, b, method=m)
            out[m][L] = 1e3 * min(repeat_seconds(call, repeats))
    return out


def streaming_parity(length: int = 300) -> dict:
    """LRU.step token by token against the parallel forward, float32, and the step cost."""
    torch.manual_seed(0)
    lru = LRU(32, 64, r_min=0.9, r_max=0.999)
    u = torch.randn(4, length, 32)
    with torch.no_grad():
        full = lru(u)
        state, ys = None, []
        t = time.perf_counter()
        for k in range(length):
            y, state = lru.step(u[:, k], state)
            ys.append(y)
        us = 1e6 * (time.perf_counter() - t) / length
    return {"max_abs_diff": (torch.stack(ys, 1) - full).abs().max().item(), "output_max_abs": full.abs().max().item(),
            "us_per_step": us}
