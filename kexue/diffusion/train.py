"""Training a DDPM on images, and loading one back from its run directory alone.

kexue.fm/archives/9152 ("参考实现", github.com/bojone/Keras-DDPM). The `su` preset is the post's
recipe: Su's U-Net and schedule α_t = √(1 − 0.02 t/T), T = 1000, batch 64, LAMB (bert4keras's Adam +
layer adaptation, every tensor adapted, see kexue/train/optim.py) at learning rate 1e−3 with the
piecewise-linear schedule {4000: 1, 20000: 0.5, 40000: 0.1} (warm-up from 0), EMA 0.9999 (bias-
corrected as bert4keras applies it, kexue/train/ema.py), and the loss summed over pixels. The
`ho2020` preset is Ho et al.'s CIFAR-10 recipe: Ho's U-Net and linear schedule, Adam 2e−4, batch 128,
5000 warm-up steps, gradient clipping at 1, EMA 0.9999, 800k steps. `quick` and `smoke` are small
`su` runs for a CPU and for tests.

Where we depart and why:
- ε = 1e−7 is Keras's default, which Keras-DDPM's Adam (Keras 2.3.1's own) uses; Keras adds it to
  √v before the bias correction, we after (see kexue/train/optim.py).
- Su trains "for days" (epochs of 2000 steps, no end); `su` stops at 40,000 steps, the last knot of
  his schedule. Set `--set train.steps=...` to go on.
- The U-Net is sized for the images: Su's 128-px net above 32 px, its scaled `mnist28` preset up to
  32 px (28 is zero-padded to 32), `digits8` up to 16 px; the same for Ho's. `image_size`,
  `in_channels` and `num_classes` always follow the data.
- The preview grids (OUT/samples, every sample_every steps and at the end) are drawn with DDIM's
  deterministic update (σ = 0, kexue.fm/archives/9181) over 50 steps, not the post's 1000-step chain:
  20× cheaper (two 64-image grids through 1000 steps took 32 minutes at the end of a CPU run). The run
  says so in its first lines (`grid_cost`); `--set sample_ddim=false --set sample_steps=0` gives the
  post's chain. Sampling shows progress and stops between steps on SIGINT/SIGTERM.
- Class conditioning (`cond=true`, with condition dropout for classifier-free guidance) is not in
  the post; the MAD topic needs it.

A run directory holds the Trainer's files (model.safetensors, ema.safetensors, config.json with this
config under "run", metrics.jsonl) and `samples/step-NNNNNN-{ema,raw}.png` grids.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from kexue.config import from_dict
from kexue.diffusion.ddpm import SamplingStopped, ddpm_loss, sample
from kexue.diffusion.images import save_grid
from kexue.diffusion.schedule import Schedule
from kexue.diffusion.unet_ho import UNetHo, UNetHoConfig
from kexue.diffusion.unet_su import UNetSu, UNetSuConfig
from kexue.train import TrainConfig, Trainer, TrainingInterrupted, load_model, seed_everything
from kexue.train.checkpoint import read_json

NAMED_DATA = ("digits", "mnist5k", "fashion-mnist")
NATIVE_SIZE = {"digits": 8, "mnist5k": 28, "fashion-mnist": 28}
FOLDER_SIZE = 64  # a folder's default side when --size is not given


def _su_train() -> TrainConfig:
    # Keras-DDPM: batch 64, LAMB lr 1e−3, lr_schedule {4000: 1, 20000: 0.5, 40000: 0.1}, EMA 0.9999
    return TrainConfig(steps=40_000, batch_size=64, lr=1e-3, optimizer="lamb", eps=1e-7, schedule="piecewise",
                       piecewise={4000: 1.0, 20000: 0.5, 40000: 0.1}, ema=0.9999, log_every=100,
                       ckpt_every=2000)


@dataclass
class DiffusionConfig:
    data: str = "digits"            # digits | mnist5k | fashion-mnist | a folder of images
    size: int = 0                   # image side; 0 = the data's own (8, 28; a folder: 64)
    channels: int = 3               # a folder's channels: 1 grey, 3 RGB (the named sets are grey)
    model: Literal["su", "ho2020"] = "su"
    unet_su: UNetSuConfig = field(default_factory=UNetSuConfig)
    unet_ho: UNetHoConfig = field(default_factory=UNetHoConfig)
    schedule: Literal["su", "ho2020", "cosine"] = "su"  # Su's α_t = √(1 − 0.02 t/T)
    T: int = 1000                   # the post's
    cond: bool = False              # class-conditional on the data's labels (not in the post)
    cond_drop: float = 0.1          # with cond: P(label → ∅) in training, for classifier-free guidance
    sample_every: int = 0           # sample grids every this many steps (0: at the end only)
    sample_n: int = 64              # images per grid
    sample_steps: int = 50          # the grids' chain: this many steps (at most T); 0: all T
    sample_ddim: bool = True        # the grids by DDIM's deterministic update (σ = 0); false: the post's chain
    sample_sigma: Literal["beta", "posterior", "zero"] = "beta"  # Su's default σ_t = β_t (sample_ddim=false)
    train: TrainConfig = field(default_factory=_su_train)

    @classmethod
    def preset(cls, name: str, data: str = "digits", size: int = 0, channels: int = 3) -> DiffusionConfig:
        """`su` (the post's recipe), `ho2020` (Ho's CIFAR-10 recipe), `quick` (CPU minutes), `smoke`."""
        side = size or NATIVE_SIZE.get(data, FOLDER_SIZE)
        c = 1 if data in NAMED_DATA else channels
        base = cls(data=data, size=size, channels=channels, unet_su=unet_su_for(side, c),
                   unet_ho=unet_ho_for(side, c))
        if name == "su":
            return base
        if name == "ho2020":
            return replace(base, model="ho2020", schedule="ho2020", train=TrainConfig(
                steps=800_000, batch_size=128, lr=2e-4, optimizer="adam", warmup=5000, clip=1.0, ema=0.9999,
                log_every=100, ckpt_every=5000))
        if name == "quick":  # a small `su` model for a CPU: 8×8 digits in about a minute
            # Adam, not Su's LAMB: LAMB moves each tensor by lr·‖w‖ a step, too little in 1500 steps
            # (benchmarks/diffusion_optim.py: FD-digits 350 with LAMB 1e−3 vs 44 with Adam 3e−3 here)
            small = dict(embedding_size=16, channels=(1, 2)) if side <= 16 else \
                dict(embedding_size=32, channels=(1, 2, 2), groups=8)  # 28 px: three levels 32/16/8
            return replace(base, unet_su=replace(base.unet_su, blocks=1, **small),
                           sample_steps=100, train=TrainConfig(
                               steps=1500, batch_size=64, lr=3e-3, optimizer="adam", schedule="cosine",
                               warmup=100, min_lr_ratio=0.05, ema=0.99, log_every=50))
        if name == "smoke":  # every step at toy size, for tests; the samples mean nothing
            return replace(base, unet_su=replace(base.unet_su, embedding_size=8, channels=(1,), blocks=1, groups=8),
                           unet_ho=replace(base.unet_ho, ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=()),
                           T=50, sample_n=8, sample_every=2, train=TrainConfig(
                               steps=4, batch_size=8, lr=1e-3, optimizer="adam", ema=0.9, log_every=2))
        raise ValueError(f"DiffusionConfig.preset: unknown name {name!r}; choose su, ho2020, quick or smoke")


def unet_su_for(side: int, channels: int) -> UNetSuConfig:
    """Su's U-Net sized for side×side images (see the module docstring)."""
    if side <= 16:
        return UNetSuConfig.preset("digits8", image_size=side, in_channels=channels, pad_to=_pad(side))
    if side <= 32:
        return UNetSuConfig.preset("mnist28", image_size=side, in_channels=channels, pad_to=_pad(side))
    return UNetSuConfig(image_size=side, in_channels=channels, pad_to=_pad(side))


