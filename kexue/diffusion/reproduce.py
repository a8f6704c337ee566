"""`reproduce(preset, out_dir)` for posts 9119 and 9152: Su's DDPM, its schedule, σ choices and EMA.

kexue.fm/archives/9119 (拆楼 + 建楼) and kexue.fm/archives/9152 (自回归式VAE). Claims checked:
1. ᾱ_T for α_t = √(1 − 0.02 t/T), T = 1000, is ≈ e^{−5}, under the bound e^{−0.005(T+1)};
2. the variance-reduction identity of 9119 (merging ε̄_{t−1}, ε_t into one ε), by Monte Carlo;
3. with the exact ε of Gaussian data the sampler returns the data's mean and variance, σ = β or posterior;
4. a small `su` U-Net trained on 8×8 digits gives digits (grid, FD/P/R against the data);
5. σ_t = β_t and σ_t = β̄_{t−1}β_t/β̄_t give similar samples (9152: "两个选择的表现是相似的");
6. EMA weights (Su samples with them) are at least as good as the raw weights.
Departures: the metrics are FD in a small classifier's feature space (see metrics.py), not FID; at
`quick` the model is tiny and trained for about a minute, so "similar" is judged on that model.
`full` trains Su's recipe on Fashion-MNIST 28×28; the post's 128-px CelebA-HQ run is not
checkable offline (no CelebA-HQ here) and is listed as such.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from kexue.diffusion.ddpm import GaussianEps, q_sample, sample
from kexue.diffusion.images import save_grid
from kexue.diffusion.metrics import ClassifierConfig, ImageMetrics, load_or_fit_classifier
from kexue.diffusion.schedule import Schedule
from kexue.diffusion.train import DiffusionConfig, load_data, load_run, train
from kexue.result import Claim, TopicResult
from kexue.train import read_metrics

TITLE = "生成扩散模型漫谈（一）：DDPM = 拆楼 + 建楼"
DATE = "2022-06-13"
POST = 9119
RELATED = [9152]
SIMILAR = 0.25  # σ choices are "similar" when their FDs differ by at most 25 % of their mean


@dataclass
class DiffusionPreset:
    run: DiffusionConfig = field(default_factory=lambda: DiffusionConfig.preset("quick"))
    n_samples: int = 256        # samples per metric row (FD is biased upward at small n)
    sample_steps: int = 0       # 0: the full T-step chain, as the post samples
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    gaussian_n: int = 4000      # points for the exact-ε Gaussian check
    mc_n: int = 20000           # Monte Carlo draws for the variance-reduction identity
    seed: int = 0
    threads: int = 1            # torch CPU threads during the run (0: leave as is); tiny ops on shared
                                # cores run faster on one thread than waiting at a second one's barriers


def preset(name: str) -> DiffusionPreset:
    """quick: CPU, ≤ 3 minutes on 2 cores. full: Su's recipe on Fashion-MNIST, for a GPU. smoke: tests."""
    if name == "quick":
        return DiffusionPreset()
    if name == "full":
        run = DiffusionConfig.preset("su", data="fashion-mnist")
        return DiffusionPreset(run=replace(run, sample_every=2000), n_samples=5000,
                               classifier=ClassifierConfig(steps=3000), gaussian_n=20000, mc_n=200000, threads=0)
    if name == "smoke":
        return DiffusionPreset(run=DiffusionConfig.preset("smoke"), n_samples=16, sample_steps=10,
                               classifier=ClassifierConfig(steps=5, width=8, feature_dim=8),
                               gaussian_n=256, mc_n=2000)
    raise ValueError(f"unknown preset {name!r}; choose quick, full or smoke")


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
    out_dir.mkdir(parents=True, exist_ok=True)
    claims, metrics = [], {}
    device = "cuda" if torch.cuda.is_available() else "cpu"

    # 1. the schedule's numbers: log ᾱ_T = ½ Σ log(1 − 0.02t/T) < −0.005 (T + 1)
    su = Schedule.preset("su", 1000)
    bar_alpha_T, bound = float(su.bar_alpha[-1]), math.exp(-0.005 * 1001)
    metrics["schedule"] = {"bar_alpha_T": bar_alpha_T, "bound": bound, "e^-5": math.exp(-5),
                           "bar_beta": {t: float(su.bar_beta[t]) for t in (1, 10, 100, 500)}}
    claims.append(Claim(
        claim="With α_t = √(1 − 0.02t/T), T = 1000, log ᾱ_T < −0.005(T + 1), so ᾱ_T ≈ e^{−5} ≈ 0: x_T is "
              "(almost) pure noise",
        measured=f"ᾱ_T = {bar_alpha_T:.6f} < bound {bound:.6f} (e^-5 = {math.exp(-5):.6f}); "
                 f"ᾱ_T² = {bar_alpha_T**2:.2e}",
        verdict="held" if bar_alpha_T < bound and abs(bar_alpha_T - 0.006482) < 5e-6 else "not held"))

    # 2. variance reduction (9119):
    #    E‖ε_t − f(x_t)‖² = (β_t/β̄_t)² E‖ε − (β̄_t/β_t) f(ᾱ_t x_0 + β̄_t ε)‖² + d α_t² β̄_{t−1}²/β̄_t²
    lhs, rhs = _variance_identity(su, t=10, n=cfg.mc_n, seed=cfg.seed)
    metrics["variance_identity"] = {"t": 10, "two_noises": lhs, "one_noise_plus_constant": rhs}
    claims.append(Claim(
        claim="Merging ε̄_{t−1}, ε_t into one ε leaves the loss unchanged up to a weight and a constant "
              "(the variance-reduction step of 9119)",
        measured=f"Monte Carlo at t = 10, d = 16, n = {cfg.mc_n}: two noises {lhs:.4f}, one noise + constant {rhs:.4f}",
        verdict="held" if abs(lhs - rhs) <= 0.02 * abs(rhs) + 3 * 16 / math.sqrt(cfg.mc_n) else "not held"))

    # 3. exact ε of N(μ, s²): the chain returns mean μ and variance s², for σ = β and σ = posterior
    gauss = _gaussian_check(su, cfg.gaussian_n, cfg.seed, device)
    metrics["gaussian"] = gauss
    ok = all(abs(r["mean"] - r["mu"]) < 0.05 and abs(r["std"] / r["s"] - 1) < 0.05 for r in gauss.values())
    claims.append(Claim(
        claim="The reverse step x_{t−1} = (x_t − β_t ε_θ)/α_t + σ_t z with the exact ε of Gaussian data "
              "returns the data distribution, for σ_t = β_t and for σ_t = β̄_{t−1}β_t/β̄_t",
        measured="; ".join(f"σ = {k}: mean {r['mean']:.3f} (μ = {r['mu']}), std {r['std']:.3f} (s = {r['s']})"
                           for k, r in gauss.items()),
        verdict="held" if ok else "not held"))

    # 4-6. train a small su model, sample, measure
    x, y, name = load_data(cfg.run)
    run_dir = out_dir / "run"
    summary = train(cfg.run, run_dir, progress=progress, data=(x, y, name))
    records = [r for r in read_metrics(run_dir / "metrics.jsonl") if "loss" in r]
    clf, info = load_or_fit_classifier(name, x, y, out_dir / "cache", cfg.classifier)
    measure = ImageMetrics(name, x, clf, info["num_classes"])
    rows = {}
    for label, ema, sigma in (("ema, σ=β", True, "beta"), ("ema, σ=posterior", True, "posterior"),
                              ("raw, σ=β", False, "beta")):
        model, schedule, run = load_run(run_dir, ema=ema, device=device)
        gen = torch.Generator(device).manual_seed(cfg.seed + 1)  # the same x_T and z for every row
        xs = sample(model, schedule, (cfg.n_samples, *x.shape[1:]), sigma, cfg.sample_steps or None,
                    generator=gen, progress=progress).clamp(-1, 1).cpu()
        rows[label] = measure(xs)
        if label == "ema, σ=β":
            save_grid(xs[:64], out_dir / "samples.png", nrow=8)
    save_grid(x[:64], out_dir / "data.png", nrow=8)
    fd = measure.fd_key
    metrics.update(train={"steps": summary["steps"], "seconds": summary["seconds"],
                          "first_loss": records[0]["loss"], "final_loss": summary["final_loss"]},
                   classifier={k: info[k] for k in ("name", "accuracy", "num_classes")}, samples=rows,
                   chain_steps=cfg.sample_steps or schedule.T, n_samples=cfg.n_samples)
    b, p, r = rows["ema, σ=β"], rows["ema, σ=posterior"], rows["raw, σ=β"]
    data_ref = measure(x[torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.n_samples]])
    metrics["data_vs_data"] = data_ref
    claims.append(Claim(
        claim="A DDPM trained with the summed squared error is a plain, stable regression and samples look like "
              "the data (Su's U-Net, Su's schedule)",
        measured=f"{name}, {summary['steps']} steps: loss {records[0]['loss']:.1f} → {summary['final_loss']:.1f}; "
                 f"{fd} {b[fd]:.1f}, precision {b['precision']:.2f}, recall {b['recall']:.2f}, label entropy "
                 f"{b.get('label_entropy', float('nan')):.2f} (a {cfg.n_samples}-image subset of the data: "
                 f"{fd} {data_ref[fd]:.1f}, precision "
                 f"{data_ref['precision']:.2f}); classifier accuracy {info['accuracy']:.3f}",
        verdict="held" if summary["final_loss"] < records[0]["loss"] and b["precision"] > 0.5 else "not held",
        figure="samples.png"))
    gap = abs(b[fd] - p[fd]) / max((b[fd] + p[fd]) / 2, 1e-9)
    claims.append(Claim(
        claim="σ_t = β_t and σ_t = β̄_{t−1}β_t/β̄_t (optimal for N(0, I) and for one data point) perform "
              "similarly (9152)",
        measured=f"{fd}: σ=β {b[fd]:.1f} vs posterior {p[fd]:.1f} (gap {100 * gap:.0f} %); precision "
                 f"{b['precision']:.2f} vs {p['precision']:.2f}; recall {b['recall']:.2f} vs {p['recall']:.2f}; "
                 f"{cfg.n_samples} samples, same x_T and z, {cfg.sample_steps or schedule.T}-step chain",
        verdict="held" if gap <= SIMILAR else "not held", figure="samples.png"))
    claims.append(Claim(
        claim="Sampling with the EMA weights (Su's recipe keeps an EMA) is at least as good as with the raw weights",
        measured=f"{fd}: EMA {b[fd]:.1f} vs raw {r[fd]:.1f}; precision {b['precision']:.2f} vs {r['precision']:.2f}; "
                 f"recall {b['recall']:.2f} vs {r['recall']:.2f} (EMA decay {cfg.run.train.ema})",
        verdict="held" if b[fd] <= 1.05 * r[fd] else "not held"))
    claims.append(Claim(
        claim="Su's 128×128 CelebA-HQ model gives sharp faces after days on one RTX 3090 (9152)",
        measured="not run: CelebA-HQ is not available offline and the run takes days; the recipe is the `su` preset "
                 "of `kexue diffusion train --preset su --data DIR --size 128`",
        verdict="not checkable"))
    return TopicResult(topic="diffusion", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                       metrics=metrics, figures=["samples.png", "data.png"], related_posts=RELATED)


