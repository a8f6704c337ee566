"""`reproduce(preset, out_dir)` for post 8610: count, measure and compare softmax and linear attention.

kexue.fm/archives/8610. Claims checked (each decided by a rule of `claims.py`, shown on the page):
1. the multiplication count SA = 4nh²d² + 2n²hd, FFN = 8nh²d² — against torch's FLOP counter on
   `kexue.nn.attention.MultiHeadAttention` itself, exactly;
2. SA costs more than FFN only beyond n = 2hd (1536 for base) — measured crossover within 2×;
3. below that a base layer is nearly linear in n — the n² coefficient of a fit to measured layer time
   against the count's (`claims.near_linear`);
4. linear attention with key size 4d is cheaper than softmax only beyond n = 16d (1024) — measured within 2×;
5. linear attention loses little as a causal LM and clearly as an MLM (posts 8338, 9529) — trained per
   seed, paired gaps with a 2 % bound on "close", floors at the unigram loss.
The quick preset trains each model for a few hundred steps; at that size the quality claim may well
be inconclusive, and the page says so. The standard preset trains long enough for the gaps to settle
(the learning curves are on the page).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kexue.attention import claims as rules  # noqa: E402
from kexue.attention import cost  # noqa: E402
from kexue.attention.measure import (MeasureConfig, counted_mults, crossover, measure_blocks,  # noqa: E402
                                     measure_cores, set_threads)
from kexue.attention.model import TinyConfig  # noqa: E402
from kexue.attention.quality import (QualityConfig, compare, losses_by_side, relative_gaps,  # noqa: E402
                                     unigram_loss)
from kexue.result import TopicResult  # noqa: E402
from kexue.train import TrainConfig  # noqa: E402

TITLE = "线性Transformer应该不是你要等的那个模型"
DATE = "2021-08-09"
POST = 8610
RELATED = [7546, 8338, 9529]


@dataclass
class AttentionPreset:
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    count_lengths: tuple[int, ...] = (128, 512, 1536, 4608)


def _quality_train(steps: int, batch: int = 32, log_every: int = 25) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch, lr=3e-3, schedule="cosine", warmup=max(1, steps // 10),
                       clip=1.0, log_every=log_every)


def preset(name: str) -> AttentionPreset:
    """quick: CPU, ≤ 100 s alone on 2 cores (the quality claim may be inconclusive at this size); one
    thread, which a machine whose cores are shared does not stall at every op's barrier.
    standard: ≤ 10 min on 2 cores, long enough that the quality gaps can come out either way.
    full: longer sequences and a bigger model, for a GPU. smoke: every step at toy size (tests)."""
    if name == "quick":
        return AttentionPreset(
            measure=MeasureConfig(lengths=(128, 256, 512, 1024, 2048, 4096), repeats=3, threads=1),
            quality=QualityConfig(model=TinyConfig(hidden=64, heads=4, layers=1), train=_quality_train(150, 16),
                                  train_chars=200_000, eval_windows=128, vocab_size=1000, seeds=(0, 1, 2)))
    if name == "standard":
        return AttentionPreset(
            measure=MeasureConfig(lengths=(128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096), repeats=5,
                                  threads=1),
            # head size 16 < window 64, so the rank bound of bidirectional linear attention (≤ d) can bite
            quality=QualityConfig(model=TinyConfig(hidden=96, heads=6, layers=2), train=_quality_train(400, 16, 25),
                                  vocab_size=1500, seeds=(0, 1, 2)))
    if name == "full":
        return AttentionPreset(
            measure=MeasureConfig(lengths=(128, 256, 512, 1024, 2048, 4096, 8192, 16384), repeats=5,
                                  device="cuda" if torch.cuda.is_available() else "cpu"),
            quality=QualityConfig(
                model=TinyConfig(hidden=256, heads=4, layers=4, max_len=128),
                train=TrainConfig(steps=5000, batch_size=64, lr=1e-3, schedule="cosine", warmup=200,
                                  clip=1.0, log_every=100),
                train_chars=1_600_000, eval_windows=1024, vocab_size=5000, seeds=(0, 1, 2, 3, 4)))
    if name == "smoke":  # the whole pipeline in seconds, for tests; its verdicts mean nothing
        return AttentionPreset(
            measure=MeasureConfig(lengths=(16, 32, 48, 64), h=2, d=16, repeats=1),
            quality=QualityConfig(model=TinyConfig(hidden=32, heads=2, layers=1, max_len=32),
                                  train=TrainConfig(steps=3, batch_size=8, lr=1e-3, log_every=1),
                                  train_chars=20_000, eval_windows=8, vocab_size=500, seeds=(0, 1)))
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")


def reproduce(preset_name: str, out_dir: Path, cfg: AttentionPreset | None = None,
              progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    threads = torch.get_num_threads()
    set_threads(cfg.measure.threads)
    try:
        return _reproduce(preset_name, Path(out_dir), cfg, progress)
    finally:
        torch.set_num_threads(threads)  # the next topic gets the machine as it was


def _reproduce(preset_name: str, out_dir: Path, cfg: AttentionPreset, progress: bool) -> TopicResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    s = cost.LayerShape(h=cfg.measure.h, d=cfg.measure.d)
    claims, metrics = [], {}

    # 1. the count, against torch's FLOP counter on MultiHeadAttention itself
    n_check = 256
    counted = counted_mults(n_check, s)
    formula = {"sa": cost.sa_mults(n_check, s), "ffn": cost.ffn_mults(n_check, s)}
    metrics["count_check"] = {"n": n_check, "counted": counted, "formula": formula}
    claims.append(rules.count_matches(counted, formula).to_claim(
        claim="A layer costs SA = 4nh²d² + 2n²hd and FFN = 8nh²d² multiplications; SA > FFN only for "
              f"n > 2hd ({cost.crossover_sa_ffn(s)}), the n² term dominates only for n > 6hd "
              f"({cost.crossover_quadratic(s)})",
        measured=f"torch's FLOP counter on kexue's MultiHeadAttention and FFN at n={n_check}, h={s.h}, d={s.d}: "
                 f"SA {counted['sa']:,} vs formula {formula['sa']:,}; FFN {counted['ffn']:,} vs {formula['ffn']:,}",
        figure="count.png"))
    _plot_count(s, out_dir / "count.png")

    # 2 + 3. SA vs FFN measured
    blocks = measure_blocks(cfg.measure)
    ns = [r["n"] for r in blocks]
    x_sa = crossover(ns, [r["sa_ms"] for r in blocks], [r["ffn_ms"] for r in blocks])
    metrics["blocks"] = blocks
    metrics["measured_crossover_sa_ffn"] = x_sa
    claims.append(rules.crossover_near(x_sa, cost.crossover_sa_ffn(s), ns[-1], name="SA/FFN crossover").to_claim(
        claim=f"SA takes longer than FFN only beyond about n = 2hd = {cost.crossover_sa_ffn(s)}",
        measured=f"measured SA/FFN time crossover on {cfg.measure.device}: "
                 + (f"n ≈ {x_sa:.0f}" if x_sa else f"none up to n = {ns[-1]}"), figure="blocks.png"))
    layer_ms = [r["sa_ms"] + r["ffn_ms"] for r in blocks]
    (a, b, c), _ = rules.quadratic_fit(ns, layer_ms)
    rho, rho_lo, rho_hi = rules.rho_interval(ns, layer_ms, s.hidden)
    metrics["layer_fit"] = {"a_ms": a, "b_ms_per_token": b, "c_ms_per_token2": c, "rho": rho,
                            "rho_interval": [rho_lo, rho_hi], "count_rho": 1.0}
    claims.append(rules.near_linear(ns, layer_ms, s.hidden).to_claim(
        claim="For n well below 2hd a base layer is close to linear in n: BERT is slow because it is big, "
              "not because attention is quadratic",
        measured=f"fit of layer time (SA + FFN block, {len(ns)} lengths {ns[0]}–{ns[-1]}): {a:.2f} ms + "
                 f"{1e3 * b:.3g} µs·n + {1e6 * c:.3g} ns·n²; ρ = 6hd·c/b = {rho:.2f} (the count: 1)",
        figure="blocks.png"))
    _plot_blocks(blocks, s, x_sa, (a, b, c), out_dir / "blocks.png")

    # 4. softmax vs linear attention with key size 4d
    cores = measure_cores(cfg.measure)
    x_lin = crossover(ns, [r["softmax_full_ms"] for r in cores], [r["linear_full_ms"] for r in cores])
    x_lin_causal = crossover(ns, [r["softmax_causal_ms"] for r in cores], [r["linear_causal_ms"] for r in cores])
    metrics["cores"] = cores
    metrics["measured_crossover_linear"] = {"full": x_lin, "causal": x_lin_causal}
    pred = cost.crossover_linear(s, cfg.measure.key_mult)
    claims.append(rules.crossover_near(x_lin, pred, ns[-1], name="softmax/linear crossover").to_claim(
        claim=f"Linear attention with key size {cfg.measure.key_mult}d is cheaper than softmax only beyond "
              f"n = {cfg.measure.key_mult ** 2}d = {pred}",
        measured="measured crossover (non-causal): " + (f"n ≈ {x_lin:.0f}" if x_lin else f"none up to {ns[-1]}")
                 + "; causal (not judged): " + (f"n ≈ {x_lin_causal:.0f}" if x_lin_causal else f"none up to {ns[-1]}"),
        figure="cores.png"))
    _plot_cores(cores, pred, out_dir / "cores.png")

    # 5. quality: causal LM vs MLM, per seed
    rows = compare(cfg.quality, out_dir / "runs", progress=progress)
    by = losses_by_side(rows)
    gaps = relative_gaps(rows)
    unigram = unigram_loss(cfg.quality)
    metrics["quality"] = [{k: v for k, v in r.items() if k != "curve"} for r in rows]
    metrics["relative_gap"] = gaps
    metrics["unigram_loss"] = unigram
    claims.append(rules.lm_close_mlm_not(by["lm"], by["mlm"], unigram).to_claim(
        claim="Linear attention (same head size) is close to softmax as a causal LM but clearly worse as "
              "a bidirectional MLM",
        measured=f"held-out loss gap, linear ({cfg.quality.linear_kind}) vs softmax, mean of "
                 f"{len(by['lm']['softmax'])} seeds: LM {100 * gaps['lm']:+.1f} %, MLM {100 * gaps['mlm']:+.1f} %; "
                 f"unigram loss {unigram:.2f} nats/char; {cfg.quality.train.steps} LM steps, "
                 f"{cfg.quality.train.steps * cfg.quality.mlm_steps_mult} MLM steps",
        figure="quality.png",
        evidence={f"{task} {side}": v for task, sides in (("LM", by["lm"]), ("MLM", by["mlm"]))
                  for side, v in sides.items()}))
    _plot_quality(rows, unigram, out_dir / "quality.png")

    # the page shows the flat headline numbers; the full tables go beside the figures
    (out_dir / "details.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    headline = {
        "count_matches_flop_counter": counted == formula,
        "crossover_sa_ffn.predicted": cost.crossover_sa_ffn(s), "crossover_sa_ffn.measured": x_sa,
        "crossover_linear.predicted": pred, "crossover_linear.measured": x_lin,
        "crossover_linear.measured_causal": x_lin_causal,
        "layer_fit.rho": rho, "layer_fit.rho_low": rho_lo, "layer_fit.rho_high": rho_hi,
        **{f"eval_loss.{task}.{side}": float(np.mean(v)) for task, sides in by.items() for side, v in sides.items()},
        "gap_pct.lm": 100 * gaps["lm"], "gap_pct.mlm": 100 * gaps["mlm"], "unigram_loss": unigram,
    }
    figures = ["count.png", "blocks.png", "cores.png", "quality.png"]
    return TopicResult(topic="attention", post=POST, title=TITLE, date=DATE, preset=preset_name,
                       claims=claims, metrics=headline, figures=figures, related_posts=RELATED)


def _plot_count(s: cost.LayerShape, path: Path) -> None:
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


def _plot_blocks(rows: list[dict], s: cost.LayerShape, x: float | None, fit: tuple[float, float, float],
                 path: Path) -> None:
    ns = [r["n"] for r in rows]
    a, b, c = fit
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].loglog(ns, [r["sa_ms"] for r in rows], "o-", label="SA block (SDPA)")
    ax[0].loglog(ns, [r["ffn_ms"] for r in rows], "s-", label="FFN block")
    ax[0].axvline(cost.crossover_sa_ffn(s), ls="--", c="gray", label=f"count: n = 2hd = {cost.crossover_sa_ffn(s)}")
    if x:
        ax[0].axvline(x, ls=":", c="C3", label=f"measured: n ≈ {x:.0f}")
    _length_ticks(ax[0], ns)
    ax[0].set(xlabel="n", ylabel="ms (batch 1)", title="measured SA vs FFN")
    ax[0].legend(fontsize=8)
    grid = np.linspace(ns[0], ns[-1], 200)
    ax[1].plot(ns, [(r["sa_ms"] + r["ffn_ms"]) / r["n"] * 1e3 for r in rows], "o", label="measured layer")
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


def _plot_cores(rows: list[dict], pred: int, path: Path) -> None:
    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, style in (("softmax_full", "o-"), ("linear_full", "s-"), ("softmax_causal", "o--"),
                       ("linear_causal", "s--")):
        ax.loglog(ns, [r[f"{key}_ms"] for r in rows], style, label=key.replace("_", ", "))
    ax.axvline(pred, ls="--", c="gray", label=f"count: n = 16d = {pred}")
    _length_ticks(ax, ns)
    ax.set(xlabel="n", ylabel="ms (batch 1)", title="attention core: softmax vs linear (key 4d)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_quality(rows: list[dict], unigram: float, path: Path) -> None:
    by = losses_by_side(rows)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, side in enumerate(("softmax", "linear")):
        means = [float(np.mean(by[t][side])) for t in ("lm", "mlm")]
        stds = [float(np.std(by[t][side], ddof=1)) if len(by[t][side]) > 1 else 0.0 for t in ("lm", "mlm")]
        ax[0].bar([j + 0.38 * i for j in range(2)], means, width=0.36, yerr=stds, capsize=3, label=side)
        for t, vals in enumerate(by[k][side] for k in ("lm", "mlm")):
            ax[0].plot([t + 0.38 * i] * len(vals), vals, "k.", ms=3)
    ax[0].axhline(unigram, ls="--", c="gray", label=f"unigram {unigram:.2f}")
    ax[0].set_xticks([0.19, 1.19], ["causal LM", "MLM"])
    losses = [r["eval_loss"] for r in rows] + [unigram]
    ax[0].set_ylim(0.9 * min(losses), 1.03 * max(losses))
    ax[0].set(ylabel="held-out loss (nats/char)", title="mean ± std over seeds (dots: seeds)")
    ax[0].legend(fontsize=8)
    for r in rows:
        if r.get("curve"):
            steps, loss = zip(*r["curve"])
            style = "-" if r["attention"] == "softmax" else "--"
            ax[1].plot(steps, loss, style, c="C0" if r["task"] == "lm" else "C1", alpha=0.6, lw=1)
    ax[1].plot([], [], "-", c="C0", label="LM softmax")
    ax[1].plot([], [], "--", c="C0", label="LM linear")
    ax[1].plot([], [], "-", c="C1", label="MLM softmax")
    ax[1].plot([], [], "--", c="C1", label="MLM linear")
    ax[1].set(xlabel="step", ylabel="training loss", title="learning curves, every seed")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _length_ticks(ax, ns: list[int]) -> None:
    """Plain tick labels at the measured lengths (log axes otherwise crowd minor labels)."""
    ax.set_xticks(ns, [str(n) for n in ns], fontsize=8)
    ax.minorticks_off()
