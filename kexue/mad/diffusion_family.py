"""The diffusion family: a class-conditional DDPM (kexue/diffusion) retrained from scratch each generation.

Alemohammad et al. 2023, Sec. 3–5 (conditional DDPM on MNIST), discussed in kexue.fm/archives/9687;
the model and its training are posts 9119/9152's (`kexue.diffusion.train`, Su's U-Net), trained
class-conditionally with 10 % label dropout so that it can be sampled with classifier-free guidance.
The paper's mapping of guidance to sampling bias is λ = 1/(1 + w), i.e. w = 1/λ − 1: λ = 1 is plain
conditional sampling (w = 0), λ = 0.5 is w = 1. Synthetic sets are class-balanced in expectation
(labels drawn uniformly), as a conditional sampler is used.

Metrics per generation (kexue.diffusion.metrics, never called FID): FD in the dataset classifier's
feature space, precision and recall with k = 5, the classifier's predicted-label histogram (per-class
counts: a lost mode shows there) and its normalised entropy, each beside the data-vs-data value of two
disjoint real halves of the same size (`truth_values`).

Each measured generation also writes a sample grid per λ (`grid_dir`/samples_t{t}_lam{λ}.png: the first
seed's first 100 samples, one column per class), so the loss of diversity can be seen.

Departures: sizes are the `quick` preset of kexue/diffusion (digits 8×8 in about a minute on a CPU)
unless set (`steps`, `sample_steps`, `n_eval` shrink it further for the reproduce presets, stated on
the page); a fresh "real" set on digits is a random subset of the 1,797 images (there are no more);
every row of the batch (one λ, one seed) trains its own network (the rows' trainings and sample draws
run side by side on the topic's cores, kexue.parallel, bit-identical to one at a time), except that rows
with the same training set train one network: G_1 of seed s is fitted on the same real subset for every λ
(λ only acts when sampling), so generation 1 costs one training per seed and the λ's start paired.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from kexue.parallel import map_runs

if TYPE_CHECKING:
    from kexue.mad.run import LoopCompute


@dataclass
class DiffusionFamilyConfig:
    data: str = "digits"  # digits | mnist5k | fashion-mnist
    preset: str = "quick"  # kexue/diffusion's DiffusionConfig preset (su = the post's recipe, for a GPU)
    steps: int = 0  # training steps per generation; 0 = the preset's
    sample_steps: int = 50  # respaced reverse chain for the synthetic data and the metrics
    n_eval: int = 500  # samples measured per generation
    cache_dir: str = "runs/mad-cache"  # the dataset classifier of the metrics is cached here
    device: str = "auto"  # where samples are drawn: auto = the run's train.device (--device), else cuda when available

    def check(self) -> None:
        if self.data not in ("digits", "mnist5k", "fashion-mnist"):
            raise ValueError(f"diffusion.data = {self.data!r}: choose digits, mnist5k or fashion-mnist")
        if self.n_eval < 10 or self.sample_steps < 1 or self.steps < 0:
            raise ValueError(f"diffusion: n_eval = {self.n_eval} (≥ 10), sample_steps = {self.sample_steps} (≥ 1), "
                             f"steps = {self.steps} (≥ 0)")


def ddpm_settings(cfg: DiffusionFamilyConfig, compute: LoopCompute | None = None):
    """The DiffusionConfig each generation trains with: the preset, class-conditional with 10 % label drop,
    cfg's steps, and the run's --device and --precision (kexue/mad/run.py's LoopCompute)."""
    from kexue.diffusion.train import DiffusionConfig

    base = DiffusionConfig.preset(cfg.preset, cfg.data)
    base = replace(base, cond=True, cond_drop=0.1, sample_steps=cfg.sample_steps)
    if cfg.steps:
        base = replace(base, train=replace(base.train, steps=cfg.steps))
    if compute is not None:
        base = replace(base, train=replace(base.train, device=compute.device, precision=compute.precision))
    return base


class DiffusionFamily:
    name = "diffusion"

    def __init__(self, cfg: DiffusionFamilyConfig, lam: Tensor, seeds: int | None = None,
                 grid_dir: str | Path | None = None, compute: LoopCompute | None = None):
        from kexue.diffusion.metrics import ImageMetrics, load_or_fit_classifier
        from kexue.diffusion.train import load_data, resolve

        cfg.check()
        self.cfg, self.lam = cfg, lam.double()
        self.seeds = seeds or lam.numel()  # rows are λ-major: row = i_λ · seeds + seed
        if lam.numel() % self.seeds:
            raise ValueError(f"seeds = {self.seeds}: the {lam.numel()} rows are λ-major, a multiple of the seeds")
        self.grid_dir = Path(grid_dir) if grid_dir is not None else None
        base = ddpm_settings(cfg, compute)
        self.x, self.y, name = load_data(base)
        self.dcfg = resolve(base, self.x, self.y)
        self.num_classes = int(self.y.max()) + 1
        self.min_points = self.num_classes
        clf, _ = load_or_fit_classifier(name, self.x, self.y, cfg.cache_dir)
        g = torch.Generator().manual_seed(12345)
        perm = torch.randperm(len(self.x), generator=g)
        n = min(cfg.n_eval, len(self.x) // 2)
        self.metrics = ImageMetrics(name, self.x[perm[:n]], clf, self.num_classes)
        self._second_half = self.x[perm[n:2 * n]]

    @property
    def B(self) -> int:
        return self.lam.numel()

    def real(self, n: int, rng: np.random.Generator) -> dict[str, Tensor]:
        if n > len(self.x):
            raise ValueError(f"n = {n}: the {self.cfg.data} set has only {len(self.x)} images")
        # one subset per seed, the same for every λ (real data are never biased)
        idx = [torch.from_numpy(rng.choice(len(self.x), n, replace=False)) for _ in range(self.seeds)]
        idx = idx * (self.B // self.seeds)
        return {"x": torch.stack([self.x[i] for i in idx]), "y": torch.stack([self.y[i] for i in idx])}

    def synth(self, model: dict[str, Tensor], n: int, rng: np.random.Generator) -> dict[str, Tensor]:
        ys, seeds = [], []
        for _ in range(self.B):  # the labels and the sampler's seed of every row first, in the rows' order
            ys.append(torch.from_numpy(rng.integers(0, self.num_classes, n)))
            seeds.append(int(rng.integers(2**31)))
        xs = self._samples(model, ys, seeds)
        return {"x": torch.stack([x.clamp(-1, 1) for x in xs]), "y": torch.stack(ys)}

    def pool(self, parts: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        parts = [p for p in parts if p["x"].shape[1] > 0]
        return {k: torch.cat([p[k] for p in parts], dim=1) for k in ("x", "y")}

    def fit(self, data: dict[str, Tensor]) -> dict[str, Tensor]:
        """One network per row, each trained by `fit_network` (side by side, kexue.parallel); rows with the
        same training set (G_1 across λ) share one network."""
        jobs: list[tuple] = []  # (dcfg, x, y, data, seed) of each network to train
        network_of: list[int] = []  # row b's network: jobs[network_of[b]]
        for b in range(self.B):
            x, y = data["x"][b], data["y"][b]
            same = next((j for j, job in enumerate(jobs) if torch.equal(job[1], x) and torch.equal(job[2], y)), None)
            if same is None:
                # a seed that is a function of the data: the fit is deterministic, resumed runs stay exact
                seed = int((x.double().sum() * 1000).abs()) % 2**31
                jobs.append((self.dcfg, x, y, self.cfg.data, seed))
                same = len(jobs) - 1
            network_of.append(same)
        nets = map_runs(fit_network, jobs)
        return {f"row{b}.{k}": v for b, j in enumerate(network_of) for k, v in nets[j].items()}

    def measure(self, model: dict[str, Tensor], generation: int) -> dict[str, Tensor]:
        y = torch.arange(self.cfg.n_eval) % self.num_classes
        xs = self._samples(model, [y] * self.B, [10**6 + generation * 1000 + b for b in range(self.B)])
        rows = []
        for b, x in enumerate(xs):
            m = self.metrics(x, y)
            if self.grid_dir is not None and b % self.seeds == 0:  # the first seed of each λ
                from kexue.diffusion.images import save_grid

                k = min(100, len(y)) // self.num_classes * self.num_classes
                # y = arange % C: sample i is class i mod C, so rows of C are one sample of each class
                save_grid(x[:k], self.grid_dir / grid_name(generation, float(self.lam[b])), nrow=self.num_classes)
            rows.append({"fd": m[self.metrics.fd_key], "precision": m["precision"], "recall": m["recall"],
                         "class_entropy": m["label_entropy"], "cond_accuracy": m["cond_accuracy"],
                         **{f"class_{c}": h for c, h in enumerate(m["label_hist"])}})
        return {k: torch.tensor([float(r[k]) for r in rows]) for k in rows[0]}

    def truth_values(self) -> dict[str, float]:
        m = self.metrics(self._second_half)
        return {"fd": m[self.metrics.fd_key], "precision": m["precision"], "recall": m["recall"],
                "class_entropy": m["label_entropy"]}

    def _samples(self, model: dict[str, Tensor], ys: list[Tensor], seeds: list[int]) -> list[Tensor]:
        """Row b's samples of classes ys[b], its sampler seeded with seeds[b] (the rows side by side)."""
        # diffusion.device, else the run's train.device (--device), else cuda when available
        dev = self.cfg.device if self.cfg.device != "auto" else self.dcfg.train.device
        dev = ("cuda" if torch.cuda.is_available() else "cpu") if dev == "auto" else dev
        jobs = []
        for b in range(self.B):
            prefix = f"row{b}."
            net = {k[len(prefix):]: v for k, v in model.items() if k.startswith(prefix)}
            # λ = 1/(1 + w)  ⇒  w = 1/λ − 1
            w = 1.0 / float(self.lam[b]) - 1.0
            jobs.append((self.dcfg, net, w, ys[b], seeds[b], self.cfg.sample_steps, dev))
        return map_runs(draw, jobs)


def fit_network(dcfg, x: Tensor, y: Tensor, data: str, seed: int) -> dict[str, Tensor]:
    """One class-conditional DDPM trained on (x, y) from `seed`: its EMA weights."""
    from kexue.diffusion.train import build_model, train
    from kexue.train import load_model

    cfg = replace(dcfg, sample_every=0, sample_n=10, train=replace(dcfg.train, seed=seed))
    # train() builds the network before the Trainer seeds: seed its initialisation here too
    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        train(cfg, tmp, progress=False, data=(x, y, data))
        net = build_model(dcfg)
        load_model(net, Path(tmp), ema=True)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def draw(dcfg, state: dict[str, Tensor], w: float, y: Tensor, seed: int, sample_steps: int, device: str) -> Tensor:
    """Samples of classes y from the network with weights `state`, guidance weight w, the sampler seeded with `seed`."""
    from kexue.diffusion.ddpm import sample
    from kexue.diffusion.train import build_model, build_schedule

    net = build_model(dcfg)
    net.load_state_dict(state, strict=True)
    net.to(device).eval()
    shape = (len(y), dcfg.unet_su.in_channels, dcfg.size, dcfg.size)
    g = torch.Generator().manual_seed(seed)
    return sample(net, build_schedule(dcfg), shape, steps=sample_steps, y=y.to(device), guidance_w=w,
                  generator=g, sigma=dcfg.sample_sigma).cpu()


def grid_name(generation: int, lam: float) -> str:
    """The file of generation t's sample grid at bias λ."""
    return f"samples_t{generation:03d}_lam{lam:g}.png"
