"""`reproduce(preset, out_dir)` for post 8610: count, measure and compare softmax and linear attention.

kexue.fm/archives/8610 (quality: 8338). One function per claim; the rules are in `claims.py`, the
measurements in `measure.py` and `quality.py`, the figures in `plots.py`.
The check (an identity, apart from the claims): the count SA = 4nh²d² + 2n²hd, FFN = 8nh²d² equals
torch's FLOP counter on `kexue.nn.attention.MultiHeadAttention` itself; control: the n² term once.
The claims:
1. SA costs more than FFN only beyond n = 2hd (1536 for base): the measured crossover within 2×;
2. below that a base layer is nearly linear in n: the n² coefficient of a fit to the layer time
   against the count's (`claims.near_linear`);
3. linear attention with key size 4d is cheaper than softmax only beyond n = 16d (1024): within 2×;
4. linear attention is close to softmax as a causal LM, and 5. clearly worse as an MLM (8338):
   paired per seed, bands a share of what softmax learned over the unigram loss.
Every timing is CPU time of the work on one torch thread, the sides interleaved, every round kept;
the crossovers and ρ are decided on bootstrap intervals over the rounds. The timings run first and
alone; only then do the trainings run, side by side on the topic's cores (kexue.parallel). The quick
preset trains a few hundred steps, so its quality verdicts may be "inconclusive"; the page says what
would decide them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kexue.attention import claims as rules
from kexue.attention import cost, plots
from kexue.attention.measure import MeasureConfig, counted_mults, measure_blocks, measure_cores, seconds
from kexue.attention.model import TinyConfig
from kexue.attention.quality import QualityConfig, compare, losses_by_side, unigram_loss
from kexue.result import Check, Claim, TopicResult, save_then_draw
from kexue.train import TrainConfig

TITLE = "线性Transformer应该不是你要等的那个模型"
DATE = "2021-08-09"
POST = 8610
RELATED = [7546, 8338, 9529]
N_CHECK = 256  # the length at which the count is checked against torch's FLOP counter


@dataclass
class AttentionPreset:
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)


def _quality_train(steps: int, batch: int = 32, log_every: int = 25) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch, lr=3e-3, schedule="cosine", warmup=max(1, steps // 10),
                       clip=1.0, log_every=log_every)


def preset(name: str) -> AttentionPreset:
    """quick: CPU, ≤ 100 s alone (the quality claims may be inconclusive at this size).
    standard: ≤ 10 min alone on 2 cores: more rounds and lengths, causal cores, longer training, 4 seeds.
    Both time on one torch thread, whose own CPU time is the work's clock.
    full: longer sequences and a bigger model, for a GPU. smoke: every step at toy size (tests)."""
    if name == "quick":
        return AttentionPreset(
            measure=MeasureConfig(lengths=(128, 256, 512, 1024, 2048, 4096), repeats=5, threads=1, causal=False),
            quality=QualityConfig(model=TinyConfig(hidden=64, heads=4, layers=1), train=_quality_train(150, 16),
                                  train_chars=200_000, eval_windows=128, vocab_size=1000, seeds=(0, 1, 2)))
    if name == "standard":
        return AttentionPreset(
            measure=MeasureConfig(lengths=(128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096), repeats=7,
                                  threads=1),
            # head size 16 < window 64, so the rank bound of bidirectional linear attention (≤ d) can bite
            quality=QualityConfig(model=TinyConfig(hidden=96, heads=6, layers=2), train=_quality_train(400, 16, 25),
                                  vocab_size=1500, seeds=(0, 1, 2, 3)))
    if name == "full":
        return AttentionPreset(
            measure=MeasureConfig(lengths=(128, 256, 512, 1024, 2048, 4096, 8192, 16384), repeats=7,
                                  device="cuda" if torch.cuda.is_available() else "cpu"),
            quality=QualityConfig(
                model=TinyConfig(hidden=256, heads=4, layers=4, max_len=128),
                train=TrainConfig(steps=5000, batch_size=64, lr=1e-3, schedule="cosine", warmup=200,
                                  clip=1.0, log_every=100),
                train_chars=1_600_000, eval_windows=1024, vocab_size=5000, seeds=(0, 1, 2, 3, 4)))
    if name == "smoke":  # the whole pipeline in seconds, for tests; its verdicts mean nothing
        return AttentionPreset(
            measure=MeasureConfig(lengths=(16, 32, 48, 64), h=2, d=16, repeats=3),
            quality=QualityConfig(model=TinyConfig(hidden=32, heads=2, layers=1, max_len=32),
                                  train=TrainConfig(steps=3, batch_size=8, lr=1e-3, log_every=1),
                                  train_chars=20_000, eval_windows=8, vocab_size=500, seeds=(0, 1)))
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")


def reproduce(preset_name: str, out_dir: Path, cfg: AttentionPreset | None = None,
              progress: bool = False) -> TopicResult:
    """The check and the five claims; details.json and result.json are written before the figures."""
    cfg = cfg or preset(preset_name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.measure.threads > 0:  # kexue.reproduce.run_topics gives the next topic its threads back
        torch.set_num_threads(cfg.measure.threads)
    s = cost.LayerShape(h=cfg.measure.h, d=cfg.measure.d)
    details: dict = {}
    check = count_check(s, details)
    blocks = measure_blocks(cfg.measure)
    cores = measure_cores(cfg.measure)
    # the timings above are done before the trainings start their workers: nothing runs beside them
    rows = compare(cfg.quality, out_dir / "runs", progress=progress)
    by = losses_by_side(rows)
    unigram = unigram_loss(cfg.quality)
    claims = [sa_ffn_crossover(blocks, s, cfg.measure.device, details),
              near_linear_claim(blocks, s, details),
              linear_crossover(cores, s, cfg.measure, details),
              lm_close_claim(by, unigram, cfg.quality, details),
              mlm_worse_claim(by, unigram, cfg.quality, details)]
    details["quality"] = [{k: v for k, v in r.items() if k != "curve"} for r in rows]
    (out_dir / "details.json").write_text(json.dumps(details, indent=1), encoding="utf-8")
    result = TopicResult(topic="attention", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                         checks=[check], metrics=_headline(details, by, unigram),
                         figures=["count.png", "blocks.png", "cores.png", "quality.png"], related_posts=RELATED)
    return save_then_draw(result, out_dir, {
        "count.png": lambda path: plots.plot_count(s, path),
        "blocks.png": lambda path: plots.plot_blocks(blocks, s, details["crossover_sa_ffn"]["measured"],
                                                     details["layer_fit"]["abc_s"], path),
        "cores.png": lambda path: plots.plot_cores(cores, cost.crossover_linear(s, cfg.measure.key_mult),
                                                   details["crossover_linear"]["measured"], path),
        "quality.png": lambda path: plots.plot_quality(by, rows, unigram, path)})


def count_check(s: cost.LayerShape, details: dict) -> Check:
    """The count against torch's FLOP counter on MultiHeadAttention itself; control: n² counted once."""
    n = N_CHECK
    counted = counted_mults(n, s)
    formula = {"sa": cost.sa_mults(n, s), "ffn": cost.ffn_mults(n, s)}
    # the wrong variant: SA = 4nh²d² + n²hd (the scores or the weighted sum left out)
    wrong = dict(formula, sa=formula["sa"] - n**2 * s.h * s.d)
    details["count_check"] = {"n": n, "counted": counted, "formula": formula, "control": wrong}
    return rules.count_matches(counted, formula).to_check(
        identity=f"A layer costs SA = 4nh²d² + 2n²hd and FFN = 8nh²d² multiplications (so SA > FFN ⇔ n > 2hd = "
                 f"{cost.crossover_sa_ffn(s)}, and the n² term dominates ⇔ n > 6hd = {cost.crossover_quadratic(s)})",
        measured=f"torch's FLOP counter on kexue's MultiHeadAttention and FFN at n={n}, h={s.h}, d={s.d}: "
                 f"SA {counted['sa']:,} vs formula {formula['sa']:,}; FFN {counted['ffn']:,} vs {formula['ffn']:,}",
        control=rules.count_matches(counted, wrong), control_name="the count with the n² term once (n²hd)",
        figure="count.png")


