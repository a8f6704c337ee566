"""`reproduce(preset, out_dir)` for posts 9119 and 9152: Su's DDPM, its schedule, σ choices and EMA.

kexue.fm/archives/9119 (拆楼 + 建楼) and kexue.fm/archives/9152 (自回归式VAE). One function per claim
or check below; the rules (and their bands) are in kexue/diffusion/claims.py, the measurements in
identities.py (exact statements) and draws.py (a trained model's paired sample draws).

Checks (exact; each beside a negative control that the same rule must reject):
1. ᾱ_T of α_t = √(1 − 0.02t/T), T = 1000, is the post's formula exp(½ Σ log(1 − 0.02t/T)) and below its
   bound e^{−0.005(T+1)} (controls: the schedule one step off; 0.02t/T taken as β_t instead of β_t²);
2. the variance-reduction identity of 9119 (merging ε̄_{t−1}, ε_t into one ε) by Monte Carlo (control:
   the merged ε put in place of ε_t without the weight and the constant);
3. 9152's optimal σ_t: for data N(0, 1) the chain with σ_t = β_t and the exact ε returns N(0, 1) exactly
   (control: the posterior σ); for one data point x_* the posterior σ_t = β̄_{t−1}β_t/β̄_t returns x_*
   exactly (control: σ_t = β_t). The sampler's law is computed exactly (identities.chain_law).
Claims (a small `su` U-Net trained on 8×8 digits, sampled in paired draws):
4. easy to train, clear samples (a diverging run is "not held");
5. σ_t = β_t and the posterior σ_t perform similarly (9152: "两个选择的表现是相似的");
6. EMA weights (Su's reference code samples with them) are at least as good as the raw weights;
7. Su's 128-px CelebA-HQ run: not checkable offline.
Departures: the metrics are FD in a small classifier's feature space (see metrics.py), not FID; the
model is tiny and trained for minutes, so "similar" is judged on that model, over sample draws of one
trained model (not over training seeds). `full` trains Su's recipe on Fashion-MNIST 28×28.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import torch

from kexue.diffusion import claims as rules
from kexue.diffusion import identities as exact
from kexue.diffusion.draws import Draws, train_and_draw
from kexue.diffusion.images import save_grid
from kexue.diffusion.metrics import ClassifierConfig
from kexue.diffusion.schedule import Schedule
from kexue.diffusion.train import DiffusionConfig
from kexue.result import Check, Claim, TopicResult, save_then_draw

TITLE = "生成扩散模型漫谈（一）：DDPM = 拆楼 + 建楼"
DATE = "2022-06-13"
POST = 9119
RELATED = [9152]
IDENTITY_TS = (10, 100, 500, 900)  # t of the variance-reduction check; t ≥ 500 where β̄_t ≈ 1
POINT = 0.7  # the single data point x_* of 9152's first case


@dataclass
class DiffusionPreset:
    run: DiffusionConfig = field(default_factory=lambda: DiffusionConfig.preset("quick"))
    n_samples: int = 256        # images per sample draw (FD is biased upward at small n)
    draws: int = 3              # paired sample draws per row (and held-out real draws)
    sample_steps: int = 100     # respaced chain of this many steps (0: the full T-step chain, as the post)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    mc_n: int = 20000           # Monte Carlo draws per t for the variance-reduction identity
    seed: int = 0
    threads: int = 1            # torch CPU threads during the run (0: leave as is); tiny ops on shared
                                # cores run faster on one thread than waiting at a second one's barriers


def preset(name: str) -> DiffusionPreset:
    """quick: CPU, ≤ 2 minutes on 2 cores. standard: CPU, ≤ 10 minutes, a bigger model trained longer
    and more draws. full: Su's recipe on Fashion-MNIST, for a GPU. smoke: tests."""
    if name == "quick":
        return DiffusionPreset()
    if name == "standard":
        quick = DiffusionConfig.preset("quick")
        # 2× the width, a third level, 2× the steps
        run = replace(quick, unet_su=replace(quick.unet_su, embedding_size=32, channels=(1, 2, 2)),
                      train=replace(quick.train, steps=3000, log_every=100, ema=0.995))
        return DiffusionPreset(run=run, n_samples=512, draws=5, mc_n=50000)
    if name == "full":
        run = DiffusionConfig.preset("su", data="fashion-mnist")
        return DiffusionPreset(run=replace(run, sample_every=2000), n_samples=5000, draws=3, sample_steps=0,
                               classifier=ClassifierConfig(steps=3000), mc_n=200000, threads=0)
    if name == "smoke":
        return DiffusionPreset(run=DiffusionConfig.preset("smoke"), n_samples=16, draws=3, sample_steps=10,
                               classifier=ClassifierConfig(steps=5, width=8, feature_dim=8), mc_n=2000)
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")


