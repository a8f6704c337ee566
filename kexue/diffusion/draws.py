"""One small DDPM trained, then sampled in paired draws and measured against held-out data: what the
trained-model claims of posts 9119/9152 read (kexue.fm/archives/9152, "参考实现", "综合评价").

`train_and_draw` trains Su's U-Net once (`kexue.diffusion.train.train`), then samples `draws` sets of
`n` images for each row of `ROWS` (EMA or raw weights, σ_t = β_t or the posterior σ): every row starts
from the same x_T and draws the same z at every step, so draw i of two rows is a *pair*. Each set is
measured (FD-<data>, precision, recall; metrics.py) against a reference half of the data, and so are
`draws` sets of n real images held out from the other half: the data-vs-data FD at the same n. The
rows are sampled side by side on the cores the topic has (kexue.parallel.map_runs); the training is one
run on one thread (two torch threads change its weights' rounding, so the run would depend on the cores).

A run that diverges is kept, not raised: a NaN/inf loss stops the Trainer (FloatingPointError), and
non-finite samples are not measured; `Draws.diverged` says which, and the metrics read NaN.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kexue.diffusion.ddpm import sample
from kexue.diffusion.metrics import ClassifierConfig, ImageMetrics, load_or_fit_classifier
from kexue.diffusion.train import DiffusionConfig, load_data, load_run, train
from kexue.parallel import map_runs
from kexue.train import read_metrics

# (label, EMA weights?, σ_t)
ROWS = (("ema, σ=β", True, "beta"), ("ema, σ=posterior", True, "posterior"), ("raw, σ=β", False, "beta"))


@dataclass
class Draws:
    """The measurements of one trained model: per row its draws' metrics, the real-data draws' and
    noise images' metrics, the training record and how it diverged ("" when it did not)."""

    fd_key: str
    n: int
    chain_steps: int
    rows: dict[str, list[dict]] = field(default_factory=dict)
    data: list[dict] = field(default_factory=list)
    noise: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    classifier: dict = field(default_factory=dict)
    diverged: str = ""
    grids: dict[str, Tensor] = field(default_factory=dict)  # the figures' images by file name, for the caller to draw

    def values(self, label: str, key: str | None = None) -> list[float]:
        """Per-draw values of `key` (default FD) for a row, or for "data" (the held-out real images)."""
        draws = self.data if label == "data" else self.rows[label]
        return [float(r[key or self.fd_key]) for r in draws]

    def mean(self, label: str, key: str | None = None) -> float:
        return float(np.mean(self.values(label, key)))

    def to_dict(self) -> dict:
        return {"samples": self.rows, "data_vs_data": self.data, "noise": self.noise, "train": self.train,
                "classifier": self.classifier, "chain_steps": self.chain_steps, "n_samples": self.n,
                "draws": len(self.data), "diverged": self.diverged}


def train_and_draw(run: DiffusionConfig, out_dir: Path, n: int, draws: int, sample_steps: int,
                   classifier: ClassifierConfig, seed: int, device: str, progress: bool = False) -> Draws:
    """Train `run` into out_dir/run, then measure `draws` paired sets of n samples per row of ROWS and
    `draws` sets of n held-out real images. The figures' images are returned, not drawn (`Draws.grids`:
    samples.png, the first row's first 64, and data.png, 64 real images), so the caller saves the numbers first."""
    if draws < 1:
        raise ValueError(f"DiffusionPreset.draws={draws}: must be ≥ 1 (≥ 2 for an interval, 3 or more to decide)")
    x, y, name = load_data(run)
    run_dir = out_dir / "run"
    record = _train(run, run_dir, (x, y, name), progress)
    clf, info = load_or_fit_classifier(name, x, y, out_dir / "cache", classifier)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x_ref, x_held = x[perm[:len(x) // 2]], x[perm[len(x) // 2:]]
    if n > len(x_held):
        raise ValueError(f"DiffusionPreset.n_samples={n} exceeds the {len(x_held)} held-out images of {name}; "
                         "lower n_samples")
    measure = ImageMetrics(name, x_ref, clf, info["num_classes"])
    out = Draws(fd_key=measure.fd_key, n=n, chain_steps=sample_steps or run.T, train=record,
                classifier={k: info[k] for k in ("name", "accuracy", "num_classes")}, diverged=record["diverged"])
    for i in range(draws):
        held = torch.randperm(len(x_held), generator=torch.Generator().manual_seed(seed + 100 + i))
        out.data.append(measure(x_held[held[:n]]))
    noise = torch.randn((n, *x.shape[1:]), generator=torch.Generator().manual_seed(seed + 99))
    out.noise = measure(noise.clamp(-1, 1))
    out.grids["data.png"] = x[:64]
    shape = (draws * n, *x.shape[1:])
    # the rows side by side (kexue.parallel), each from the same seed: the same x_T and z for every row
    jobs = [(run_dir, ema, sigma, shape, sample_steps, seed + 1, device, progress) for _, ema, sigma in ROWS]
    drawn = [None] * len(ROWS) if out.diverged else map_runs(sample_row, jobs)
    for (label, _, _), xs in zip(ROWS, drawn):
        if xs is not None and not torch.isfinite(xs).all():
            out.diverged = f"the samples of {label} are not finite ({int((~torch.isfinite(xs)).sum())} values)"
        if out.diverged:
            out.rows[label] = [_nan(out.fd_key, n)] * draws
            continue
        xs = xs.clamp(-1, 1)
        out.rows[label] = [measure(xs[i * n:(i + 1) * n]) for i in range(draws)]
        if label == ROWS[0][0]:
            out.grids["samples.png"] = xs[:64]
    return out


def sample_row(run_dir: Path, ema: bool, sigma: str, shape: tuple[int, ...], sample_steps: int, seed: int,
               device: str, progress: bool = False) -> Tensor:
    """One row's samples (EMA or raw weights of the run in run_dir, σ_t = β_t or the posterior), the
    generator seeded with `seed` (a module-level function: kexue.parallel runs it in a worker)."""
    model, schedule, _ = load_run(run_dir, ema=ema, device=device)
    gen = torch.Generator(device).manual_seed(seed)
    return sample(model, schedule, shape, sigma, sample_steps or None, generator=gen, progress=progress).cpu()


def _train(run: DiffusionConfig, run_dir: Path, data: tuple, progress: bool) -> dict:
    """Train; the loss curve and the first/final loss from metrics.jsonl; a FloatingPointError (the
    Trainer's NaN/inf loss) is recorded in "diverged" instead of raised."""
    diverged, seconds = "", math.nan
    try:
        summary = train(run, run_dir, progress=progress, data=data)
        seconds = summary["seconds"]
    except FloatingPointError as e:
        diverged = f"training diverged: {e}"
    file = run_dir / "metrics.jsonl"
    records = [r for r in read_metrics(file) if "loss" in r] if file.is_file() else []
    curve = [(r["step"], r["loss"]) for r in records]
    first, final = (curve[0][1], curve[-1][1]) if curve else (math.nan, math.nan)
    return {"steps": curve[-1][0] if curve else 0, "seconds": seconds, "first_loss": first,
            "final_loss": math.nan if diverged else final, "curve": curve, "diverged": diverged}


def _nan(fd_key: str, n: int) -> dict:
    return {fd_key: math.nan, "precision": math.nan, "recall": math.nan, "n": n}