def unet_ho_for(side: int, channels: int) -> UNetHoConfig:
    """Ho's U-Net sized for side×side images: `digits8` ≤ 16 px, `mnist28` ≤ 32, CIFAR's ≤ 64,
    else CelebA-HQ's."""
    if side <= 16:
        return UNetHoConfig.preset("digits8", image_size=side, in_channels=channels, pad_to=_pad(side))
    if side <= 32:
        return UNetHoConfig.preset("mnist28", image_size=side, in_channels=channels, pad_to=_pad(side))
    if side <= 64:
        return UNetHoConfig.preset("cifar10", image_size=side, in_channels=channels, pad_to=_pad(side))
    return UNetHoConfig.preset("celebahq256", image_size=side, in_channels=channels, pad_to=_pad(side))


def load_data(cfg: DiffusionConfig) -> tuple[Tensor, Tensor | None, str]:
    """(x [N, C, S, S] in [−1, 1], labels or None, the data's name for FD-<name>)."""
    from kexue.data import load_digits, load_fashion_mnist, load_image_folder, load_mnist5k

    if cfg.data == "digits":
        x, y = load_digits()
    elif cfg.data == "mnist5k":
        x, y = load_mnist5k()
    elif cfg.data == "fashion-mnist":
        x, y = load_fashion_mnist("train")
    elif Path(cfg.data).is_dir():
        x, y = load_image_folder(cfg.data, cfg.size or FOLDER_SIZE, cfg.channels)
        return x, y, Path(cfg.data).resolve().name
    else:
        raise ValueError(f"DiffusionConfig.data={cfg.data!r}: not one of {', '.join(NAMED_DATA)} and not a "
                         "folder of images; give a name or an existing folder")
    if cfg.size and cfg.size != x.shape[-1]:
        x = F.interpolate(x, size=(cfg.size, cfg.size), mode="bilinear", antialias=True,
                          align_corners=False).clamp(-1, 1)
    return x, y, cfg.data