def reproduce(preset_name: str, out_dir: Path, cfg: DiffusionPreset | None = None,
              progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)  # kexue.reproduce.run_topics restores the caller's count
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    su = Schedule.preset("su", 1000)
    metrics: dict = {}
    checks = [check_bar_alpha_T(su, metrics), check_variance_identity(su, cfg, metrics),
              check_sigma_normal(su, metrics), check_sigma_point(su, metrics)]
    d = train_and_draw(cfg.run, out_dir, cfg.n_samples, cfg.draws, cfg.sample_steps, cfg.classifier, cfg.seed,
                       device, progress)
    metrics.update(d.to_dict())
    claims = [claim_samples(d), claim_similar(d), claim_celeba()]
    # EMA vs raw weights is measured and shown, but it is not a claim of the posts (Su's code keeps an EMA;
    # 9119/9152 never compare the two), so it is kept out of the claims and their tally
    ema = claim_ema(d, cfg.run.train.ema)
    metrics["ema_vs_raw"] = {"measured": ema.measured, "verdict": ema.verdict, "rule": ema.rule}
    result = TopicResult(topic="diffusion", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                         checks=checks, metrics=metrics, figures=["samples.png", "data.png"], related_posts=RELATED)
    return save_then_draw(result, out_dir, {name: partial(save_grid, x, nrow=8) for name, x in d.grids.items()})


# --- checks ---

def check_bar_alpha_T(su: Schedule, metrics: dict) -> Check:
    """1. ᾱ_T of the code = the post's formula, below the post's bound; the same rule on two slips."""
    T = su.T
    formula, bound = exact.bar_alpha_T_formula(T), exact.su_bound(T)
    code = float(su.bar_alpha[T])
    wrong = {name: float(s.bar_alpha[T]) for name, s in exact.wrong_schedules(T).items()}
    metrics["schedule"] = {"bar_alpha_T": code, "formula": formula, "bound": bound, "wrong": wrong,
                           "bar_beta": {t: float(su.bar_beta[t]) for t in (1, 10, 100, 500)}}
    control = rules.every_rejected({name: rules.bar_alpha_T(v, formula, bound) for name, v in wrong.items()})
    shown = "; ".join(f"{name}: ᾱ_T = {v:.6f}" for name, v in wrong.items())
    return rules.bar_alpha_T(code, formula, bound).to_check(
        "ᾱ_T of α_t = √(1 − 0.02t/T), T = 1000, is exp(½ Σ log(1 − 0.02t/T)) < e^{−0.005(T+1)} ≈ e^{−5} (9119: "
        f"「{rules.QUOTES['bar_alpha_T'][1]}」)",
        f"Schedule.preset('su').bar_alpha[T] = {code:.15f}; the post's formula {formula:.15f}; bound {bound:.6f}; "
        f"controls: {shown}", control, "ᾱ_T of two slipped schedules (one step off; β_t² read as β_t)")


