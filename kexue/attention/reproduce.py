"""`reproduce(preset, out_dir)` for post 8610: count, measure and compare softmax and linear attention.

kexue.fm/archives/8610. Claims checked:
1. the multiplication count SA = 4nh²d² + 2n²hd, FFN = 8nh²d² (against torch's FLOP counter on a real layer);
2. SA costs more than FFN only beyond n = 2hd (1536 for base) — measured on this device;
3. below that a base layer is nearly linear in n — measured time per token;
4. linear attention with key size 4d is cheaper than softmax only beyond n = 16d (1024) — measured;
5. linear attention loses little as a causal LM and clearly as an MLM (posts 8338, 9529) — trained.
Measured crossovers pass if they land within a factor of 2 of the count's: the post itself calls its
bounds estimates of the order of magnitude (“感知一下范围和数量级就好”).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kexue.attention import cost  # noqa: E402
from kexue.attention.measure import (MeasureConfig, counted_mults, crossover, measure_blocks,  # noqa: E402
                                     measure_cores, set_threads)
from kexue.attention.model import TinyConfig  # noqa: E402
from kexue.attention.quality import QualityConfig, compare, relative_gaps  # noqa: E402
from kexue.result import Claim, TopicResult  # noqa: E402
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


def preset(name: str) -> AttentionPreset:
    """quick: CPU, about 3 minutes on 2 cores. full: longer sequences and a bigger model, for a GPU.
    smoke: every step at toy size in seconds (tests use it)."""
    if name == "quick":
        return AttentionPreset(
            measure=MeasureConfig(lengths=(128, 256, 512, 1024, 2048, 4096), repeats=3),
            quality=QualityConfig())
    if name == "full":
        return AttentionPreset(
            measure=MeasureConfig(lengths=(128, 256, 512, 1024, 2048, 4096, 8192, 16384), repeats=5,
                                  device="cuda" if torch.cuda.is_available() else "cpu"),
            quality=QualityConfig(
                model=TinyConfig(hidden=256, heads=4, layers=4, max_len=128),
                train=TrainConfig(steps=5000, batch_size=64, lr=1e-3, schedule="cosine", warmup=200,
                                  clip=1.0, log_every=100),
                train_chars=1_600_000, eval_windows=1024, vocab_size=5000))
    if name == "smoke":  # the whole pipeline in seconds, for tests; its verdicts mean nothing
        return AttentionPreset(
            measure=MeasureConfig(lengths=(32, 64), h=2, d=16, repeats=1),
            quality=QualityConfig(model=TinyConfig(hidden=32, heads=2, layers=1, max_len=32),
                                  train=TrainConfig(steps=3, batch_size=8, lr=1e-3, log_every=1),
                                  train_chars=20_000, eval_windows=8, vocab_size=500))
    raise ValueError(f"unknown preset {name!r}; choose quick, full or smoke")


def within(measured: float | None, predicted: float, factor: float = 2.0) -> bool:
    return measured is not None and predicted / factor <= measured <= predicted * factor


def reproduce(preset_name: str, out_dir: Path, cfg: AttentionPreset | None = None,
              progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    set_threads(cfg.measure.threads)
    s = cost.LayerShape(h=cfg.measure.h, d=cfg.measure.d)
    claims, metrics = [], {}

    # 1. the count, against torch's FLOP counter on a real layer
    n_check = 256
    counted = counted_mults(n_check, s)
    exact = counted["sa"] == cost.sa_mults(n_check, s) and counted["ffn"] == cost.ffn_mults(n_check, s)
    metrics["count_check"] = {"n": n_check, "counted": counted,
                              "formula": {"sa": cost.sa_mults(n_check, s), "ffn": cost.ffn_mults(n_check, s)}}
    claims.append(Claim(
        claim="A layer costs SA = 4nh²d² + 2n²hd and FFN = 8nh²d² multiplications; SA > FFN only for "
              f"n > 2hd ({cost.crossover_sa_ffn(s)}), the n² term dominates only for n > 6hd "
              f"({cost.crossover_quadratic(s)})",
        measured=f"torch's FLOP counter on a real layer at n={n_check}: SA {counted['sa']:,} vs formula "
                 f"{cost.sa_mults(n_check, s):,}; FFN {counted['ffn']:,} vs {cost.ffn_mults(n_check, s):,}",
        verdict="held" if exact else "not held", figure="count.png"))
    _plot_count(s, out_dir / "count.png")

    # 2 + 3. SA vs FFN measured
    blocks = measure_blocks(cfg.measure)
    ns = [r["n"] for r in blocks]
    x_sa = crossover(ns, [r["sa_ms"] for r in blocks], [r["ffn_ms"] for r in blocks])
    metrics["blocks"] = blocks
    metrics["measured_crossover_sa_ffn"] = x_sa
    claims.append(Claim(
        claim=f"SA takes longer than FFN only beyond about n = 2hd = {cost.crossover_sa_ffn(s)}",
        measured=f"measured SA/FFN time crossover on {cfg.measure.device}: "
                 + (f"n ≈ {x_sa:.0f}" if x_sa else f"none up to n = {ns[-1]}"),
        verdict="held" if within(x_sa, cost.crossover_sa_ffn(s)) else "not held", figure="blocks.png"))
    per_token = {r["n"]: (r["sa_ms"] + r["ffn_ms"]) / r["n"] for r in blocks}
    short = [n for n in ns if n <= cost.crossover_sa_ffn(s) // 3]
    growth = per_token[short[-1]] / per_token[short[0]] if len(short) >= 2 else None
    metrics["per_token_growth"] = {"from": short[0] if short else None, "to": short[-1] if short else None,
                                   "ratio": growth}
    claims.append(Claim(
        claim="For n well below 2hd a base layer is close to linear in n: BERT is slow because it is big, "
              "not because attention is quadratic",
        measured=(f"layer time per token grows {growth:.2f}× from n = {short[0]} to n = {short[-1]} "
                  f"(n grew {short[-1] // short[0]}×)") if growth else "too few short lengths measured",
        verdict=("held" if growth < 1.5 else "not held") if growth else "not checkable", figure="blocks.png"))
    _plot_blocks(blocks, s, x_sa, out_dir / "blocks.png")

    # 4. softmax vs linear attention with key size 4d
    cores = measure_cores(cfg.measure)
    x_lin = crossover(ns, [r["softmax_full_ms"] for r in cores], [r["linear_full_ms"] for r in cores])
    x_lin_causal = crossover(ns, [r["softmax_causal_ms"] for r in cores], [r["linear_causal_ms"] for r in cores])
    metrics["cores"] = cores
    metrics["measured_crossover_linear"] = {"full": x_lin, "causal": x_lin_causal}
    pred = cost.crossover_linear(s, cfg.measure.key_mult)
    claims.append(Claim(
        claim=f"Linear attention with key size {cfg.measure.key_mult}d is cheaper than softmax only beyond "
              f"n = {cfg.measure.key_mult ** 2}d = {pred}",
        measured="measured crossover (non-causal): " + (f"n ≈ {x_lin:.0f}" if x_lin else f"none up to {ns[-1]}")
                 + "; causal: " + (f"n ≈ {x_lin_causal:.0f}" if x_lin_causal else f"none up to {ns[-1]}"),
        verdict="held" if within(x_lin, pred) else "not held", figure="cores.png"))
    _plot_cores(cores, pred, out_dir / "cores.png")

    # 5. quality: causal LM vs MLM
    rows = compare(cfg.quality, out_dir / "runs", progress=progress)
    gaps = relative_gaps(rows)
    metrics["quality"] = rows
    metrics["relative_gap"] = gaps
    claims.append(Claim(
        claim="Linear attention (same head size) is close to softmax as a causal LM but clearly worse as "
              "a bidirectional MLM",
        measured=f"held-out loss gap, linear ({cfg.quality.linear_kind}) vs softmax: LM {100 * gaps['lm']:+.1f} %, "
                 f"MLM {100 * gaps['mlm']:+.1f} %",
        verdict="held" if gaps["mlm"] > max(gaps["lm"], 0.0) else "not held", figure="quality.png"))
    _plot_quality(rows, out_dir / "quality.png")

    # the page shows the flat headline numbers; the full tables go beside the figures
    (out_dir / "details.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    headline = {
        "count_matches_flop_counter": exact,
        "crossover_sa_ffn.predicted": cost.crossover_sa_ffn(s), "crossover_sa_ffn.measured": x_sa,
        "crossover_linear.predicted": pred, "crossover_linear.measured": x_lin,
        "crossover_linear.measured_causal": x_lin_causal,
        "per_token_time_growth": growth,
        **{f"eval_loss.{r['task']}.{r['attention']}": r["eval_loss"] for r in rows},
        "gap_pct.lm": 100 * gaps["lm"], "gap_pct.mlm": 100 * gaps["mlm"],
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


def _plot_blocks(rows: list[dict], s: cost.LayerShape, x: float | None, path: Path) -> None:
    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.loglog(ns, [r["sa_ms"] for r in rows], "o-", label="SA block (SDPA)")
    ax.loglog(ns, [r["ffn_ms"] for r in rows], "s-", label="FFN block")
    ax.axvline(cost.crossover_sa_ffn(s), ls="--", c="gray", label=f"count: n = 2hd = {cost.crossover_sa_ffn(s)}")
    if x:
        ax.axvline(x, ls=":", c="C3", label=f"measured: n ≈ {x:.0f}")
    _length_ticks(ax, ns)
    ax.set(xlabel="n", ylabel="ms (batch 1)", title="measured SA vs FFN")
    ax.legend(fontsize=8)
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


def _plot_quality(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    tasks = ["lm", "mlm"]
    for i, soft in enumerate((True, False)):
        vals = [next(r["eval_loss"] for r in rows if r["task"] == t and (r["attention"] == "softmax") == soft)
                for t in tasks]
        ax.bar([j + 0.38 * i for j in range(2)], vals, width=0.36, label="softmax" if soft else "linear")
    ax.set_xticks([0.19, 1.19], ["causal LM", "MLM"])
    for bar in ax.patches:
        ax.annotate(f"{bar.get_height():.3f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    losses = [r["eval_loss"] for r in rows]
    # the differences are a few percent: start the axis near the smallest loss
    ax.set_ylim(0.9 * min(losses), 1.03 * max(losses))
    ax.set(ylabel="held-out loss (nats/char)", title="People's Daily, same params and steps per task")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _length_ticks(ax, ns: list[int]) -> None:
    """Plain tick labels at the measured lengths (log axes otherwise crowd minor labels)."""
    ax.set_xticks(ns, [str(n) for n in ns], fontsize=8)
    ax.minorticks_off()
