"""Figures of a self-consuming loop: each metric against the generation, one line per λ.

kexue.fm/archives/9687. A line is the median over seeds with the 10–90 % band around it; the exact
prediction (Gaussian loops) is drawn dashed beside it and the data-vs-data value (what a perfect model
scores at this sample size) as a grey horizontal line, so the reader sees the noise floor.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = {"w2": "W2 to P_r", "tr_sigma": "tr Σ_t", "mean_sq_err": "‖μ_t − μ_0‖²", "log_det": "log det Σ_t",
          "modes_kept": "modes kept", "precision": "precision (k=5)", "recall": "recall (k=5)",
          "total_var": "total variance", "modal_var": "average modal variance", "high_quality": "share within 3σ",
          "fd": "FD (classifier features)", "class_entropy": "class entropy / log C"}
LOG = {"tr_sigma", "modal_var", "mean_sq_err"}


def plot_history(result, metrics: list[str], path: str | Path, title: str = "",
                 floor: dict[str, float] | None = None,
                 exact: dict[str, dict[float, np.ndarray]] | None = None) -> Path:
    """One panel per metric of `result` (a LoopResult); returns the PNG's path."""
    import matplotlib.pyplot as plt  # the backend is the caller's (kexue reproduce chooses Agg)

    metrics = [m for m in metrics if m in result.history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.0), squeeze=False)
    gens = np.arange(1, result.cfg.generations + 1)
    for ax, name in zip(axes[0], metrics):
        for i, lam in enumerate(result.cfg.lams):
            h = result.per_lam(name, lam)
            ok = ~np.isnan(h).all(1)
            if not ok.any():
                continue
            lo, mid, hi = np.nanpercentile(h[ok], [10, 50, 90], axis=1)
            line, = ax.plot(gens[ok], mid, marker="." if ok.sum() < 30 else None, label=f"λ = {lam:g}")
            ax.fill_between(gens[ok], lo, hi, color=line.get_color(), alpha=0.2, lw=0)
            if exact and name in exact and lam in exact[name]:
                ax.plot(gens, exact[name][lam], ls="--", color=line.get_color(), lw=1)
        if floor and name in floor and not (name in LOG and floor[name] <= 0):
            ax.axhline(floor[name], color="grey", lw=1, ls=":")
        if name in LOG:
            ax.set_yscale("log")
        ax.set_xlabel("generation t")
        ax.set_title(LABELS.get(name, name), fontsize=9)
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.8 if title else 0.88, wspace=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
