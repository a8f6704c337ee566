"""`reproduce(preset, out_dir)` for post 9554: the LRU's layer claims, the paper's ablation, the comparison.

kexue.fm/archives/9554 and Orvieto et al. (2023). Claims checked:
1. ring init: |λ|² ~ U[r_min², r_max²], arg λ ~ U[0, max_phase]; the Glorot spectrum fills the disk;
2. γ = √(1 − |λ|²) keeps E|x|² = E|Bu|² under white noise, which is 1/(1 − |λ|²) times bigger without;
3. the closed form λ^t Σ λ^{−k} u_k overflows, the scans do not (and equal the loop);
4. the log-depth parallel scan trains much faster than the serial loop;
5. streaming `step` equals the parallel form (an RNN infers token by token at O(1) cost);
6. Table 2 in miniature: dense linear RNN → complex diagonal → exp → stable exp → LRU, on pixel MNIST;
7. Table 1: a linear recurrence in the deep block is no worse than a tanh RNN;
8. the LRU solves minimal-LRU's copy task;
9. on ListOps the LRU beats a Transformer (paper: 60.2 vs LRA's 36.4);
10. Su: complex helps, LRU ≥ SLRU.
The quick preset trains tiny models for a few hundred steps: the training claims are checked for
their direction only, and a verdict at this scale says little about the paper's numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kexue.lru import measure  # noqa: E402
from kexue.lru.model import ModelConfig  # noqa: E402
from kexue.lru.tasks import TaskConfig  # noqa: E402
from kexue.lru.train import RunConfig, run  # noqa: E402
from kexue.result import Claim, TopicResult  # noqa: E402
from kexue.train import TrainConfig  # noqa: E402

TITLE = "Google新作试图“复活”RNN：RNN能否再次辉煌？"
DATE = "2023-03-28"
POST = 9554
RELATED = [8610, 8265]
ABLATION = ("dense", "diag_reim", "diag_exp", "stable_exp", "lru", "rnn")
ABLATION_LABELS = {"dense": "dense A", "diag_reim": "Λ re+im", "diag_exp": "Λ exp", "stable_exp": "stable exp",
                   "lru": "+ ring + γ (LRU)", "rnn": "tanh RNN"}
COMPARE = ("lru", "slru", "transformer", "lstm")


@dataclass
class LRUPreset:
    threads: int = 1  # torch threads (1: robust on shared cores)
    init_n: int = 4000
    ring: tuple[float, float, float] = (0.5, 0.99, 2 * math.pi)  # r_min, r_max, max_phase of the init figure
    gamma: tuple[int, int, int] = (64, 128, 800)  # d_state, batch, length of the white-noise test
    scan: tuple[int, int, int] = (4096, 1, 256)  # L, batch, width of the speed cell
    ablation: RunConfig = field(default_factory=RunConfig)
    ablation_models: tuple[str, ...] = ABLATION
    copy: RunConfig = field(default_factory=RunConfig)
    listops: RunConfig = field(default_factory=RunConfig)
    compare_models: tuple[str, ...] = COMPARE


def _train(steps: int, batch: int, lr: float, log_every: int = 50) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=batch, lr=lr, weight_decay=0.05, schedule="cosine",
                       warmup=max(1, steps // 10), min_lr_ratio=1e-3, log_every=log_every)


def preset(name: str) -> LRUPreset:
    """quick: CPU, about 3 minutes on 2 cores. full: the paper's settings (Table 9), for a GPU.
    smoke: every step at toy size in seconds (tests use it)."""
    if name == "quick":
        small = ModelConfig(d_model=64, d_state=64, depth=2, r_min=0.5, r_max=0.99)
        return LRUPreset(
            ablation=RunConfig(TaskConfig("smnist", n_train=4000, n_test=1000, image_size=12),
                               replace(small, r_min=0.9, r_max=0.999), _train(200, 32, 3e-3)),
            copy=RunConfig(TaskConfig("copy", n_train=4000, n_test=500), small, _train(300, 32, 3e-3)),
            listops=RunConfig(TaskConfig("listops", n_train=4000, n_test=500, min_length=10, max_length=100,
                                         max_depth=6), small, _train(300, 32, 3e-3)))
    if name == "full":
        return LRUPreset(
            threads=0, init_n=100_000, gamma=(256, 512, 4000), scan=(16384, 8, 256),
            # sCIFAR's row of Table 9 on pixel Fashion-MNIST (L = 784): we ship no CIFAR
            ablation=RunConfig(TaskConfig("sfashion", n_train=60000, n_test=10000),
                               ModelConfig(d_model=512, d_state=384, dropout=0.1, r_min=0.9, r_max=0.999,
                                           lr_factor=0.25),
                               _train(180_000, 50, 4e-3, 500), eval_batch=500),
            copy=RunConfig(TaskConfig("copy", n_train=100_000, n_test=1000),
                           ModelConfig(d_model=128, d_state=64, r_min=0.9, r_max=0.999), _train(10_000, 50, 2e-3, 200)),
            # ListOps' row of Table 9 on LRA-specification data
            listops=RunConfig(TaskConfig("listops", n_train=96_000, n_test=2000), ModelConfig(),
                              _train(80_000, 32, 1e-3, 500)))
    if name == "smoke":  # the whole pipeline in seconds; its verdicts mean nothing
        tiny = ModelConfig(d_model=8, d_state=8, depth=1, r_min=0.5, r_max=0.99)
        return LRUPreset(
            init_n=500, gamma=(8, 16, 600), scan=(256, 1, 16),
            ablation=RunConfig(TaskConfig("smnist", n_train=64, n_test=32, image_size=4), tiny,
                               _train(2, 16, 1e-3, 1)),
            copy=RunConfig(TaskConfig("copy", n_train=64, n_test=32, pattern=3, pad=2), tiny, _train(2, 16, 1e-3, 1)),
            listops=RunConfig(TaskConfig("listops", n_train=64, n_test=32, min_length=3, max_length=30, max_depth=3),
                              tiny, _train(2, 16, 1e-3, 1)))
    raise ValueError(f"unknown preset {name!r}; choose quick, full or smoke")


def reproduce(preset_name: str, out_dir: Path, cfg: LRUPreset | None = None, progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    claims, metrics = [], {}

    r_min, r_max, max_phase = cfg.ring
    init = metrics["init"] = measure.init_statistics(cfg.init_n, r_min, r_max, max_phase, out_dir / "init.png")
    ok = max(init["ks_modulus2"], init["ks_phase"]) < init["ks_bound_0.1%"] and init["glorot_disk_max_error"] < 0.05
    claims.append(Claim(
        claim="A Glorot matrix's eigenvalues fill the unit disk uniformly; the ring init samples |λ|² ~ "
              "U[r_min², r_max²] and θ ~ U[0, max_phase], i.e. uniformly in area on the ring",
        measured=f"KS distance from uniform: |λ|² {init['ks_modulus2']:.4f}, phase {init['ks_phase']:.4f} "
                 f"(0.1 % bound {init['ks_bound_0.1%']:.4f}); Glorot P(|eig| < r) − r² at most "
                 f"{init['glorot_disk_max_error']:.3f}",
        verdict="held" if ok else "not held", figure="init.png"))

    gam = metrics["gamma"] = measure.gamma_effect(r_min, r_max, *cfg.gamma, out_dir / "gamma.png")
    ok = abs(gam["with_gamma_mean"] - 1) < 0.1 and gam["without_vs_prediction_rel_error"] < 0.1
    claims.append(Claim(
        claim="Under white noise E|x|² = E|Bu|² / (1 − r²): near r = 1 the state blows up; γ = √(1 − r²) "
              "keeps it at the input's scale (Prop. 3)",
        measured=f"E|x|²/E|Bu|² without γ: mean {gam['without_gamma_mean']:.2f} "
                 f"(max {gam['without_gamma_max']:.1f}), "
                 f"{100 * gam['without_vs_prediction_rel_error']:.1f} % from 1/(1 − r²) per channel; "
                 f"with γ: {gam['with_gamma_mean']:.3f}",
        verdict="held" if ok else "not held", figure="gamma.png"))

    over = metrics["closed_form"] = measure.closed_form_overflow()
    worst = max(over["scan_max_abs_error"].values())
    ok = over["closed_form_nonfinite"] > 0 and worst < 1e-4 * over["reference_max_abs"]
    claims.append(Claim(
        claim="x_t = λ^t Σ λ^{−k} u_k is exact on paper but overflows in practice, even in fp32; the "
              "Upper/Lower (and odd/even) scans are stable",
        measured=f"|λ| = {over['radius']}, L = {over['length']}, complex64: the closed form is inf/nan from "
                 f"t = {over['closed_form_first_nonfinite_t']}; every scan within {worst:.1e} of the loop",
        verdict="held" if ok else "not held"))

    speed = metrics["scan_speed"] = measure.scan_speed(*cfg.scan)
    best = max(speed["speedup_parallel"], speed["speedup_chunked"])
    claims.append(Claim(
        claim="The parallel scan turns L serial steps into O(log L) and trains much faster than the loop",
        measured=f"fwd+bwd at L = {cfg.scan[0]}, batch {cfg.scan[1]}, N = {cfg.scan[2]}: loop "
                 f"{speed['sequential_ms']:.1f} ms, odd/even {speed['parallel_ms']:.1f} ms "
                 f"({speed['speedup_parallel']:.1f}×), chunked {speed['chunked_ms']:.1f} ms "
                 f"({speed['speedup_chunked']:.1f}×)",
        verdict="held" if best >= 3 else "not held"))

    stream = metrics["streaming"] = measure.streaming_parity()
    claims.append(Claim(
        claim="Inference is a plain RNN: token-by-token `step` gives the parallel form's outputs at O(1) per token",
        measured=f"max |step − parallel| = {stream['max_abs_diff']:.1e} (outputs up to "
                 f"{stream['output_max_abs']:.1f}); {stream['us_per_step']:.0f} µs per step",
        verdict="held" if stream["max_abs_diff"] < 1e-4 * stream["output_max_abs"] else "not held"))

    ablation = metrics["ablation"] = _runs(cfg.ablation, cfg.ablation_models, out_dir / "runs" / "ablation",
                                           progress)
    _plot_bars(ablation, [ABLATION_LABELS.get(m, m) for m in ablation], out_dir / "ablation.png",
               f"{cfg.ablation.task.task}, L = {_length(cfg.ablation.task)}: test accuracy")
    acc = {m: r["test_acc"] for m, r in ablation.items()}
    if "lru" in acc and "dense" in acc:
        claims.append(Claim(
            claim="Table 2: from a dense linear RNN to the LRU each step helps (sCIFAR 72.2 → 86.5 → 85.4 → "
                  "87.2 → 88.1/89.0)",
            measured=" → ".join(f"{ABLATION_LABELS[m]} {100 * acc[m]:.1f}" for m in ABLATION
                                if m in acc and m != "rnn"),
            verdict="held" if acc["lru"] > acc["dense"] else "not held", figure="ablation.png"))
    if "rnn" in acc and "dense" in acc:
        claims.append(Claim(
            claim="Table 1: in the deep block a linear RNN is no worse than a tanh RNN (sCIFAR 72.2 vs 69.9, "
                  "ListOps 50.4 vs 43.9)",
            measured=f"linear (dense) {100 * acc['dense']:.1f} %, tanh {100 * acc['rnn']:.1f} %",
            verdict="held" if acc["dense"] >= acc["rnn"] - 0.01 else "not held", figure="ablation.png"))

    copy = metrics["copy"] = _runs(cfg.copy, cfg.compare_models, out_dir / "runs" / "copy", progress)
    listops = metrics["listops"] = _runs(cfg.listops, cfg.compare_models, out_dir / "runs" / "listops", progress)
    _plot_compare(copy, listops, out_dir / "compare.png")
    if "lru" in copy:
        claims.append(Claim(
            claim="The LRU solves the copy task (minimal-LRU: 100 % within a few epochs)",
            measured="test accuracy per copied token: " + ", ".join(f"{m} {100 * r['test_acc']:.1f} %"
                                                                     for m, r in copy.items()),
            verdict="held" if copy["lru"]["test_acc"] >= 0.99 else "not held", figure="compare.png"))
    if "lru" in listops and "transformer" in listops:
        claims.append(Claim(
            claim="On ListOps the LRU beats a Transformer (LRU 60.2 vs Transformer 36.4 on LRA)",
            measured=f"ListOps {cfg.listops.task.min_length} < L < {cfg.listops.task.max_length}: "
                     + ", ".join(f"{m} {100 * r['test_acc']:.1f} %" for m, r in listops.items()),
            verdict="held" if listops["lru"]["test_acc"] > listops["transformer"]["test_acc"] else "not held",
            figure="compare.png"))
    if "lru" in copy and "slru" in copy:
        mean = {m: (copy[m]["test_acc"] + listops[m]["test_acc"]) / 2 for m in ("lru", "slru")}
        claims.append(Claim(
            claim="Su: complex projections and eigenvalues help, LRU > SLRU "
                  "(his 100M LM: GAU > SA > RWKV > LRU > SLRU)",
            measured=f"mean test accuracy over copy and ListOps: LRU {100 * mean['lru']:.1f} %, "
                     f"SLRU {100 * mean['slru']:.1f} %",
            verdict="held" if mean["lru"] >= mean["slru"] else "not held", figure="compare.png"))

    figures = ["init.png", "gamma.png", "ablation.png", "compare.png"]
    return TopicResult(topic="lru", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                       metrics=metrics, figures=figures, related_posts=RELATED)


def ablation_config(base: RunConfig, model: str) -> RunConfig:
    """The ablation's diagonal steps start from the Glorot disk (r_max = 1), the LRU from its ring."""
    if model in ("diag_reim", "diag_exp", "stable_exp"):
        return replace(base, model=replace(base.model, model=model, r_min=0.0, r_max=1.0))
    return replace(base, model=replace(base.model, model=model))


