"""The presets of `kexue reproduce lru` (kexue.fm/archives/9554): what each claim is measured at.

quick: ≤ 150 s alone on 2 cores; two seeds, so most trained verdicts are inconclusive.
standard: ≤ 10 min alone on 2 cores; sized to decide Table 1 (more seeds for the two dense RNNs) and the
gap with length (the LM at two lengths, paired by seed); ListOps is not trained (LRA's 500 < L < 2000
does not fit: the claim is "not checkable" and says what would decide it).
full: the paper's settings (Table 9) and ListOps at LRA's lengths, for a GPU; the scan's speed-up is
timed on CUDA there. smoke: every step at toy size in seconds (tests); its verdicts mean nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from kexue.lru.lm import LMConfig
from kexue.lru.model import ModelConfig
from kexue.lru.tasks import TaskConfig
from kexue.lru.train import RunConfig
from kexue.train import TrainConfig

ABLATION = ("dense", "diag_reim", "diag_exp", "stable_exp", "lru", "rnn")
TABLE1 = ("dense", "rnn")  # Table 1's linear and tanh RNNs: trained over `table1_seeds`
COMPARE = ("lru", "slru", "transformer", "lstm")


@dataclass
class LRUPreset:
    threads: int = 1  # torch threads (1: the timing clock is the thread's own CPU time)
    device: str = "cpu"  # where the scans are timed (the speed-up is a GPU claim: decided on cuda)
    init_n: int = 4000
    ring: tuple[float, float, float] = (0.5, 0.99, 2 * math.pi)  # r_min, r_max, max_phase of the init check
    gamma: tuple[int, int, int] = (64, 128, 800)  # d_state, batch, length of the white-noise check
    scan: tuple[int, tuple[int, ...], int] = (4096, (1, 8), 256)  # L, batches, width of the speed cells
    scan_repeats: int = 5
    depth_lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)  # op counts and time vs L
    seeds: tuple[int, ...] = (0, 1, 2)  # every trained run of the ablation and copy
    table1_seeds: tuple[int, ...] = (0, 1, 2)  # the dense linear and tanh RNNs (Table 1)
    ablation: RunConfig = field(default_factory=RunConfig)
    ablation_models: tuple[str, ...] = ABLATION
    copy: RunConfig = field(default_factory=RunConfig)
    copy_models: tuple[str, ...] = COMPARE
    listops: RunConfig = field(default_factory=lambda: RunConfig(TaskConfig("listops")))  # LRA's lengths
    listops_seeds: tuple[int, ...] = ()  # () : ListOps not trained at this preset (not checkable)
    compare_models: tuple[str, ...] = COMPARE  # ListOps
    lm: LMConfig = field(default_factory=LMConfig)


def _train(steps: int, batch: int, lr: float, log_every: int = 50) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch, lr=lr, weight_decay=0.05, schedule="cosine",
                       warmup=max(1, steps // 10), min_lr_ratio=1e-3, log_every=log_every)


def _lm(d_model: int, depth: int, steps: int, seeds: tuple[int, ...], train_chars: int, length: int = 64,
        long_length: int = 0, log_every: int = 25, vocab: int = 3000) -> LMConfig:
    return LMConfig(model=ModelConfig(d_model=d_model, depth=depth, norm="layer", r_min=0.5, r_max=0.99, heads=4),
                    train=TrainConfig(steps=steps, batch_size=32, lr=3e-3, weight_decay=0.05, schedule="cosine",
                                      warmup=max(1, steps // 10), clip=1.0, log_every=log_every),
                    seeds=seeds, length=length, long_length=long_length, train_chars=train_chars, vocab_size=vocab)


def preset(name: str) -> LRUPreset:
    """quick, standard, full or smoke (see the module's docstring)."""
    if name in ("quick", "standard"):
        std = name == "standard"
        small = ModelConfig(d_model=64, d_state=64, depth=2, r_min=0.5, r_max=0.99)
        tiny = ModelConfig(d_model=32, d_state=32, depth=1, r_min=0.5, r_max=0.99)
        task = small if std else tiny
        return LRUPreset(
            scan_repeats=5 if std else 4, seeds=(0, 1, 2) if std else (0, 1),
            table1_seeds=tuple(range(10)) if std else (0, 1),
            ablation=RunConfig(TaskConfig("smnist", n_train=4000, n_test=1000, image_size=10 if std else 8),
                               replace(task, r_min=0.9, r_max=0.999), _train(200 if std else 120, 32, 3e-3)),
            copy=RunConfig(TaskConfig("copy", n_train=4000, n_test=500), task, _train(200 if std else 150, 32, 3e-3)),
            copy_models=("lru", "slru", "transformer"),
            listops=RunConfig(TaskConfig("listops", n_train=4000, n_test=500), task, _train(200, 32, 3e-3)),
            lm=_lm(64, 2, 300, (0, 1, 2, 3), 400_000, 64, 256, 25, vocab=1500) if std
            else _lm(32, 1, 150, (0, 1), 150_000, vocab=1000))
    if name == "full":
        return LRUPreset(
            threads=0, device="cuda" if torch.cuda.is_available() else "cpu", init_n=100_000,
            gamma=(256, 512, 4000), scan=(16384, (1, 8), 256), scan_repeats=5,
            depth_lengths=(1024, 2048, 4096, 8192, 16384), seeds=(0, 1, 2), table1_seeds=(0, 1, 2),
            # sCIFAR's row of Table 9 on pixel Fashion-MNIST (L = 784): we ship no CIFAR
            ablation=RunConfig(TaskConfig("sfashion", n_train=60000, n_test=10000),
                               ModelConfig(d_model=512, d_state=384, dropout=0.1, r_min=0.9, r_max=0.999,
                                           lr_factor=0.25),
                               _train(180_000, 50, 4e-3, 500), eval_batch=500),
            copy=RunConfig(TaskConfig("copy", n_train=100_000, n_test=1000),
                           ModelConfig(d_model=128, d_state=64, r_min=0.9, r_max=0.999), _train(10_000, 50, 2e-3, 200)),
            # ListOps' row of Table 9 on LRA-specification data (500 < L < 2000)
            listops=RunConfig(TaskConfig("listops", n_train=96_000, n_test=2000), ModelConfig(),
                              _train(80_000, 32, 1e-3, 500)),
            listops_seeds=(0, 1, 2),
            # Su's lengths 128 and 512, a model of a few million parameters
            lm=_lm(256, 4, 20_000, (0, 1, 2), 1_600_000, 128, 512, 200))
    if name == "smoke":
        tiny = ModelConfig(d_model=8, d_state=8, depth=1, r_min=0.5, r_max=0.99)
        return LRUPreset(
            init_n=2000, gamma=(8, 16, 600), scan=(256, (1, 2), 16), scan_repeats=2,
            depth_lengths=(64, 128, 256), seeds=(0, 1), table1_seeds=(0, 1),
            ablation=RunConfig(TaskConfig("smnist", n_train=64, n_test=32, image_size=4), tiny,
                               _train(2, 16, 1e-3, 1)),
            copy=RunConfig(TaskConfig("copy", n_train=64, n_test=32, pattern=3, pad=2), tiny, _train(2, 16, 1e-3, 1)),
            # below LRA's lengths on purpose: the claim must come out "not checkable"
            listops=RunConfig(TaskConfig("listops", n_train=64, n_test=32, min_length=3, max_length=30, max_depth=3),
                              tiny, _train(2, 16, 1e-3, 1)),
            listops_seeds=(0, 1),
            lm=replace(_lm(8, 1, 2, (0, 1), 4000, 16, 32, 1), eval_chars=512, vocab_size=200))
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")