def _variance_identity(s: Schedule, t: int, n: int, seed: int, d: int = 16) -> tuple[float, float]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, d, generator=g, dtype=torch.float64) * 0.5 + 0.3
    w = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    f = lambda z: torch.tanh(z @ w)  # noqa: E731  (any fixed function of x_t)
    alpha, beta, bar_alpha = float(s.alpha[t]), float(s.beta[t]), float(s.bar_alpha[t])
    bar_beta, bar_beta_prev = float(s.bar_beta[t]), float(s.bar_beta[t - 1])
    e_prev = torch.randn(n, d, generator=g, dtype=torch.float64)
    e_t = torch.randn(n, d, generator=g, dtype=torch.float64)
    # x_t = ᾱ_t x_0 + α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t
    x_t = bar_alpha * x0 + alpha * bar_beta_prev * e_prev + beta * e_t
    lhs = float((e_t - f(x_t)).pow(2).sum(1).mean())
    eps = torch.randn(n, d, generator=g, dtype=torch.float64)
    x_t1 = q_sample(x0, t, eps, s)
    # (β_t/β̄_t)² E‖ε − (β̄_t/β_t) f‖² + d α_t² β̄_{t−1}²/β̄_t²
    rhs = (beta / bar_beta) ** 2 * float((eps - bar_beta / beta * f(x_t1)).pow(2).sum(1).mean()) \
        + d * alpha**2 * bar_beta_prev**2 / bar_beta**2
    return lhs, rhs


def _gaussian_check(s: Schedule, n: int, seed: int, device: str) -> dict[str, dict]:
    mu, std = 0.5, 0.3
    out = {}
    for sigma in ("beta", "posterior"):
        gen = torch.Generator(device).manual_seed(seed)
        x = sample(GaussianEps(mu, std, s), s, (n, 1), sigma, generator=gen, device=device, dtype=torch.float64)
        out[sigma] = {"mu": mu, "s": std, "mean": float(x.mean()), "std": float(x.std())}
    return out

