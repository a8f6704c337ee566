"""One self-consuming run from settings: pick the family, run the loop, write metrics and figures.

kexue.fm/archives/9687. `run(settings, out)` is what `kexue mad run` and `reproduce` call: it builds the
family named by `settings.family` with its own settings, runs `loops.run_loop`, and draws each metric
against the generation (`curves.png`, with the exact predictions for Gaussians and the data-vs-data
value as the floor).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kexue.config import to_dict
from kexue.mad import exact
from kexue.mad.diffusion_family import DiffusionFamilyConfig
from kexue.mad.gaussian import GaussianConfig, GaussianFamily
from kexue.mad.gmm import GMMConfig, GMMFamily
from kexue.mad.loops import LoopConfig, LoopResult, run_loop
from kexue.mad.plots import plot_history

FAMILIES = ("gaussian", "gmm", "diffusion")
METRICS = {"gaussian": ["w2", "tr_sigma", "mean_sq_err"],
           "gmm": ["modes_kept", "precision", "recall", "total_var", "modal_var"],
           "diffusion": ["fd", "precision", "recall", "class_entropy"]}


@dataclass
class RunSettings:
    family: str = "gaussian"  # gaussian | gmm | diffusion
    loop: LoopConfig = field(default_factory=LoopConfig)
    gaussian: GaussianConfig = field(default_factory=GaussianConfig)
    gmm: GMMConfig = field(default_factory=GMMConfig)
    diffusion: DiffusionFamilyConfig = field(default_factory=DiffusionFamilyConfig)
    checkpoint_every: int = 1  # write state.safetensors every this many generations


def default_settings(family: str) -> RunSettings:
    """The loop sizes each family starts from: the paper's Gaussian fresh loop (d = 100, n_r = 100,
    n_s = 900, about 50 generations), a 1000-point mixture loop, a small digits loop."""
    if family == "gaussian":
        return RunSettings(family, LoopConfig())
    if family == "gmm":
        return RunSettings(family, LoopConfig(loop="synthetic", generations=100, seeds=3, n_ini=1000, n_r=500, n_s=500))
    if family == "diffusion":
        return RunSettings(family, LoopConfig(loop="synthetic", generations=3, seeds=1, n_ini=1797, n_r=900, n_s=1797))
    raise ValueError(f"family = {family!r}: choose one of {', '.join(FAMILIES)}")


def make_family(settings: RunSettings, out: str | Path | None = None):
    lam = settings.loop.lam_rows()
    if settings.family == "gaussian":
        return GaussianFamily(settings.gaussian, lam, last=settings.loop.generations)
    if settings.family == "gmm":
        return GMMFamily(settings.gmm, lam)
    if settings.family == "diffusion":
        from kexue.mad.diffusion_family import DiffusionFamily

        return DiffusionFamily(settings.diffusion, lam, seeds=settings.loop.seeds, grid_dir=out)
    raise ValueError(f"family = {settings.family!r}: choose one of {', '.join(FAMILIES)}")


def run(settings: RunSettings, out: str | Path | None, resume: bool = False,
        on_generation: Callable[[int, dict[str, np.ndarray]], None] | None = None,
        plot: bool = True, interruptible: bool = False) -> tuple[LoopResult, dict]:
    """Run the loop; return the result and {"floor": data-vs-data values, "figure": path or None}."""
    family = make_family(settings, out)
    fam_cfg = getattr(settings, settings.family, None)
    result = run_loop(family, settings.loop, out, resume=resume, checkpoint_every=settings.checkpoint_every,
                      extra_config={"family_settings": to_dict(fam_cfg) if fam_cfg is not None else None,
                                    "run": to_dict(settings)},  # what `kexue mad run --config` reads back
                      on_generation=on_generation, interruptible=interruptible)
    floor = family.truth_values()
    info = {"floor": floor, "figure": None}
    if plot and out is not None:
        ex = gaussian_predictions(settings) if settings.family == "gaussian" else None
        loop = settings.loop
        title = f"{settings.family}, {loop.loop} loop" + (f", n_r={loop.n_r}" if loop.kind.fresh_real else "") + \
            f", n_s={loop.n_s}, {loop.seeds} seeds"
        info["figure"] = str(plot_history(result, METRICS[settings.family], Path(out) / "curves.png", title,
                                          floor=floor, exact=ex))
    return result, info


def gaussian_predictions(settings: RunSettings) -> dict[str, dict[float, np.ndarray]] | None:
    """Exact E tr Σ_t and E‖μ_t − μ_0‖² per λ, where a closed form exists (not accumulate, K = 1)."""
    loop = settings.loop
    if loop.accumulate or loop.K > 1:
        return None
    tr0 = GaussianFamily(settings.gaussian, loop.lam_rows()[:1]).truth_values()["tr_sigma"]
    out: dict[str, dict[float, np.ndarray]] = {"tr_sigma": {}, "mean_sq_err": {}}
    for lam in loop.lams:
        a, b = exact.moments(loop.kind, lam, loop.generations, loop.n_ini, loop.n_r, loop.n_s)
        out["tr_sigma"][lam], out["mean_sq_err"][lam] = a * tr0, b * tr0
    return out
