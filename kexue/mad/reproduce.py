"""`reproduce(preset, out_dir)` for post 9687: self-consuming loops on Gaussians, a 25-mode mixture and a
diffusion model.

kexue.fm/archives/9687 and Alemohammad et al. 2023. The claims, each quoting the post:
1. Eq. 2 at λ = 1: the mean random-walks, E‖μ_t − μ_0‖² = (t/n) tr Σ_0 (its second moment is tested);
2. with bias λ < 1 the variance shrinks by λ a generation, E tr Σ_{t+1} / E tr Σ_t = λ (an interval);
3. λ = 1 is not safe: E tr Σ_t stays, yet the typical loop's Σ_t → 0 (the paper's Proposition);
4. fully synthetic, λ = 1: the distance to P_r grows (d = 100);
5. a fixed real set only slows the decay; 6. fresh data stop it (a limit whatever G_1 was);
7–9. the mixture: quality or diversity worsens at λ = 1, recall collapses while precision holds at λ < 1,
   and the modal variance shows the loss that the total variance hides;
10. the diffusion loop under guidance: recall falls while precision holds, read per seed.
The identities (checks, with their negative controls): E tr Σ_t = λ^{t−1} tr Σ_0 (control: λ^t), the
augment and fresh moment maps (control: no between-means term), E log det Σ_t (control: n degrees of
freedom instead of n − 1). Sizes are in `presets.py`; measurements in `measure.py`; rules in `claims.py`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from kexue.mad import measure
from kexue.mad import page_gaussian as gauss
from kexue.mad import page_generative as gen
from kexue.mad.presets import MADPreset, preset
from kexue.mad.loops import LoopResult
from kexue.mad.run import RunSettings, draw_curves
from kexue.result import Check, Claim, Draw, TopicResult, save_then_draw
from kexue.verdicts import not_checkable

__all__ = ["MADPreset", "preset", "reproduce"]

TITLE = "当生成模型肆虐：互联网将有“疯牛病”之忧？"
DATE = "2023-07-14"
POST = 9687


@dataclass
class Page:
    """What the sections add up: claims, checks, metrics and figures (relative to the output folder), and
    each figure's drawing, done after result.json is written (kexue.result.save_then_draw)."""

    claims: list[Claim] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    draws: dict[str, Draw] = field(default_factory=dict)

    def curves(self, name: str, settings: RunSettings, run: tuple[LoopResult, dict]) -> None:
        """The loop `name`'s curves.png (the loop ran into out/name) on the page, drawn after the numbers."""
        self.figures.append(f"{name}/curves.png")
        self.draws[f"{name}/curves.png"] = partial(draw_curves, settings, run[0], run[1]["floor"])