def check_variance_identity(su: Schedule, cfg: DiffusionPreset, metrics: dict) -> Check:
    """2. 9119's variance reduction: E‖ε_t − f(x_t)‖² = (β_t/β̄_t)² E‖ε − (β̄_t/β_t) f(ᾱ_t x_0 + β̄_t ε)‖²
    + d α_t² β̄_{t−1}²/β̄_t², by Monte Carlo; the control drops the weight and the constant."""
    ident = {t: exact.variance_identity(su, t, cfg.mc_n, cfg.seed) for t in IDENTITY_TS}
    metrics["variance_identity"] = ident
    shown = "; ".join(f"t={t}: {r['two_noises']:.3f} vs {r['one_noise_plus_constant']:.3f} "
                      f"(Δ {r['diff'][0]:+.4f} ± {r['diff'][1]:.4f} SE), wrong form {r['wrong']:.3f}"
                      for t, r in ident.items())
    control = rules.identity({t: r["wrong_diff"] for t, r in ident.items()}, name="two-noise − wrong form")
    return rules.identity({t: r["diff"] for t, r in ident.items()}).to_check(
        "Merging ε̄_{t−1}, ε_t into one ε leaves the loss unchanged up to the weight (β_t/β̄_t)² and a constant "
        f"(9119: 「{rules.QUOTES['variance_identity'][1]}」)",
        f"Monte Carlo, d = 16, n = {cfg.mc_n} per t, f(z) = tanh(1.5z) + ½tanh(zW): two noises vs one noise "
        f"+ constant, {shown}", control, "the merged ε in place of ε_t, without the weight and the constant")


def check_sigma_normal(su: Schedule, metrics: dict) -> Check:
    """3a. Data N(0, 1): σ_t = β_t keeps x_t ~ N(0, 1) exactly (x_{t−1} = α_t x_t + β_t z, α_t² + β_t² = 1)."""
    beta, post = exact.chain_law(su, "beta", 0.0, 1.0), exact.chain_law(su, "posterior", 0.0, 1.0)
    metrics["sigma_normal"] = {"beta": beta, "posterior": post}
    return rules.chain_law(beta, 0.0, 1.0).to_check(
        "For data N(0, I) the optimal σ_t is β_t: with the exact ε the T-step chain returns N(0, 1) exactly "
        f"(9152: 「{rules.QUOTES['sigma_normal'][1]}」)",
        f"exact law of x_0 (1-d, T = {su.T}): σ=β mean {beta['mean']:.3g}, variance {beta['var']:.15f}; "
        f"σ=posterior variance {post['var']:.6f}",
        rules.chain_law(post, 0.0, 1.0), "the posterior σ_t = β̄_{t−1}β_t/β̄_t on the same data")


def check_sigma_point(su: Schedule, metrics: dict) -> Check:
    """3b. One data point x_*: the posterior σ_t makes the chain the exact reverse process, ending at x_*."""
    post, beta = exact.chain_law(su, "posterior", POINT, 0.0), exact.chain_law(su, "beta", POINT, 0.0)
    metrics["sigma_point"] = {"posterior": post, "beta": beta}
    return rules.chain_law(post, POINT, 0.0).to_check(
        "For a single data point x_* the optimal σ_t is β̄_{t−1}β_t/β̄_t: with the exact ε the chain returns x_* "
        f"exactly (9152: 「{rules.QUOTES['sigma_point'][1]}」…)",
        f"exact law of x_0 (x_* = {POINT}, T = {su.T}): σ=posterior mean {post['mean']:.15f}, variance "
        f"{post['var']:.3g}; σ=β variance {beta['var']:.3g}",
        rules.chain_law(beta, POINT, 0.0), "σ_t = β_t on the same data point")


# --- claims ---

def claim_samples(d: Draws) -> Claim:
    """4. "容易训练，并且生成的图片也清晰": the loss falls without diverging, samples are inside the data."""
    row = "ema, σ=β"
    fd, tr = d.fd_key, d.train
    decision = rules.samples_look_like_data(tr["first_loss"], tr["final_loss"], d.values(row, "precision"),
                                            d.values(row), d.noise[fd], d.diverged)
    return decision.to_claim(
        "A DDPM trained with the summed squared error is a plain, stable regression (easy to train) and its "
        "samples look like the data (Su's U-Net, Su's schedule)",
        f"{d.classifier['name']}, {tr['steps']} steps: loss {_loss(tr['first_loss'])} → {_loss(tr['final_loss'])}"
        f"{'; ' + d.diverged if d.diverged else ''}; {fd} {d.mean(row):.1f}, precision "
        f"{d.mean(row, 'precision'):.2f}, recall {d.mean(row, 'recall'):.2f} ({len(d.data)} draws of {d.n}); "
        f"held-out real images: {fd} {d.mean('data'):.1f}, precision {d.mean('data', 'precision'):.2f}; noise "
        f"images: {fd} {d.noise[fd]:.1f}; classifier accuracy {d.classifier['accuracy']:.3f}",
        figure="samples.png", quote=rules.QUOTES["samples"],
        evidence={"FD samples": d.values(row), "FD held-out data": d.values("data"),
                  "precision": d.values(row, "precision")},
        needs="more training steps (the loss or the FD missed its floor)")