def sa_ffn_crossover(blocks: list[dict], s: cost.LayerShape, device: str, details: dict) -> Claim:
    ns = [r["n"] for r in blocks]
    x = rules.crossover_interval(ns, seconds(blocks, "sa"), seconds(blocks, "ffn"))
    pred = cost.crossover_sa_ffn(s)
    details["blocks"] = blocks
    details["crossover_sa_ffn"] = {"predicted": pred, "measured": _finite(x)}
    rounds = len(blocks[0]["sa_s"])
    return rules.crossover_near(x, pred, ns[-1], name="SA/FFN crossover").to_claim(
        claim=f"SA takes longer than FFN only beyond about n = 2hd = {pred}",
        measured=f"SA and FFN blocks timed in turn, {rounds} rounds at each of {len(ns)} lengths {ns[0]}–{ns[-1]} "
                 f"(CPU time of the work, {device}); crossover of the mean log time ratio, bootstrap over rounds",
        figure="blocks.png", quote=rules.QUOTES["sa_ffn"],
        needs="more rounds, or lengths past √10 × the count: the interval straddles an edge of the band")


def near_linear_claim(blocks: list[dict], s: cost.LayerShape, details: dict) -> Claim:
    ns = [r["n"] for r in blocks]
    # the layer's time in round r: t_SA,r + t_FFN,r
    layer = [[a + b for a, b in zip(r["sa_s"], r["ffn_s"])] for r in blocks]
    x = rules.rho_interval(ns, layer, s.hidden)
    a, b, c = rules.quadratic_fit(ns, np.mean(layer, axis=1))
    details["layer_fit"] = {"abc_s": [float(a), float(b), float(c)], "rho": _finite(x), "count_rho": 1.0}
    return rules.near_linear(x).to_claim(
        claim="For n well below 2hd a base layer is close to linear in n: BERT is slow because it is big, "
              "not because attention is quadratic",
        measured=f"fit of the layer time (SA + FFN block per round, {len(ns)} lengths {ns[0]}–{ns[-1]}): "
                 f"{1e3 * a:.2f} ms + {1e6 * b:.3g} µs·n + {1e9 * c:.3g} ns·n²; ρ = 6hd·c/b (the count: 1)",
        figure="blocks.png", quote=rules.QUOTES["near_linear"],
        needs="more rounds at each length (ρ's interval straddles the bound)")


