"""The figures of post 8610's page: the count, SA vs FFN measured, softmax vs linear cores, quality.

kexue.fm/archives/8610. Each function draws one PNG from numbers already measured (and already written
to JSON by the caller: results first, figures after). pyplot is imported inside each function, so
importing this module chooses no backend (`kexue.reproduce.run_topics` chooses Agg).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kexue.attention import cost


def plot_count(s: cost.LayerShape, path: Path) -> None:
    import matplotlib.pyplot as plt

    ns = [2**k for k in range(6, 15)]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ax[0].loglog(ns, [cost.sa_mults(n, s) for n in ns], "o-", label="SA = 4nh²d² + 2n²hd")
    ax[0].loglog(ns, [cost.ffn_mults(n, s) for n in ns], "s-", label="FFN = 8nh²d²")
    ax[0].axvline(cost.crossover_sa_ffn(s), ls="--", c="gray")
    ax[0].set(xlabel="n", ylabel="multiplications", title=f"count, h={s.h}, d={s.d}")
    ax[0].legend(fontsize=8)
    ax[1].semilogx(ns, [cost.quadratic_share(n, s) for n in ns], "o-")
    ax[1].axhline(0.5, ls=":", c="gray")
    ax[1].axvline(cost.crossover_quadratic(s), ls="--", c="gray")
    ax[1].set(xlabel="n", ylabel="share of the n² term", title="2n²hd / (12nh²d² + 2n²hd)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_blocks(rows: list[dict], s: cost.LayerShape, x: Sequence[float | None] | None,
                fit: tuple[float, float, float] | None, path: Path) -> None:
    """SA vs FFN (medians, every round as a dot) with the crossover's interval; layer time per token
    with the fit a + bn + cn² and the count's n² term. `x`, `fit`: None draws without them."""
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for side, style, label in (("sa", "o-", "SA block (SDPA)"), ("ffn", "s-", "FFN block")):
        line, = ax[0].loglog(ns, [r[f"{side}_ms"] for r in rows], style, label=label)
        for r in rows:
            ax[0].plot([r["n"]] * len(r[f"{side}_s"]), [1e3 * t for t in r[f"{side}_s"]], ".", c=line.get_color(),
                       ms=2, alpha=0.5)
    ax[0].axvline(cost.crossover_sa_ffn(s), ls="--", c="gray", label=f"count: n = 2hd = {cost.crossover_sa_ffn(s)}")
    _crossover_span(ax[0], x, ns[-1])
    _length_ticks(ax[0], ns)
    ax[0].set(xlabel="n", ylabel="ms (batch 1, CPU time)", title="measured SA vs FFN")
    ax[0].legend(fontsize=8)
    layer = [(r["sa_ms"] + r["ffn_ms"]) / r["n"] * 1e3 for r in rows]
    ax[1].plot(ns, layer, "o", label="measured layer")
    if fit is not None:
        a, b, c = (1e3 * v for v in fit)  # seconds → ms
        grid = np.linspace(ns[0], ns[-1], 200)
        ax[1].plot(grid, (a + b * grid + c * grid**2) / grid * 1e3, "-", label="fit a + bn + cn²")
        # the count's n² term at the fitted linear cost: c_count = b / (6hd)
        ax[1].plot(grid, (a + b * grid + b / (6 * s.hidden) * grid**2) / grid * 1e3, "--", c="gray",
                   label="count's n² term (ρ = 1)")
    ax[1].axvline(cost.crossover_sa_ffn(s), ls=":", c="gray")
    ax[1].set(xlabel="n", ylabel="µs per token", title="layer time per token")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cores(rows: list[dict], pred: int, x: Sequence[float | None] | None, path: Path) -> None:
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, style in (("softmax_full", "o-"), ("linear_full", "s-"), ("softmax_causal", "o--"),
                       ("linear_causal", "s--")):
        if f"{key}_ms" in rows[0]:
            ax.loglog(ns, [r[f"{key}_ms"] for r in rows], style, label=key.replace("_", ", "))
    ax.axvline(pred, ls="--", c="gray", label=f"count: n = 16d = {pred}")
    _crossover_span(ax, x, ns[-1])
    _length_ticks(ax, ns)
    ax.set(xlabel="n", ylabel="ms (batch 1, CPU time)", title="attention core: softmax vs linear (key 4d)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_quality(by: dict[str, dict[str, list[float]]], curves: list[dict], unigram: float, path: Path) -> None:
    """Held-out loss per task and attention (mean ± std, dots: seeds) and every run's learning curve."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, side in enumerate(("softmax", "linear")):
        means = [float(np.mean(by[t][side])) for t in ("lm", "mlm")]
        stds = [float(np.std(by[t][side], ddof=1)) if len(by[t][side]) > 1 else 0.0 for t in ("lm", "mlm")]
        ax[0].bar([j + 0.38 * i for j in range(2)], means, width=0.36, yerr=stds, capsize=3, label=side)
        for t, vals in enumerate(by[k][side] for k in ("lm", "mlm")):
            ax[0].plot([t + 0.38 * i] * len(vals), vals, "k.", ms=3)
    ax[0].axhline(unigram, ls="--", c="gray", label=f"unigram {unigram:.2f}")
    ax[0].set_xticks([0.19, 1.19], ["causal LM", "MLM"])
    losses = [v for sides in by.values() for vals in sides.values() for v in vals] + [unigram]
    ax[0].set_ylim(0.9 * min(losses), 1.03 * max(losses))
    ax[0].set(ylabel="held-out loss (nats/char)", title="mean ± std over seeds (dots: seeds)")
    ax[0].legend(fontsize=8)
    for r in curves:
        if r.get("curve"):
            steps, loss = zip(*r["curve"])
            style = "-" if r["attention"] == "softmax" else "--"
            ax[1].plot(steps, loss, style, c="C0" if r["task"] == "lm" else "C1", alpha=0.6, lw=1)
    for style, c, label in (("-", "C0", "LM softmax"), ("--", "C0", "LM linear"), ("-", "C1", "MLM softmax"),
                            ("--", "C1", "MLM linear")):
        ax[1].plot([], [], style, c=c, label=label)
    ax[1].set(xlabel="step", ylabel="training loss", title="learning curves, every seed")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _crossover_span(ax, x: Sequence[float | None] | None, n_max: float) -> None:
    """The measured crossover and its bootstrap interval (None or inf: beyond the measured range)."""
    if x is None or x[0] is None or not math.isfinite(x[0]):
        return
    point, lo, hi = (n_max if v is None or not math.isfinite(v) else v for v in x)
    ax.axvline(point, ls=":", c="C3", label=f"measured: n ≈ {point:.0f}")
    ax.axvspan(lo, hi, color="C3", alpha=0.12)


def _length_ticks(ax, ns: list[int]) -> None:
    """Plain tick labels at the measured lengths (log axes otherwise crowd minor labels)."""
    ax.set_xticks(ns, [str(n) for n in ns], fontsize=8)
    ax.minorticks_off()
