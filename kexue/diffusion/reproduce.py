"""`reproduce(preset, out_dir)` for posts 9119 and 9152: Su's DDPM, its schedule, σ choices and EMA.

kexue.fm/archives/9119 (拆楼 + 建楼) and kexue.fm/archives/9152 (自回归式VAE). Claims checked, each
decided by a rule of kexue/diffusion/claims.py (shown on the page):
1. ᾱ_T for α_t = √(1 − 0.02 t/T), T = 1000, is ≈ e^{−5}, under the bound e^{−0.005(T+1)};
2. the variance-reduction identity of 9119 (merging ε̄_{t−1}, ε_t into one ε) at t = 10, 100, 500, 900,
   by Monte Carlo within its standard error, with f a map correlated with the noise; beside it the
   wrong identity (the merged ε put in place of ε_t without the weight and the constant), which the
   same rule must call "not held";
3. with the exact ε of Gaussian data the sampler returns the data's mean and variance, σ = β or posterior;
4. a small `su` U-Net trained on 8×8 digits gives digits (grid, FD/P/R against held-out data);
5. σ_t = β_t and σ_t = β̄_{t−1}β_t/β̄_t give similar samples (9152: "两个选择的表现是相似的");
6. EMA weights (Su samples with them) are at least as good as the raw weights.
Claims 4–6 sample `draws` independent sets of `n_samples` images per side and compare FDs against the
data-vs-data FD: `draws` sets of n real images *held out* from the reference half of the data.
Departures: the metrics are FD in a small classifier's feature space (see metrics.py), not FID; at
`quick` the model is tiny and trained for about a minute, so "similar" is judged on that model.
`full` trains Su's recipe on Fashion-MNIST 28×28; the post's 128-px CelebA-HQ run is not
checkable offline (no CelebA-HQ here) and is listed as such.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from kexue.diffusion import claims as rules
from kexue.diffusion.ddpm import GaussianEps, q_sample, sample
from kexue.diffusion.images import save_grid
from kexue.diffusion.metrics import ClassifierConfig, ImageMetrics, load_or_fit_classifier
from kexue.diffusion.schedule import Schedule
from kexue.diffusion.train import DiffusionConfig, load_data, load_run, train
from kexue.result import TopicResult
from kexue.train import read_metrics

TITLE = "生成扩散模型漫谈（一）：DDPM = 拆楼 + 建楼"
DATE = "2022-06-13"
POST = 9119
RELATED = [9152]
IDENTITY_TS = (10, 100, 500, 900)  # t of the variance-reduction check; t ≥ 500 where β̄_t ≈ 1
ROWS = (("ema, σ=β", True, "beta"), ("ema, σ=posterior", True, "posterior"), ("raw, σ=β", False, "beta"))


@dataclass
class DiffusionPreset:
    run: DiffusionConfig = field(default_factory=lambda: DiffusionConfig.preset("quick"))
    n_samples: int = 256        # images per sample draw (FD is biased upward at small n)
    draws: int = 3              # independent sample draws per side (and held-out real draws)
    sample_steps: int = 100     # respaced chain of this many steps (0: the full T-step chain, as the post)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    gaussian_n: int = 4000      # points for the exact-ε Gaussian check
    mc_n: int = 20000           # Monte Carlo draws per t for the variance-reduction identity
    seed: int = 0
    threads: int = 1            # torch CPU threads during the run (0: leave as is); tiny ops on shared
                                # cores run faster on one thread than waiting at a second one's barriers


def preset(name: str) -> DiffusionPreset:
    """quick: CPU, ≤ 2 minutes on 2 cores. standard: CPU, ≤ 10 minutes, a bigger model trained longer.
    full: Su's recipe on Fashion-MNIST, for a GPU. smoke: tests."""
    if name == "quick":
        return DiffusionPreset()
    if name == "standard":
        quick = DiffusionConfig.preset("quick")
        # 2× the width, a third level, 2× the steps; sized from the quick run's cost, not yet timed alone
        run = replace(quick, unet_su=replace(quick.unet_su, embedding_size=32, channels=(1, 2, 2)),
                      train=replace(quick.train, steps=3000, log_every=100, ema=0.995))
        return DiffusionPreset(run=run, n_samples=512, draws=4, mc_n=50000)
    if name == "full":
        run = DiffusionConfig.preset("su", data="fashion-mnist")
        return DiffusionPreset(run=replace(run, sample_every=2000), n_samples=5000, draws=3, sample_steps=0,
                               classifier=ClassifierConfig(steps=3000), gaussian_n=20000, mc_n=200000, threads=0)
    if name == "smoke":
        return DiffusionPreset(run=DiffusionConfig.preset("smoke"), n_samples=16, draws=3, sample_steps=10,
                               classifier=ClassifierConfig(steps=5, width=8, feature_dim=8),
                               gaussian_n=256, mc_n=2000)
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")


