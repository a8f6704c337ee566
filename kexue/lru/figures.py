"""The figures of `kexue reproduce lru` (kexue.fm/archives/9554): bars over seeds, the scans, the LM.

Each function draws one PNG from the numbers `reproduce.py` measured; nothing here decides a verdict.
The backend is the caller's (`kexue reproduce` chooses Agg once); nothing is set at import.
"""
from __future__ import annotations

from pathlib import Path

import math

import matplotlib.pyplot as plt
import numpy as np
import torch


def plot_bars(rows: dict[str, dict], labels: list[str], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    means = [100 * np.mean(r["test_acc"]) for r in rows.values()]
    stds = [100 * np.std(r["test_acc"], ddof=1) if len(r["test_acc"]) > 1 else 0.0 for r in rows.values()]
    ax.bar(range(len(rows)), means, yerr=stds, capsize=3, color="C0")
    for i, r in enumerate(rows.values()):
        ax.plot([i] * len(r["test_acc"]), [100 * a for a in r["test_acc"]], "k.", ms=3)
    ax.set_xticks(range(len(rows)), labels, rotation=20, fontsize=8)
    ax.set(ylabel="test accuracy %", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_init(eig: torch.Tensor, lam: torch.Tensor, ring: tuple[float, float, float], path: Path) -> None:
    """The Glorot spectrum beside the ring init's λ, on the unit circle."""
    r_min, r_max, max_phase = ring
    fig, ax = plt.subplots(1, 2, figsize=(8, 3.8))
    t = torch.linspace(0, 2 * math.pi, 200)
    for a, pts, title in ((ax[0], eig, f"Glorot {len(eig)}×{len(eig)}: eigenvalues"),
                          (ax[1], lam[:2000], f"ring init [{r_min}, {r_max}], max_phase {max_phase:.3g}")):
        a.plot(torch.cos(t), torch.sin(t), c="gray", lw=0.8)
        a.scatter(pts.real, pts.imag, s=2)
        a.set(aspect="equal", title=title, xlabel="Re λ", ylabel="Im λ")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gamma(curves: dict[str, torch.Tensor], path: Path) -> None:
    """Per channel E|x|²/E|Bu|² without and with γ against 1/(1 − |λ|²)."""
    modulus = curves["modulus"]
    order = modulus.argsort()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.semilogy(modulus[order], curves["predicted"][order], "k-", label="1 / (1 − |λ|²)  (Prop. 3)")
    ax.semilogy(modulus[order], curves["without"][order], ".", label="no γ: measured")
    ax.semilogy(modulus[order], curves["with_gamma"][order], ".", label="with γ = √(1 − |λ|²)")
    ax.set(xlabel="|λ|", ylabel="E|x|² / E|Bu|²", title="white noise in, state power out")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_compare(copy: dict[str, dict], listops: dict[str, dict], path: Path) -> None:
    panels = [(copy, "copy")] + ([(listops, "ListOps (LRA lengths)")] if listops else [])
    fig, ax = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
    for a, (rows, title) in zip(ax[0], panels):
        means = [100 * np.mean(r["test_acc"]) for r in rows.values()]
        stds = [100 * np.std(r["test_acc"], ddof=1) if len(r["test_acc"]) > 1 else 0.0 for r in rows.values()]
        a.bar(range(len(rows)), means, yerr=stds, capsize=3, color=[f"C{i}" for i in range(len(rows))])
        a.set_xticks(range(len(rows)), list(rows), fontsize=8)
        a.set(ylabel="test accuracy %", title=title + " (SLRU: 2× units)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scan(depth: dict, timed: dict, cells: dict, path: Path) -> None:
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    for m, counts in depth.items():
        ax[0].loglog(list(counts), list(counts.values()), "o-", label=m, base=2)
    ax[0].set(xlabel="L", ylabel="aten ops per forward scan", title="dependent steps (counted)")
    ax[0].legend(fontsize=8)
    for m, t in timed.items():
        ax[1].loglog(list(t), list(t.values()), "o-", label=m, base=2)
    ax[1].set(xlabel="L", ylabel="ms (batch 1, width 1)", title="forward time vs L")
    ax[1].legend(fontsize=8)
    names = list(cells)
    for i, m in enumerate(("parallel", "chunked")):
        med = [np.median(cells[k]["sequential"]) / np.median(cells[k][m]) for k in names]
        lo = [min(cells[k]["sequential"]) / max(cells[k][m]) for k in names]
        hi = [max(cells[k]["sequential"]) / min(cells[k][m]) for k in names]
        x = np.arange(len(names)) + 0.38 * i
        ax[2].bar(x, med, width=0.36, label=m, yerr=[np.subtract(med, lo), np.subtract(hi, med)], capsize=3)
    ax[2].axhline(2.0, ls="--", c="gray", label="2× (much faster)")
    ax[2].set_xticks(np.arange(len(names)) + 0.19, [n.replace("_", " ") for n in names], fontsize=8)
    ax[2].set(ylabel="× the loop (median, range)", title="forward + backward: speed-up over the loop")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_lm(lm: dict, path: Path) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    lengths = lm["lengths"]
    mixers = list(lm["loss"][lengths[0]])
    for j, n in enumerate(lengths):
        at = [i for i, m in enumerate(mixers) if m in lm["loss"][n]]  # the long length trains fewer mixers
        means = [np.mean(lm["loss"][n][mixers[i]]) for i in at]
        stds = [np.std(lm["loss"][n][mixers[i]], ddof=1) if len(lm["loss"][n][mixers[i]]) > 1 else 0.0 for i in at]
        ax[0].bar(np.array(at) + 0.38 * j, means, width=0.36, yerr=stds, capsize=3, label=f"L = {n}")
    ax[0].axhline(lm["unigram"], ls="--", c="gray", label=f"unigram {lm['unigram']:.2f}")
    ax[0].set_xticks(np.arange(len(mixers)) + 0.19 * (len(lengths) - 1), mixers)
    allv = [v for n in lengths for vs in lm["loss"][n].values() for v in vs] + [lm["unigram"]]
    ax[0].set_ylim(0.9 * min(allv), 1.03 * max(allv))
    ax[0].set(ylabel="held-out loss (nats/char)", title="People's Daily char LM, mean ± std over seeds")
    ax[0].legend(fontsize=8)
    for r in lm["rows"]:
        if r["curve"] and r["length"] == lengths[0]:
            steps, loss = zip(*r["curve"])
            ax[1].plot(steps, loss, c=f"C{mixers.index(r['mixer'])}", alpha=0.6, lw=1)
    for i, m in enumerate(mixers):
        ax[1].plot([], [], c=f"C{i}", label=m)
    ax[1].set(xlabel="step", ylabel="training loss", title=f"learning curves, L = {lengths[0]}, every seed")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