def resolve(cfg: DiffusionConfig, x: Tensor, y: Tensor | None) -> DiffusionConfig:
    """The config with the U-Net's image_size, in_channels and num_classes taken from the data (and
    the rows of Su's t-embedding from T)."""
    if cfg.cond and y is None:
        raise ValueError(f"DiffusionConfig.cond=true: the data {cfg.data!r} have no labels; set cond=false")
    num_classes = int(y.max()) + 1 if cfg.cond else 0
    fields = dict(image_size=x.shape[-1], in_channels=x.shape[1], num_classes=num_classes)
    return replace(cfg, size=x.shape[-1], unet_su=replace(cfg.unet_su, T=cfg.T, **fields),
                   unet_ho=replace(cfg.unet_ho, **fields))


def build_model(cfg: DiffusionConfig) -> nn.Module:
    return UNetSu(cfg.unet_su) if cfg.model == "su" else UNetHo(cfg.unet_ho)


def build_schedule(cfg: DiffusionConfig) -> Schedule:
    return Schedule.preset(cfg.schedule, cfg.T)


def train(cfg: DiffusionConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
          data: tuple[Tensor, Tensor | None, str] | None = None) -> dict[str, Any]:
    """Train a DDPM as `cfg` says into out_dir; return the Trainer's summary (plus the grid paths)."""
    x, y, _ = data if data is not None else load_data(cfg)
    cfg = resolve(cfg, x, y)
    # the U-Net's initial weights come from the run's seed, not from whatever ran before (every rank
    # alike; the Trainer seeds again, with seed + rank, when training starts)
    seed_everything(cfg.train.seed)
    model, schedule = build_model(cfg), build_schedule(cfg)
    dataset = TensorDataset(x, y) if cfg.cond else TensorDataset(x)
    out_dir = Path(out_dir)
    grids: list[str] = []

    def loss_fn(net: nn.Module, batch: list[Tensor]) -> Tensor:
        # ‖ε − ε_θ(ᾱ_t x_0 + β̄_t ε, t)‖², summed over pixels, t ~ U{1..T}
        return ddpm_loss(net, batch[0], schedule, batch[1] if cfg.cond else None, cfg.cond_drop)

    def on_step(trainer: Trainer, step: int) -> None:
        last = step == cfg.train.steps
        if not trainer.is_main or not (last or (cfg.sample_every and step % cfg.sample_every == 0)):
            return
        try:
            # a grid during training runs to its end (a resume would not draw it again); the last step's
            # grids, the long end of a run, stop at a signal between steps
            grids.extend(str(p) for p in write_grids(trainer, cfg, schedule, out_dir / "samples", step,
                                                     interruptible=last))
        except SamplingStopped:  # the step's checkpoint is written
            raise TrainingInterrupted(step, trainer.stop_requested, out_dir) from None

    trainer = Trainer(model, cfg.train, dataset, loss_fn, out_dir, run_config=cfg, progress=progress,
                      on_step=on_step)
    summary = trainer.fit(resume=resume)
    summary["grids"] = grids
    return summary


