"""One self-consuming run from settings: pick the family, run the loop, write metrics and figures.

kexue.fm/archives/9687. `run(settings, out)` is what `kexue mad run` and `reproduce` call: it builds the
family named by `settings.family` (`FAMILIES`: what differs per family, so nothing branches on its name)
with its own settings, runs `loops.run_loop`, and draws each metric against the generation (`curves.png`,
with the exact predictions for Gaussians and the data-vs-data value as the floor). `settings.train`
holds what the shared `--device`, `--precision` and `--log` set: where the diffusion family's networks
train, and the logger that gets each generation's medians.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from torch import Tensor

from kexue.config import to_dict
from kexue.mad import exact
from kexue.mad.diffusion_family import DiffusionFamilyConfig
from kexue.mad.gaussian import GaussianConfig, GaussianFamily
from kexue.mad.gmm import GMMConfig, GMMFamily
from kexue.mad.loops import Family, LoopConfig, LoopResult, run_loop
from kexue.mad.plots import plot_history


@dataclass
class LoopCompute:
    """Where the loop's networks train and where its records go besides metrics.jsonl: the shared `--device`,
    `--precision` and `--log` of every training command (kexue/cli_options.py), as `train.*` keys."""
    device: str = "auto"  # where the diffusion family trains and samples its DDPMs (auto: cuda when available)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # the DDPMs' training autocast (TrainConfig.precision)
    log: str = "jsonl"  # also to a logger (kexue/train/loggers.py): each generation's median per λ

    def check(self) -> None:
        from kexue.train.loggers import require_logger
        from kexue.train.settings import LOGGERS
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"train.precision = {self.precision!r}: must be fp32, bf16 or fp16")
        if self.log not in LOGGERS:
            raise ValueError(f"train.log = {self.log!r}: choose one of {', '.join(LOGGERS)}")
        if self.log != "jsonl":
            require_logger(self.log)


@dataclass
class RunSettings:
    family: str = "gaussian"  # gaussian | gmm | diffusion
    loop: LoopConfig = field(default_factory=LoopConfig)
    gaussian: GaussianConfig = field(default_factory=GaussianConfig)
    gmm: GMMConfig = field(default_factory=GMMConfig)
    diffusion: DiffusionFamilyConfig = field(default_factory=DiffusionFamilyConfig)
    checkpoint_every: int = 1  # write state.safetensors every this many generations
    train: LoopCompute = field(default_factory=LoopCompute)


@dataclass(frozen=True)
class FamilyKind:
    """What differs between the families of a run: the loop sizes it starts from, how it is built, the
    metrics it draws, and whether it trains networks (train.device and train.precision apply) and has
    exact predictions (the Gaussian's closed form, exact.py)."""
    name: str
    loop: Callable[[], LoopConfig]
    build: Callable[[RunSettings, Tensor, Path | None], Family]
    metrics: tuple[str, ...]
    networks: bool = False
    exact: bool = False


def _diffusion(settings: RunSettings, lam: Tensor, out: Path | None) -> Family:
    from kexue.mad.diffusion_family import DiffusionFamily

    return DiffusionFamily(settings.diffusion, lam, seeds=settings.loop.seeds, grid_dir=out, compute=settings.train)


# the paper's Gaussian fresh loop (d = 100, n_r = 100, n_s = 900, about 50 generations), a 1000-point
# mixture loop, a small digits loop
FAMILIES: dict[str, FamilyKind] = {
    "gaussian": FamilyKind("gaussian", LoopConfig,
                           lambda s, lam, out: GaussianFamily(s.gaussian, lam, last=s.loop.generations),
                           ("w2", "tr_sigma", "mean_sq_err"), exact=True),
    "gmm": FamilyKind("gmm", lambda: LoopConfig(loop="synthetic", generations=100, seeds=3, n_ini=1000, n_r=500,
                                                n_s=500),
                      lambda s, lam, out: GMMFamily(s.gmm, lam),
                      ("modes_kept", "precision", "recall", "total_var", "modal_var")),
    "diffusion": FamilyKind("diffusion", lambda: LoopConfig(loop="synthetic", generations=3, seeds=1, n_ini=1797,
                                                            n_r=900, n_s=1797),
                            _diffusion, ("fd", "precision", "recall", "class_entropy"), networks=True),
}


def get_family(name: str) -> FamilyKind:
    """The family called `name`; one line naming the choices otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"family = {name!r}: choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def default_settings(family: str) -> RunSettings:
    """The settings a family starts from (its loop sizes; every other section at its defaults)."""
    return RunSettings(family, get_family(family).loop())


def make_family(settings: RunSettings, out: str | Path | None = None) -> Family:
    """The family of `settings`, built; train.device / train.precision other than their defaults on a family
    that trains no network is one line (the Gaussian and the mixture fit in closed form on the CPU)."""
    kind = get_family(settings.family)
    compute = settings.train
    compute.check()
    if not kind.networks and (compute.device not in ("auto", "cpu") or compute.precision != "fp32"):
        flag = "--device" if compute.device not in ("auto", "cpu") else "--precision"
        raise ValueError(f"{flag} (train.device = {compute.device}, train.precision = {compute.precision}): the "
                         f"{kind.name} family fits in closed form on the CPU in float64; they apply to the diffusion "
                         "family's networks")
    return kind.build(settings, settings.loop.lam_rows(), Path(out) if out is not None else None)


def run(settings: RunSettings, out: str | Path | None, resume: bool = False,
        on_generation: Callable[[int, dict[str, np.ndarray]], None] | None = None,
        plot: bool = True, interruptible: bool = False) -> tuple[LoopResult, dict]:
    """Run the loop; return the result and {"floor": data-vs-data values, "figure": path or None}."""
    family, kind = make_family(settings, out), get_family(settings.family)
    fam_cfg = getattr(settings, settings.family, None)
    result = run_loop(family, settings.loop, out, resume=resume, checkpoint_every=settings.checkpoint_every,
                      extra_config={"family_settings": to_dict(fam_cfg) if fam_cfg is not None else None,
                                    "run": to_dict(settings)},  # what `kexue mad run --config` reads back
                      on_generation=on_generation, interruptible=interruptible, log=settings.train.log)
    floor = family.truth_values()
    info = {"floor": floor, "figure": None}
    if plot and out is not None:
        info["figure"] = str(draw_curves(settings, result, floor, Path(out) / "curves.png"))
    return result, info


def draw_curves(settings: RunSettings, result: LoopResult, floor: dict, path: Path) -> Path:
    """The loop's metrics against the generation (with the exact predictions where a closed form exists)
    into `path`; `run` draws it as curves.png, the page (kexue.mad.reproduce) after its numbers are saved."""
    kind = get_family(settings.family)
    ex = gaussian_predictions(settings) if kind.exact else None
    loop = settings.loop
    title = f"{settings.family}, {loop.loop} loop" + (f", n_r={loop.n_r}" if loop.kind.fresh_real else "") + \
        f", n_s={loop.n_s}, {loop.seeds} seeds"
    return plot_history(result, list(kind.metrics), path, title, floor=floor, exact=ex)


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
