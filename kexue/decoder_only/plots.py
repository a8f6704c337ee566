"""The figures of post 9529's reproduce page (kexue/decoder_only/reproduce.py): ranks, losses, MLM curves.

matplotlib is imported when a figure is drawn; `kexue reproduce` chooses the backend (Agg) once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kexue.decoder_only.train import LABELS


def plot_ranks(table: list[dict], taus: list[dict], path: Path, trained: dict | None = None) -> None:
    """Effective rank vs n per kind (random Q, K, τ = 1), vs τ (bidirectional, causal), and the trained MLM's."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3 if trained else 2, figsize=(14 if trained else 10, 3.8))
    ds = sorted({r["d"] for r in table})
    styles = ["-", "--", ":", "-."]
    for i, kind in enumerate(sorted({r["kind"] for r in table})):
        for j, d in enumerate(ds):
            rows = [r for r in table if r["kind"] == kind and r["d"] == d]
            ax[0].errorbar([r["n"] for r in rows], [np.mean(r["effective_rank"]) for r in rows],
                           yerr=[np.std(r["effective_rank"]) for r in rows], color=f"C{i}", ls=styles[j % 4],
                           marker="o", ms=3, label=f"{kind}, d={d}" if len(ds) > 1 else kind)
    ns_all = sorted({r["n"] for r in table})
    ax[0].set(xscale="log", yscale="log", xlabel="n", ylabel="effective rank", title="random Q, K, τ = 1")
    ax[0].set_xticks(ns_all, [str(n) for n in ns_all])
    ax[0].minorticks_off()
    ax[0].legend(fontsize=6, ncol=2)
    for i, kind in enumerate(("bidirectional", "causal")):
        rows = [r for r in taus if r["kind"] == kind]
        ax[1].errorbar([r["temperature"] for r in rows], [np.mean(r["effective_rank"]) for r in rows],
                       yerr=[np.std(r["effective_rank"]) for r in rows], color=f"C{i}", marker="o", label=kind)
    if taus:
        ts = sorted({r["temperature"] for r in taus})
        ax[1].set(xscale="log", xlabel="temperature τ in softmax(QKᵀ/(τ√d))", ylabel="effective rank",
                  title=f"random Q, K, n = {taus[0]['n']}, d = {taus[0]['d']}")
        ax[1].set_xticks(ts, [f"{t:g}" for t in ts])
        ax[1].minorticks_off()
    ax[1].legend(fontsize=7)
    if trained:
        ax[2].scatter(trained["bidirectional"], trained["causal"], c=[f"C{s}" for s in trained["seed"]], s=14)
        lo = min(trained["bidirectional"] + trained["causal"])
        hi = max(trained["bidirectional"] + trained["causal"])
        ax[2].plot([lo, hi], [lo, hi], color="gray", ls="--", lw=0.8)
        ax[2].set(xlabel="bidirectional effective rank", ylabel="causal effective rank (same Q, K)",
                  title=f"trained MLM, per seed × layer × head (d = {trained['d']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_compare(runs: dict[str, list[dict]], unigram: float, path: Path) -> None:
    """Held-out output loss per architecture (mean ± std over seeds) and the training curves."""
    import matplotlib.pyplot as plt

    from kexue.train import read_metrics

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(runs)
    for i, name in enumerate(names):
        _points(ax[0], i, [s["test_loss"] for s in runs[name]])
        for c, s in enumerate(runs[name]):
            curve = [r for r in read_metrics(Path(s["out_dir"])) if "loss" in r]
            ax[1].plot([r["step"] for r in curve], [r["loss"] for r in curve], color=f"C{i}", alpha=0.7,
                       label=LABELS.get(name, name) if c == 0 else None)
    ax[0].axhline(unigram, color="gray", ls="--", label="unigram floor")
    ax[0].set_xticks(range(len(names)), [LABELS.get(n, n) for n in names], rotation=15, fontsize=7)
    ax[0].set(ylabel="held-out output loss (nats)", title="mean ± std over seeds")
    ax[0].legend(fontsize=7)
    ax[1].axhline(unigram, color="gray", ls="--")
    ax[1].set(xlabel="step", ylabel="training output loss", title="learning curves")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_mlm(runs: dict[str, list[dict]], unigram: float, path: Path) -> None:
    """Held-out MLM loss per direction (mean ± std over seeds) and the training curves."""
    import matplotlib.pyplot as plt

    from kexue.train import read_metrics

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (direction, rows) in enumerate(runs.items()):
        _points(ax[0], i, [r["test_loss"] for r in rows])
        for c, r in enumerate(rows):
            curve = [x for x in read_metrics(Path(r["out_dir"])) if "loss" in x]
            ax[1].plot([x["step"] for x in curve], [x["loss"] for x in curve], color=f"C{i}", alpha=0.7,
                       label=direction if c == 0 else None)
    ax[0].axhline(unigram, color="gray", ls="--", label="unigram floor")
    ax[0].set_xticks(range(len(runs)), list(runs))
    ax[0].set(ylabel="held-out MLM loss (nats)", title="mean ± std over seeds")
    ax[0].legend(fontsize=7)
    ax[1].set(xlabel="step", ylabel="training MLM loss", title="learning curves")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _points(ax, i: int, losses: list[float]) -> None:
    """One column: the mean ± sample std (ddof 1) and every seed's value."""
    ax.errorbar([i], [np.mean(losses)], yerr=[np.std(losses, ddof=1) if len(losses) > 1 else 0], fmt="o",
                color=f"C{i}", capsize=4)
    ax.scatter([i] * len(losses), losses, color=f"C{i}", s=8, alpha=0.5)
