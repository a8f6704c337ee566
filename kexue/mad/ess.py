"""The fresh-data loop's effective sample size: the paper's phase map, for Gaussians.

Alemohammad et al. 2023, Sec. 5 (discussed in kexue.fm/archives/9687): the fresh loop with n_r real
and n_s synthetic points per generation converges to a limit whose distance to P_r, WD(n_r, n_s, λ),
depends on (n_r, n_s, λ) only. Its effective sample size n_e solves
    E[W2(G(n_e), P_r)] = WD(n_r, n_s, λ),
G(n) a model fitted on n real points alone; n_e/n_r > 1 means the synthetic points helped, < 1 that
they hurt. Both sides are Monte Carlo: E[W2(G(n), P_r)] on a log-spaced grid of n, interpolated
linearly in (log n, log W2) (it falls monotonically); WD is the mean exact W2 of the loop's models at
its last generation over seeds. A limit outside the grid's range is clipped to its end and flagged.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kexue.mad.gaussian import GaussianConfig, GaussianFamily
from kexue.mad.loops import LoopConfig, run_loop


@dataclass
class ESSConfig:
    n_r: tuple[int, ...] = (100, 250, 1000)  # the paper's n_r of the (n_s, λ) maps
    n_s: tuple[int, ...] = (0, 100, 300, 900, 2700)
    lams: tuple[float, ...] = (1.0, 0.85, 0.7)  # the paper's λ of the (n_r, n_s) maps
    d: int = 100  # P_r = N(0, I_100)
    seeds: int = 20
    generations: int = 40  # run before the limit is read (the paper's loops settle within ~20)
    reference_points: int = 16  # grid points of n for E W2(G(n))
    reference_seeds: int = 40
    seed: int = 0

    def check(self) -> None:
        if not self.n_r or min(self.n_r) < 1:
            raise ValueError(f"n_r = {self.n_r}: give real counts ≥ 1")
        if not self.n_s or min(self.n_s) < 0:
            raise ValueError(f"n_s = {self.n_s}: give synthetic counts ≥ 0")
        for lam in self.lams:
            if not 0 < lam <= 1:
                raise ValueError(f"lam = {lam:g}: the sampling bias λ must lie in (0, 1]")
        if min(self.n_r) + min(self.n_s) < 2:
            raise ValueError(f"n_r + n_s = {min(self.n_r) + min(self.n_s)}: each generation needs ≥ 2 points "
                             "for a covariance")
        if self.seeds < 2 or self.generations < 2:
            raise ValueError(f"seeds = {self.seeds}, generations = {self.generations}: both must be ≥ 2")


def reference_curve(cfg: ESSConfig, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """(n grid, E[W2(G(n), P_r)]) for models fitted on n real points, n from min(n_r)/2 to n_max
    (below d + 1 points the fitted covariance is singular; W2 is still exact)."""
    ns = np.unique(np.geomspace(max(2, min(cfg.n_r) // 2), n_max, cfg.reference_points).round().astype(int))
    fam = GaussianFamily(GaussianConfig(d=cfg.d), _ones(cfg.reference_seeds))
    rng = np.random.default_rng([cfg.seed, 1])
    w2 = [float(fam.measure(fam.fit(fam.real(int(n), rng)), 1)["w2"].mean()) for n in ns]
    return ns, np.array(w2)


def effective_n(wd: float, ns: np.ndarray, w2: np.ndarray) -> tuple[float, bool]:
    """n_e with E W2(G(n_e)) = wd, interpolated in (log W2, log n); (n_e, clipped)."""
    x, y = np.log(w2[::-1]), np.log(ns[::-1])  # increasing in W2
    lw = np.log(wd)
    clipped = bool(lw < x[0] or lw > x[-1])
    return float(np.exp(np.interp(lw, x, y))), clipped


def ess_map(cfg: ESSConfig, on_cell: Callable[[dict], None] | None = None) -> dict:
    """Every (n_r, n_s, λ) cell: the loop's limiting W2, n_e and n_e/n_r; plus the reference curve."""
    cfg.check()
    ns, w2_ref = reference_curve(cfg, 20 * (max(cfg.n_r) + max(cfg.n_s)))
    cells = []
    for n_r in cfg.n_r:
        for n_s in cfg.n_s:
            loop = LoopConfig(loop="fresh", lams=cfg.lams, generations=cfg.generations, seeds=cfg.seeds,
                              n_ini=n_r + n_s, n_r=n_r, n_s=n_s, seed=cfg.seed)
            fam = GaussianFamily(GaussianConfig(d=cfg.d, w2_every=cfg.generations), loop.lam_rows())
            res = run_loop(fam, loop)
            for lam in cfg.lams:
                w = res.per_lam("w2", lam)[-1]
                n_e, clipped = effective_n(float(w.mean()), ns, w2_ref)
                cell = {"n_r": n_r, "n_s": n_s, "lam": lam, "w2": float(w.mean()),
                        "w2_se": float(w.std(ddof=1) / np.sqrt(w.size)), "n_e": n_e, "ratio": n_e / n_r,
                        "clipped": clipped}
                cells.append(cell)
                if on_cell:
                    on_cell(cell)
    return {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.__dict__.items()},
            "reference": {"n": ns.tolist(), "w2": w2_ref.tolist()}, "cells": cells}


def plot_ess(table: dict, path: str | Path) -> Path:
    """n_e/n_r against n_s, one panel per n_r, one line per λ (the paper's Fig. 9 in lines)."""
    import matplotlib.pyplot as plt  # the backend is the caller's (kexue reproduce chooses Agg)

    cells = table["cells"]
    n_rs = sorted({c["n_r"] for c in cells})
    fig, axes = plt.subplots(1, len(n_rs), figsize=(3.4 * len(n_rs), 3.0), squeeze=False)
    for ax, n_r in zip(axes[0], n_rs):
        for lam in sorted({c["lam"] for c in cells}, reverse=True):
            row = sorted((c for c in cells if c["n_r"] == n_r and c["lam"] == lam), key=lambda c: c["n_s"])
            ax.plot([c["n_s"] for c in row], [c["ratio"] for c in row], marker="o", label=f"λ = {lam:g}")
        ax.axhline(1.0, color="grey", lw=1, ls=":")
        ax.set_xscale("symlog", linthresh=max(1, min(c["n_s"] for c in cells if c["n_s"] > 0) if any(
            c["n_s"] > 0 for c in cells) else 1))
        ax.set_xlabel("n_s (synthetic per generation)")
        ax.set_title(f"n_r = {n_r}", fontsize=9)
    axes[0][0].set_ylabel("n_e / n_r")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _ones(n: int):
    import torch

    return torch.ones(n, dtype=torch.float64)