def linear_crossover(cores: list[dict], s: cost.LayerShape, m: MeasureConfig, details: dict) -> Claim:
    ns = [r["n"] for r in cores]
    # softmax overtakes linear: a = softmax, b = linear
    x = rules.crossover_interval(ns, seconds(cores, "softmax_full"), seconds(cores, "linear_full"))
    pred = cost.crossover_linear(s, m.key_mult)
    details["cores"] = cores
    details["crossover_linear"] = {"predicted": pred, "measured": _finite(x)}
    return rules.crossover_near(x, pred, ns[-1], name="softmax/linear crossover").to_claim(
        claim=f"Linear attention with key size {m.key_mult}d is cheaper than softmax only beyond "
              f"n = {m.key_mult ** 2}d = {pred}",
        measured=f"non-causal cores (h={m.h}, softmax head size {m.d}, linear key and value size {m.key_mult * m.d}) "
                 f"timed in turn, {len(cores[0]['softmax_full_s'])} rounds per length; crossover of the mean log "
                 "time ratio, bootstrap over rounds",
        figure="cores.png", quote=rules.QUOTES["linear_crossover"],
        needs="more rounds, or lengths past √10 × the count: the interval straddles an edge of the band")


def lm_close_claim(by: dict, unigram: float, q: QualityConfig, details: dict) -> Claim:
    lm = by["lm"]
    diffs = rules.paired_differences(lm["linear"], lm["softmax"])
    details["lm_differences"] = diffs
    return rules.lm_close(lm, unigram).to_claim(
        claim="Linear attention (same head size) is close to softmax as a causal LM",
        measured=f"held-out loss, linear ({q.linear_kind}) − softmax per seed: "
                 + ", ".join(f"{d:+.3f}" for d in diffs) + f" nats/char; unigram {unigram:.2f}; "
                 f"{q.train.steps} steps, {len(diffs)} seeds",
        figure="quality.png", quote=rules.QUOTES["lm_close"],
        evidence={"LM softmax": lm["softmax"], "LM linear": lm["linear"]},
        needs="more seeds or steps: the interval of the paired difference straddles the margin")


def mlm_worse_claim(by: dict, unigram: float, q: QualityConfig, details: dict) -> Claim:
    mlm = by["mlm"]
    diffs = rules.paired_differences(mlm["linear"], mlm["softmax"])
    details["mlm_differences"] = diffs
    return rules.mlm_clearly_worse(mlm, unigram).to_claim(
        claim="Bidirectional linear attention (same head size) is clearly worse than softmax as an MLM",
        measured=f"held-out masked-character loss, linear ({q.linear_kind}) − softmax per seed: "
                 + ", ".join(f"{d:+.3f}" for d in diffs) + f" nats/char; unigram {unigram:.2f}; "
                 f"{q.train.steps * q.mlm_steps_mult} steps, {len(diffs)} seeds",
        figure="quality.png", quote=rules.QUOTES["mlm_worse"],
        evidence={"MLM softmax": mlm["softmax"], "MLM linear": mlm["linear"]},
        needs="more seeds or steps: the interval of the paired difference straddles the margin")


def _headline(details: dict, by: dict, unigram: float) -> dict:
    """The flat numbers the page shows; the full tables are in details.json beside the figures."""
    x_sa, x_lin, rho = (details["crossover_sa_ffn"]["measured"], details["crossover_linear"]["measured"],
                        details["layer_fit"]["rho"])
    c = details["count_check"]
    return {
        "count_matches_flop_counter": c["counted"] == c["formula"],
        "crossover_sa_ffn.predicted": details["crossover_sa_ffn"]["predicted"],
        "crossover_sa_ffn.measured": x_sa[0], "crossover_sa_ffn.low": x_sa[1], "crossover_sa_ffn.high": x_sa[2],
        "crossover_linear.predicted": details["crossover_linear"]["predicted"],
        "crossover_linear.measured": x_lin[0], "crossover_linear.low": x_lin[1], "crossover_linear.high": x_lin[2],
        "layer_fit.rho": rho[0], "layer_fit.rho_low": rho[1], "layer_fit.rho_high": rho[2],
        **{f"eval_loss.{task}.{side}": float(np.mean(v)) for task, sides in by.items() for side, v in sides.items()},
        "unigram_loss": unigram,
    }


def _finite(x: tuple[float, ...]) -> list[float | None]:
    """JSON has no infinity: "no crossover in range" (or no linear term) is written as null."""
    return [v if np.isfinite(v) else None for v in x]