def reproduce(preset_name: str, out_dir: Path, cfg: DiffusionPreset | None = None,
              progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _reproduce(preset_name, Path(out_dir), cfg, progress)
    finally:
        torch.set_num_threads(threads)


def _reproduce(preset_name: str, out_dir: Path, cfg: DiffusionPreset, progress: bool) -> TopicResult:
    if cfg.draws < 1:
        raise ValueError(f"DiffusionPreset.draws={cfg.draws}: must be ≥ 1 (≥ 2 for an interval, 3 or more to decide)")
    out_dir.mkdir(parents=True, exist_ok=True)
    claims, metrics = [], {}
    device = "cuda" if torch.cuda.is_available() else "cpu"

    # 1. the schedule's numbers: log ᾱ_T = ½ Σ log(1 − 0.02t/T) < −0.005 (T + 1)
    su = Schedule.preset("su", 1000)
    bar_alpha_T, bound = float(su.bar_alpha[-1]), math.exp(-0.005 * 1001)
    metrics["schedule"] = {"bar_alpha_T": bar_alpha_T, "bound": bound, "e^-5": math.exp(-5),
                           "bar_beta": {t: float(su.bar_beta[t]) for t in (1, 10, 100, 500)}}
    claims.append(rules.schedule(bar_alpha_T, su.T).to_claim(
        "With α_t = √(1 − 0.02t/T), T = 1000, log ᾱ_T < −0.005(T + 1), so ᾱ_T ≈ e^{−5} ≈ 0: x_T is "
        "(almost) pure noise",
        f"ᾱ_T = {bar_alpha_T:.6f} < bound {bound:.6f} (e^-5 = {math.exp(-5):.6f}); ᾱ_T² = {bar_alpha_T**2:.2e}"))

    # 2. variance reduction (9119), and the wrong identity beside it
    #    E‖ε_t − f(x_t)‖² = (β_t/β̄_t)² E‖ε − (β̄_t/β_t) f(ᾱ_t x_0 + β̄_t ε)‖² + d α_t² β̄_{t−1}²/β̄_t²
    ident = {t: variance_identity(su, t, cfg.mc_n, cfg.seed) for t in IDENTITY_TS}
    metrics["variance_identity"] = ident
    shown = "; ".join(f"t={t}: {r['two_noises']:.3f} vs {r['one_noise_plus_constant']:.3f} "
                      f"(Δ {r['diff'][0]:+.4f} ± {r['diff'][1]:.4f})" for t, r in ident.items())
    claims.append(rules.identity({t: r["diff"] for t, r in ident.items()}).to_claim(
        "Merging ε̄_{t−1}, ε_t into one ε leaves the loss unchanged up to the weight (β_t/β̄_t)² and a constant "
        "(the variance-reduction step of 9119)",
        f"Monte Carlo, d = 16, n = {cfg.mc_n} per t, f(z) = tanh(1.5z) + ½tanh(zW): two noises vs one noise "
        f"+ constant, {shown}"))
    shown = "; ".join(f"t={t}: {r['two_noises']:.3f} vs {r['wrong']:.3f}" for t, r in ident.items())
    wrong = rules.identity({t: r["wrong_diff"] for t, r in ident.items()}, name="two-noise − wrong form")
    claims.append(wrong.to_claim(
        "Negative control (not the post's claim): the merged ε put in place of ε_t, without the weight and the "
        "constant, E‖ε_t − f‖² = E‖ε − f‖² — must come out not held",
        f"same draws: {shown}"))

    # 3. exact ε of N(μ, s²): the chain returns mean μ and variance s², for σ = β and σ = posterior
    gauss = gaussian_check(su, cfg.gaussian_n, cfg.seed, device)
    metrics["gaussian"] = gauss
    claims.append(rules.gaussian(gauss).to_claim(
        "The reverse step x_{t−1} = (x_t − β_t ε_θ)/α_t + σ_t z with the exact ε of Gaussian data returns the "
        "data distribution, for σ_t = β_t and for σ_t = β̄_{t−1}β_t/β̄_t",
        "; ".join(f"σ = {k}: mean {r['mean']:.4f} (μ = {r['mu']}), std {r['std']:.4f} (s = {r['s']}), n = {r['n']}"
                  for k, r in gauss.items())))

    # 4-6. train a small su model, sample `draws` sets per row, measure against held-out data
    x, y, name = load_data(cfg.run)
    run_dir = out_dir / "run"
    summary = train(cfg.run, run_dir, progress=progress, data=(x, y, name))
    records = [r for r in read_metrics(run_dir / "metrics.jsonl") if "loss" in r]
    clf, info = load_or_fit_classifier(name, x, y, out_dir / "cache", cfg.classifier)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed))
    x_ref, x_held = x[perm[:len(x) // 2]], x[perm[len(x) // 2:]]
    measure = ImageMetrics(name, x_ref, clf, info["num_classes"])
    fd = measure.fd_key
    n, k = cfg.n_samples, cfg.draws
    if n > len(x_held):
        raise ValueError(f"DiffusionPreset.n_samples={n} exceeds the {len(x_held)} held-out images of {name}; "
                         "lower n_samples")
    held_perms = [torch.randperm(len(x_held), generator=torch.Generator().manual_seed(cfg.seed + 100 + i))
                  for i in range(k)]
    data_draws = [measure(x_held[perm_i[:n]]) for perm_i in held_perms]
    noise = measure(torch.randn((n, *x.shape[1:]), generator=torch.Generator().manual_seed(cfg.seed + 99)).clamp(-1, 1))
    rows: dict[str, list[dict]] = {}
    for label, ema, sigma in ROWS:
        model, schedule, _ = load_run(run_dir, ema=ema, device=device)
        gen = torch.Generator(device).manual_seed(cfg.seed + 1)  # the same x_T and z for every row
        xs = sample(model, schedule, (k * n, *x.shape[1:]), sigma, cfg.sample_steps or None,
                    generator=gen, progress=progress).clamp(-1, 1).cpu()
        rows[label] = [measure(xs[i * n:(i + 1) * n]) for i in range(k)]
        if label == "ema, σ=β":
            save_grid(xs[:64], out_dir / "samples.png", nrow=8)
    save_grid(x[:64], out_dir / "data.png", nrow=8)
    per = {label: [r[fd] for r in draws] for label, draws in rows.items()}
    fd_data, fd_noise = [r[fd] for r in data_draws], noise[fd]
    metrics.update(train={"steps": summary["steps"], "seconds": summary["seconds"],
                          "first_loss": records[0]["loss"], "final_loss": summary["final_loss"],
                          "curve": [(r["step"], r["loss"]) for r in records]},
                   classifier={k_: info[k_] for k_ in ("name", "accuracy", "num_classes")}, samples=rows,
                   chain_steps=cfg.sample_steps or schedule.T, n_samples=n, draws=k,
                   data_vs_data=data_draws, noise=noise)
    b, p, r = (rows[label] for label, _, _ in ROWS)
    mean = lambda rs, key: float(np.mean([x_[key] for x_ in rs]))  # noqa: E731
    precision = [x_["precision"] for x_ in b]
    claims.append(rules.samples_look_like_data(records[0]["loss"], summary["final_loss"], precision,
                                               per["ema, σ=β"], fd_noise).to_claim(
        "A DDPM trained with the summed squared error is a plain, stable regression and samples look like "
        "the data (Su's U-Net, Su's schedule)",
        f"{name}, {summary['steps']} steps: loss {records[0]['loss']:.1f} → {summary['final_loss']:.1f}; "
        f"{fd} {mean(b, fd):.1f}, precision {mean(b, 'precision'):.2f}, recall {mean(b, 'recall'):.2f} "
        f"({k} draws of {n}); held-out real images: {fd} {np.mean(fd_data):.1f}, precision "
        f"{mean(data_draws, 'precision'):.2f}; noise images: {fd} {fd_noise:.1f}; classifier accuracy "
        f"{info['accuracy']:.3f}", figure="samples.png",
        evidence={"FD samples": per["ema, σ=β"], "FD held-out data": fd_data, "precision": precision}))
    claims.append(rules.similar(per["ema, σ=β"], per["ema, σ=posterior"], fd_data, fd_noise).to_claim(
        "σ_t = β_t and σ_t = β̄_{t−1}β_t/β̄_t (optimal for N(0, I) and for one data point) perform "
        "similarly (9152)",
        f"{fd}: σ=β {mean(b, fd):.1f} vs posterior {mean(p, fd):.1f} (held-out data {np.mean(fd_data):.1f}); "
        f"precision {mean(b, 'precision'):.2f} vs {mean(p, 'precision'):.2f}; recall {mean(b, 'recall'):.2f} vs "
        f"{mean(p, 'recall'):.2f}; {k} draws of {n}, same x_T and z, {cfg.sample_steps or schedule.T}-step chain",
        figure="samples.png",
        evidence={"σ=β": per["ema, σ=β"], "σ=posterior": per["ema, σ=posterior"], "held-out data": fd_data}))
    claims.append(rules.at_least_as_good(per["ema, σ=β"], per["raw, σ=β"], fd_data, fd_noise).to_claim(
        "Sampling with the EMA weights (Su's recipe keeps an EMA) is at least as good as with the raw weights",
        f"{fd}: EMA {mean(b, fd):.1f} vs raw {mean(r, fd):.1f} (held-out data {np.mean(fd_data):.1f}); precision "
        f"{mean(b, 'precision'):.2f} vs {mean(r, 'precision'):.2f}; recall {mean(b, 'recall'):.2f} vs "
        f"{mean(r, 'recall'):.2f} (EMA decay {cfg.run.train.ema}, bias-corrected)",
        evidence={"EMA": per["ema, σ=β"], "raw": per["raw, σ=β"], "held-out data": fd_data}))
    claims.append(rules.not_checkable_celeba().to_claim(
        "Su's 128×128 CelebA-HQ model gives sharp faces after days on one RTX 3090 (9152)",
        "not run: CelebA-HQ is not available offline and the run takes days; the recipe is the `su` preset "
        "of `kexue diffusion train --preset su --data DIR --size 128`"))
    return TopicResult(topic="diffusion", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                       metrics=metrics, figures=["samples.png", "data.png"], related_posts=RELATED)


def variance_identity(s: Schedule, t: int, n: int, seed: int, d: int = 16) -> dict:
    """Both sides of 9119's identity at t, from one set of draws, and the wrong identity.

    x_t = ᾱ_t x_0 + α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t, and ε = (α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t)/β̄_t is the merged
    N(0, I) noise of the *same* x_t (x_t = ᾱ_t x_0 + β̄_t ε): the two sides are estimated on common draws,
    and "diff" is the mean and standard error of their per-draw difference (0 in expectation).
    """
    g = torch.Generator().manual_seed(seed * 1000 + t)
    x0 = torch.randn(n, d, generator=g, dtype=torch.float64) * 0.5 + 0.3
    w = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)

    def f(z: torch.Tensor) -> torch.Tensor:
        # a fixed map of x_t that correlates with the noise (so the wrong identity differs from the right one)
        return torch.tanh(1.5 * z) + 0.5 * torch.tanh(z @ w)

    alpha, beta = float(s.alpha[t]), float(s.beta[t])
    bar_beta, bar_beta_prev = float(s.bar_beta[t]), float(s.bar_beta[t - 1])
    e_prev = torch.randn(n, d, generator=g, dtype=torch.float64)
    e_t = torch.randn(n, d, generator=g, dtype=torch.float64)
    # ε = (α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t) / β̄_t
    eps = (alpha * bar_beta_prev * e_prev + beta * e_t) / bar_beta
    # x_t = ᾱ_t x_0 + β̄_t ε  (= ᾱ_t x_0 + α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t)
    x_t = q_sample(x0, t, eps, s)
    fx = f(x_t)
    two = (e_t - fx).pow(2).sum(1)
    # (β_t/β̄_t)² ‖ε − (β̄_t/β_t) f‖² + d α_t² β̄_{t−1}²/β̄_t²
    one = (beta / bar_beta) ** 2 * (eps - bar_beta / beta * fx).pow(2).sum(1) \
        + d * alpha**2 * bar_beta_prev**2 / bar_beta**2
    wrong = (eps - fx).pow(2).sum(1)

    def mean_se(v: torch.Tensor) -> tuple[float, float]:
        return float(v.mean()), float(v.std() / math.sqrt(len(v)))

    return {"two_noises": float(two.mean()), "one_noise_plus_constant": float(one.mean()), "wrong": float(wrong.mean()),
            "diff": mean_se(two - one), "wrong_diff": mean_se(two - wrong), "n": n}


def gaussian_check(s: Schedule, n: int, seed: int, device: str,
                   sigmas: tuple[str | float, ...] = ("beta", "posterior")) -> dict[str, dict]:
    """Run the full chain with the exact ε of N(0.5, 0.3²) (1-d, float64) for each σ; mean and std."""
    mu, std = 0.5, 0.3
    out = {}
    for sigma in sigmas:
        gen = torch.Generator(device).manual_seed(seed)
        x = sample(GaussianEps(mu, std, s), s, (n, 1), sigma, generator=gen, device=device, dtype=torch.float64)
        out[str(sigma)] = {"mu": mu, "s": std, "mean": float(x.mean()), "std": float(x.std()), "n": n}
    return out