def reproduce(preset_name: str, out_dir: Path, cfg: MADPreset | None = None) -> TopicResult:
    cfg = cfg or preset(preset_name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    page = Page()
    runs = measure.page_loops(cfg, out_dir)  # the Gaussian and mixture loops and the ESS map, side by side
    _exact_section(cfg, runs, page)
    _paper_scale_section(cfg, runs, page)
    _gmm_section(cfg, runs, page)
    _diffusion_section(cfg, out_dir, page)
    if cfg.ess:
        page.metrics["ess"] = _ess(runs["ess"][0], page)
    page.metrics["seconds"] = round(time.perf_counter() - t0, 1)
    result = TopicResult(topic="mad", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=page.claims,
                         checks=page.checks, metrics=page.metrics, figures=page.figures, related_posts=[9119, 9257])
    return save_then_draw(result, out_dir, page.draws)


def _exact_section(cfg: MADPreset, runs: dict, page: Page) -> None:
    """Small d, many loops: Eq. 2, the shrink rate, the a.s. collapse, and the exact moments as checks."""
    res = {loop: runs[f"exact_{loop}"][0] for loop in ("synthetic", "augment", "fresh")}
    col = runs["collapse"][0]
    settings = measure.loop_settings(cfg)
    for name in [f"exact_{loop}" for loop in res] + ["collapse"]:
        page.curves(name, settings[name], runs[name])
    syn = res["synthetic"]
    page.claims += [gauss.mean_walk_claim(syn, cfg), gauss.shrink_claim(syn, cfg), gauss.collapse_claim(col, cfg)]
    page.checks += [gauss.level_check(syn, cfg), gauss.maps_check(res, cfg), gauss.log_det_check(col, cfg)]
    d = cfg.exact_d
    page.metrics["exact"] = {"d": d, "n": cfg.exact_n, "generations": cfg.exact_generations, "loops": cfg.exact_seeds,
                             **{f"{loop}_lam{lam:g}": {"tr_last": float(r.per_lam("tr_sigma", lam)[-1].mean() / d),
                                                      "err_last": float(r.per_lam("mean_sq_err", lam)[-1].mean() / d)}
                                for loop, r in res.items() for lam in (1.0, 0.8)}}
    tr = col.per_lam("tr_sigma", 1.0)
    page.metrics["collapse"] = {"median_tr_first": float(np.median(tr[0])), "median_tr_last": float(np.median(tr[-1])),
                                "mean_tr_last": float(tr[-1].mean())}


def _paper_scale_section(cfg: MADPreset, runs: dict, page: Page) -> None:
    """d = 100: the distance to P_r of the fully synthetic, augment and fresh loops."""
    paper = ("synthetic", "augment", *(f"fresh_ini{n}" for n in cfg.fresh_n_ini), "fresh_real_only")
    res = {name: runs[name][0] for name in paper}
    settings = measure.loop_settings(cfg)
    for name in res:
        page.curves(name, settings[name], runs[name])
    page.claims += [gauss.w2_grows_claim(res["synthetic"], cfg),
                    gauss.augment_claim(res["synthetic"], res["augment"], cfg), gauss.fresh_claim(res, cfg)]
    page.metrics["gaussian_d100"] = {
        f"{name}_lam{lam:g}_w2_{which}": float(r.per_lam("w2", lam)[i].mean())
        for name, r in res.items() for lam in r.cfg.lams
        for i, which in ((0, "first"), (measure.last_measured(r.history["w2"]), "last"))}


def _gmm_section(cfg: MADPreset, runs: dict, page: Page) -> None:
    res, floor = runs["gmm"][0], runs["gmm"][1]["floor"]
    page.curves("gmm", measure.loop_settings(cfg)["gmm"], runs["gmm"])
    page.claims += [gen.gmm_unbiased_claim(res, floor, cfg), gen.gmm_biased_claim(res, floor, cfg),
                    gen.modal_total_claim(res, floor, cfg)]
    T = measure.last_measured(res.history["recall"])
    page.metrics["gmm"] = {"floor": floor, **{f"lam{lam:g}_{k}_last": float(res.per_lam(k, lam)[T].mean())
                                              for lam in (1.0, 0.8)
                                              for k in ("precision", "recall", "modes_kept", "modal_var", "total_var")}}


def _diffusion_section(cfg: MADPreset, out: Path, page: Page) -> None:
    if not cfg.diffusion:
        page.claims.append(not_checkable(
            "each generation trains one DDPM per λ and seed; this preset leaves the diffusion loop out (run "
            "`kexue mad run --family diffusion`)").to_claim(gen.DIFFUSION_CLAIM, "not run at this preset",
                                                            quote=gen.rules.QUOTES["diffusion"],
                                                            needs="a preset that runs the diffusion loop"))
        return
    from kexue.mad.diffusion_family import grid_name

    t0 = time.perf_counter()
    res, floor = measure.diffusion_loop(cfg, out)
    loop, fam = cfg.diffusion_loop, cfg.diffusion_family
    page.curves("diffusion", measure.diffusion_settings(cfg, out), (res, {"floor": floor}))
    page.figures += [f"diffusion/{grid_name(t, la)}" for la in loop.lams for t in (1, loop.generations)]
    page.claims.append(gen.diffusion_claim(res, floor, cfg))
    page.metrics["diffusion"] = {
        "floor": floor, "seconds": round(time.perf_counter() - t0, 1),
        "sizes": {"data": fam.data, "unet": fam.preset, "train_steps": fam.steps, "sample_steps": fam.sample_steps,
                  "n_eval": fam.n_eval, "n": loop.n_s, "generations": loop.generations, "seeds": loop.seeds},
        **{f"lam{la:g}_{k}_{w}": float(res.per_lam(k, la)[i].mean())
           for la in loop.lams for k in ("fd", "precision", "recall", "cond_accuracy")
           for i, w in ((0, "first"), (-1, "last"))}}


def _ess(table: dict, page: Page) -> dict:
    from kexue.mad.ess import plot_ess

    page.figures.append("ess.png")
    page.draws["ess.png"] = partial(plot_ess, table)
    return {f"n_r={c['n_r']},n_s={c['n_s']},lam={c['lam']:g}": round(c["ratio"], 3) for c in table["cells"]}