def _runs(base: RunConfig, models: tuple[str, ...], out: Path, progress: bool) -> dict[str, dict]:
    from kexue.lru.tasks import build_task

    data = build_task(base.task)  # one data set for every model
    rows = {}
    for m in models:
        s = run(ablation_config(base, m), out / m, progress=progress, data=data)
        rows[m] = {"test_acc": s["test_acc"], "test_loss": s["test_loss"], "params": s["params"],
                   "seconds": s["seconds"], "final_loss": s["final_loss"]}
    return rows


def _length(task: TaskConfig) -> int:
    return task.image_size ** 2 if task.order != "row" else task.image_size


def _plot_bars(rows: dict[str, dict], labels: list[str], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.bar(range(len(rows)), [100 * r["test_acc"] for r in rows.values()], color="C0")
    ax.set_xticks(range(len(rows)), labels, rotation=20, fontsize=8)
    ax.set(ylabel="test accuracy %", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_compare(copy: dict[str, dict], listops: dict[str, dict], path: Path) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(8, 3.4))
    for a, rows, title in ((ax[0], copy, "copy"), (ax[1], listops, "ListOps (short)")):
        a.bar(range(len(rows)), [100 * r["test_acc"] for r in rows.values()], color=[f"C{i}" for i in range(len(rows))])
        a.set_xticks(range(len(rows)), list(rows), fontsize=8)
        a.set(ylabel="test accuracy %", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