def claim_similar(d: Draws) -> Claim:
    """5. σ_t = β_t ≈ σ_t = β̄_{t−1}β_t/β̄_t on the trained model, paired over draws."""
    b, p = "ema, σ=β", "ema, σ=posterior"
    decision = rules.similar(d.values(b), d.values(p), d.values("data"), d.noise[d.fd_key])
    return decision.to_claim(
        "σ_t = β_t and σ_t = β̄_{t−1}β_t/β̄_t (optimal for N(0, I) and for one data point) perform similarly",
        f"{d.fd_key}: σ=β {d.mean(b):.1f} vs posterior {d.mean(p):.1f} (held-out data {d.mean('data'):.1f}); "
        f"precision {d.mean(b, 'precision'):.2f} vs {d.mean(p, 'precision'):.2f}; recall {d.mean(b, 'recall'):.2f} "
        f"vs {d.mean(p, 'recall'):.2f}; {len(d.data)} paired draws of {d.n} (same x_T and z), {d.chain_steps}-step "
        "chain, one trained model", figure="samples.png", quote=rules.QUOTES["similar"],
        evidence={"σ=β": d.values(b), "σ=posterior": d.values(p), "held-out data": d.values("data")},
        needs=_needs(d))


def claim_ema(d: Draws, decay: float | None) -> Claim:
    """6. EMA weights at least as good as the raw ones (Su's reference code keeps and samples an EMA)."""
    e, r = "ema, σ=β", "raw, σ=β"
    decision = rules.at_least_as_good(d.values(e), d.values(r), d.values("data"), d.noise[d.fd_key])
    return decision.to_claim(
        "Sampling with the EMA weights is at least as good as with the raw weights (the post's text does not "
        "say this: Su's reference implementation, linked from 9152, keeps an EMA and samples with it)",
        f"{d.fd_key}: EMA {d.mean(e):.1f} vs raw {d.mean(r):.1f} (held-out data {d.mean('data'):.1f}); precision "
        f"{d.mean(e, 'precision'):.2f} vs {d.mean(r, 'precision'):.2f}; recall {d.mean(e, 'recall'):.2f} vs "
        f"{d.mean(r, 'recall'):.2f} (EMA decay {decay}, bias-corrected; {len(d.data)} paired draws of {d.n})",
        quote=rules.QUOTES["ema"], evidence={"EMA": d.values(e), "raw": d.values(r), "held-out data": d.values("data")},
        needs=_needs(d))


def claim_celeba() -> Claim:
    """7. Su's own run: 128×128 CelebA-HQ on one RTX 3090 (not checkable offline)."""
    return rules.not_checkable_celeba().to_claim(
        "Su's 128×128 CelebA-HQ model gives sharp faces after days on one RTX 3090",
        "not run: CelebA-HQ is not available offline and the run takes days; the recipe is the `su` preset "
        "of `kexue diffusion train --preset su --data DIR --size 128`", quote=rules.QUOTES["celeba"],
        needs="CelebA-HQ at 128×128 and about three days on one 24 GB GPU (`kexue diffusion train --preset su`)")


def _needs(d: Draws) -> str:
    if d.diverged:
        return f"a run that does not diverge ({d.diverged})"
    return ("more paired draws (DiffusionPreset.draws) to narrow the interval, or a longer-trained model if a "
            "side missed its floor")


def _loss(value: float | None) -> str:
    """A logged loss; None is a non-finite one, written to metrics.jsonl as null when the run diverged."""
    return "nan" if value is None else f"{value:.1f}"