def write_grids(trainer: Trainer, cfg: DiffusionConfig, schedule: Schedule, folder: Path, step: int,
                interruptible: bool = True) -> list[Path]:
    """Sample grids with the EMA weights (when EMA is on) and the raw ones, from the same noise, with
    progress; when `interruptible`, a signal (trainer.stop_requested) ends them between steps with
    SamplingStopped."""
    out = []
    steps = min(cfg.sample_steps, cfg.T) or None
    sigma = "zero" if cfg.sample_ddim else cfg.sample_sigma
    for kind in (["ema"] if trainer.ema is not None else []) + ["raw"]:
        gen = torch.Generator().manual_seed(cfg.train.seed)  # same noise at every step: grids compare
        draw = dict(y=_grid_labels(cfg, trainer.model), generator=gen, ddim=cfg.sample_ddim,
                    progress=trainer.progress,
                    should_stop=(lambda: bool(trainer.stop_requested)) if interruptible else None,
                    description=f"grid {kind}")
        shape = (cfg.sample_n, *grid_shape(cfg))
        with trainer.ema.applied(trainer.model) if kind == "ema" else nullcontext():
            x = sample(trainer.model, schedule, shape, sigma, steps, **draw)
        out.append(save_grid(x, folder / f"step-{step:06d}-{kind}.png"))
    return out


def grid_cost(cfg: DiffusionConfig) -> str:
    """What the preview grids cost, in the run's first lines: grids × images × steps, and the sampler."""
    steps = min(cfg.sample_steps, cfg.T) or cfg.T
    grids = 2 if cfg.train.ema is not None else 1
    sampler = "DDIM (σ = 0)" if cfg.sample_ddim else f"the post's chain (σ = {cfg.sample_sigma})"
    when = f"every {cfg.sample_every} steps and at the end" if cfg.sample_every else "at the end"
    return (f"sample grids {when}: {grids} × {cfg.sample_n} images × {steps} steps of {sampler} = "
            f"{grids * steps} U-Net passes on batches of {cfg.sample_n} each time"
            + ("; the post's 1000-step chain: --set sample_ddim=false --set sample_steps=0" if cfg.sample_ddim else ""))


def grid_shape(cfg: DiffusionConfig) -> tuple[int, int, int]:
    u = cfg.unet_su if cfg.model == "su" else cfg.unet_ho
    return u.in_channels, u.image_size, u.image_size


def load_run(run_dir: str | Path, ema: bool = True,
             device: str | torch.device = "cpu") -> tuple[nn.Module, Schedule, DiffusionConfig]:
    """(model, schedule, config) from a run directory alone: config.json rebuilds the model, whose
    weights are then strict-loaded (EMA weights by default)."""
    from kexue.runs import read_run_folder

    run_dir = Path(run_dir)
    cfg = read_run_folder(run_dir).settings(DiffusionConfig)
    model = build_model(cfg)
    load_model(model, run_dir, ema=ema)
    return model.to(device).eval(), build_schedule(cfg), cfg


def _grid_labels(cfg: DiffusionConfig, model: nn.Module) -> Tensor | None:
    n = getattr(model, "num_classes", 0)
    if not cfg.cond or not n:
        return None
    # class k in row k: labels 0, 1, ..., n−1, 0, 1, ...
    return torch.arange(cfg.sample_n) % n


def _pad(side: int) -> int:
    """pad_to for a side×side image: 0 for a power of two, else the next power of two (28 → 32),
    so that every 2×2 pooling halves the feature map cleanly."""
    p = 1
    while p < side:
        p *= 2
    return 0 if p == side else p
