"""The measurements behind post 9687's page: the loops each group of claims reads, and the statistics
read off them.

kexue.fm/archives/9687. Every loop runs `run.run` into `<out>/<name>` (its curves.png is drawn by the page,
`run.draw_curves`, after the topic's numbers are saved); the Gaussian
and mixture loops (and the ESS map) are independent and run side by side (`page_loops`, kexue.parallel),
the diffusion loop after them, its rows side by side. The rules in `claims.py` decide, the page modules
(`page_gaussian`, `page_generative`) word the claims.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from kexue.mad.gaussian import GaussianConfig
from kexue.mad.loops import LoopConfig, LoopResult
from kexue.mad.presets import MADPreset
from kexue.mad.run import RunSettings, run
from kexue.parallel import map_runs

NEVER = 10**9  # a checkpoint or W2 period longer than any run


def gauss_settings(loop: str, lams, generations: int, seeds: int, d: int, n_ini: int, n_r: int, n_s: int,
                   w2_every: int = NEVER) -> RunSettings:
    return RunSettings("gaussian", LoopConfig(loop=loop, lams=tuple(lams), generations=generations, seeds=seeds,
                                              n_ini=n_ini, n_r=n_r, n_s=n_s),
                       GaussianConfig(d=d, w2_every=w2_every), checkpoint_every=NEVER)


def loop_settings(cfg: MADPreset) -> dict[str, RunSettings]:
    """Every Gaussian and mixture loop of the page by its folder, the longest (the mixture) first:
    exact_<loop>: the three loops at λ ∈ {1, 0.8}, d = exact_d, n_ini = n_r = n_s = exact_n (no W2: moments
    only); collapse: the fully synthetic loop at λ = 1 in small d, long and with many loops (the a.s.
    collapse); the paper's scale, d = 100: fully synthetic and augment (n_real + n_s), the fresh loop from
    both n_ini (fresh_ini<n>), and the fresh loop with its real points only (context); gmm: the 25-mode
    mixture refitted by EM, fully synthetic, λ ∈ {1, 0.8}."""
    n, (cd, cn, cG, cS) = cfg.exact_n, cfg.collapse
    G, S, d, n0, w = cfg.generations, cfg.seeds, cfg.d, cfg.n_real, cfg.w2_every
    n_r, n_s = cfg.fresh
    gmm = RunSettings("gmm", LoopConfig(loop="synthetic", lams=(1.0, 0.8), generations=cfg.gmm_generations,
                                        seeds=cfg.gmm_seeds, n_ini=cfg.gmm_n, n_r=cfg.gmm_n, n_s=cfg.gmm_n),
                      gmm=cfg.gmm, checkpoint_every=NEVER)
    return {"gmm": gmm,
            **{f"exact_{loop}": gauss_settings(loop, (1.0, 0.8), cfg.exact_generations, cfg.exact_seeds, cfg.exact_d,
                                               n, n, n) for loop in ("synthetic", "augment", "fresh")},
            "collapse": gauss_settings("synthetic", (1.0,), cG, cS, cd, cn, cn, cn),
            **{name: gauss_settings(name, (1.0, 0.8), G, S, d, n0, n0, cfg.n_s, w) for name in ("synthetic", "augment")},
            **{f"fresh_ini{n_ini}": gauss_settings("fresh", (1.0, 0.8), G, S, d, n_ini, n_r, n_s, w)
               for n_ini in cfg.fresh_n_ini},
            "fresh_real_only": gauss_settings("fresh", (1.0,), G, S, d, n_r, n_r, 0, w)}


def page_loops(cfg: MADPreset, out: Path) -> dict[str, tuple[LoopResult, dict]]:
    """{folder: (result, info)} of every loop of `loop_settings`, and "ess": (the ESS map's table, {}) when
    the preset asks for it; independent runs, side by side on the cores the topic has (kexue.parallel)."""
    loops = list(loop_settings(cfg))
    names = loops[:1] + (["ess"] if cfg.ess else []) + loops[1:]  # the two longest first
    return dict(zip(names, map_runs(page_run, [(name, cfg, out) for name in names])))


def page_run(name: str, cfg: MADPreset, out: Path) -> tuple[LoopResult | dict, dict]:
    """One of `page_loops`' runs: the loop `name` of `loop_settings` into out/name, or the ESS map."""
    if name == "ess":
        from kexue.mad.ess import ESSConfig, ess_map

        return ess_map(ESSConfig(n_s=(0, 100, 900, 2700), n_r=(100, 250), seeds=cfg.ess_seeds,
                                 generations=cfg.generations)), {}
    return run(loop_settings(cfg)[name], out / name, plot=False)


def diffusion_settings(cfg: MADPreset, out: Path) -> RunSettings:
    """The class-conditional DDPM loop's settings, its classifier cached in out/diffusion-cache."""
    fam = replace(cfg.diffusion_family, cache_dir=str(out / "diffusion-cache"))
    return RunSettings("diffusion", cfg.diffusion_loop, diffusion=fam, checkpoint_every=1)


def diffusion_loop(cfg: MADPreset, out: Path) -> tuple[LoopResult, dict]:
    """The class-conditional DDPM loop (each generation trains one model per λ and seed); (result, floor)."""
    res, info = run(diffusion_settings(cfg, out), out / "diffusion", plot=False)
    return res, info["floor"]


def shrink_sums(tr: np.ndarray, generations: int) -> tuple[np.ndarray, np.ndarray]:
    """Per loop Σ_{t=1}^{T−1} tr Σ_{t+1} and Σ_{t=1}^{T−1} tr Σ_t over the first `generations` (tr: [G, loops]);
    their ratio of means estimates E tr Σ_{t+1} / E tr Σ_t (= λ in the fully synthetic loop)."""
    tr = tr[:generations]
    return tr[1:].sum(0), tr[:-1].sum(0)


def spread_ratio(sq_err: np.ndarray, b: float, d: int) -> float:
    """Var ‖μ_t − μ_0‖² over loops divided by what μ_t ~ N(μ_0, b I_d) gives, 2 d b²: 1 for a normal
    marginal, above 1 for the scale mixture the loop makes (Σ_{t−1} is itself random)."""
    return float(np.var(sq_err, ddof=1) / (2 * d * b**2))


def last_measured(h: np.ndarray) -> int:
    """The index of the last generation at which a metric was measured (h: [generations, loops])."""
    ok = np.where(~np.isnan(h).all(1))[0]
    return int(ok[-1])


def seeds_to_decide(first, last, bound: float) -> int:
    """About how many seeds would put the 95 % interval of the per-seed change first − last on one side of
    `bound`, at the spread seen: m ≈ (2 s_δ / |δ̄ − bound|)² (at least the seeds run, plus one)."""
    delta = np.asarray(first, dtype=float) - np.asarray(last, dtype=float)
    gap = abs(float(delta.mean()) - bound)
    s = float(delta.std(ddof=1)) if delta.size > 1 else float("inf")
    if gap == 0 or not np.isfinite(s):
        return 10 * max(delta.size, 1)
    return max(int(np.ceil((2 * s / gap) ** 2)), delta.size + 1)
