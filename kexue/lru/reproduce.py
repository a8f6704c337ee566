"""`reproduce(preset, out_dir)` for post 9554: the LRU's layer claims, the paper's ablation, the comparison.

kexue.fm/archives/9554 and Orvieto et al. (2023). Claims checked:
1. ring init: |λ|² ~ U[r_min², r_max²], arg λ ~ U[0, max_phase]; the Glorot spectrum fills the disk;
2. γ = √(1 − |λ|²) keeps E|x|² = E|Bu|² under white noise, which is 1/(1 − |λ|²) times bigger without;
3. the closed form λ^t Σ λ^{−k} u_k overflows, the scans do not (and equal the loop);
4. the parallel scan takes O(log L) dependent steps (ops counted exactly; time vs L at tiny width);
5. it is much faster than the loop at batch 1 and 8, forward and forward + backward (repeats, intervals);
6. streaming `step` equals the parallel form (an RNN infers token by token at O(1) cost);
7. Table 2 in miniature, every step: dense linear RNN → complex diagonal → exp → stable exp → LRU;
8. Table 1: a linear recurrence in the deep block is no worse than a tanh RNN;
9. the LRU solves minimal-LRU's copy task;
10. on ListOps the LRU beats a Transformer (paper: 60.2 vs LRA's 36.4);
11. Su: complex helps, LRU > SLRU — on a People's Daily LM (lm.py) at equal parameters: the SLRU gets
    twice the units, as in Su's bojone/rnn (issue 15 §4); the copy/ListOps runs match sizes the same way;
12. Su's LM ranking at 100M, SA > LRU > SLRU, at CPU size;
13. "RNNs fall further behind as training length grows" — at two training lengths when the preset has
    them (standard), else not checkable.
Trained claims run several seeds and are decided by the rules of `claims.py` (ties are inconclusive,
floors at the majority class / unigram loss). The quick preset trains tiny models for a few hundred
steps and one or two seeds: many of its trained verdicts are "inconclusive", as they should be.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from kexue.lru import claims as rules
from kexue.lru import measure
from kexue.lru.figures import plot_bars, plot_compare, plot_lm, plot_scan
from kexue.lru.lm import LMConfig
from kexue.lru.lm import compare as lm_compare
from kexue.lru.model import ModelConfig
from kexue.lru.tasks import IGNORE, TaskConfig
from kexue.lru.train import RunConfig, run
from kexue.result import Claim, TopicResult
from kexue.train import TrainConfig
from kexue.verdicts import Floor, at_least, better, floors, no_better, not_checkable

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
    scan: tuple[int, tuple[int, ...], int] = (4096, (1, 8), 256)  # L, batches, width of the speed cells
    scan_repeats: int = 3
    depth_lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)  # op counts and time vs L
    seeds: tuple[int, ...] = (0, 1, 2)  # every trained run of the ablation, copy and ListOps
    ablation: RunConfig = field(default_factory=RunConfig)
    ablation_models: tuple[str, ...] = ABLATION
    copy: RunConfig = field(default_factory=RunConfig)
    listops: RunConfig = field(default_factory=RunConfig)
    compare_models: tuple[str, ...] = COMPARE
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
    """quick: CPU, ≤ 150 s alone on 2 cores; one or two seeds, so most trained verdicts are inconclusive.
    standard: ≤ 10 min on 2 cores, three seeds and longer training, the LM at two lengths.
    full: the paper's settings (Table 9), for a GPU. smoke: every step at toy size in seconds (tests)."""
    if name in ("quick", "standard"):
        std = name == "standard"
        small = ModelConfig(d_model=64, d_state=64, depth=2, r_min=0.5, r_max=0.99)
        tiny = ModelConfig(d_model=32, d_state=32, depth=1, r_min=0.5, r_max=0.99)
        task = small if std else tiny
        return LRUPreset(
            scan=(4096, (1, 8), 256), scan_repeats=5 if std else 3, seeds=(0, 1, 2) if std else (0, 1),
            ablation=RunConfig(TaskConfig("smnist", n_train=4000, n_test=1000, image_size=10 if std else 8),
                               replace(task, r_min=0.9, r_max=0.999), _train(200 if std else 120, 32, 3e-3)),
            copy=RunConfig(TaskConfig("copy", n_train=4000, n_test=500), task, _train(200 if std else 150, 32, 3e-3)),
            listops=RunConfig(TaskConfig("listops", n_train=4000, n_test=500, min_length=10, max_length=100,
                                         max_depth=6), task, _train(200 if std else 120, 32, 3e-3)),
            lm=_lm(64, 2, 300, (0, 1, 2), 400_000, 64, 256, 25, vocab=1500) if std
            else _lm(32, 1, 150, (0, 1), 150_000, vocab=1000))
    if name == "full":
        return LRUPreset(
            threads=0, init_n=100_000, gamma=(256, 512, 4000), scan=(16384, (1, 8), 256), scan_repeats=5,
            depth_lengths=(1024, 2048, 4096, 8192, 16384), seeds=(0, 1, 2),
            # sCIFAR's row of Table 9 on pixel Fashion-MNIST (L = 784): we ship no CIFAR
            ablation=RunConfig(TaskConfig("sfashion", n_train=60000, n_test=10000),
                               ModelConfig(d_model=512, d_state=384, dropout=0.1, r_min=0.9, r_max=0.999,
                                           lr_factor=0.25),
                               _train(180_000, 50, 4e-3, 500), eval_batch=500),
            copy=RunConfig(TaskConfig("copy", n_train=100_000, n_test=1000),
                           ModelConfig(d_model=128, d_state=64, r_min=0.9, r_max=0.999), _train(10_000, 50, 2e-3, 200)),
            # ListOps' row of Table 9 on LRA-specification data
            listops=RunConfig(TaskConfig("listops", n_train=96_000, n_test=2000), ModelConfig(),
                              _train(80_000, 32, 1e-3, 500)),
            # Su's lengths 128 and 512, a model of a few million parameters
            lm=_lm(256, 4, 20_000, (0, 1, 2), 1_600_000, 128, 512, 200))
    if name == "smoke":  # the whole pipeline in seconds; its verdicts mean nothing
        tiny = ModelConfig(d_model=8, d_state=8, depth=1, r_min=0.5, r_max=0.99)
        return LRUPreset(
            init_n=500, gamma=(8, 16, 600), scan=(256, (1, 2), 16), scan_repeats=2,
            depth_lengths=(64, 128, 256), seeds=(0, 1),
            ablation=RunConfig(TaskConfig("smnist", n_train=64, n_test=32, image_size=4), tiny,
                               _train(2, 16, 1e-3, 1)),
            copy=RunConfig(TaskConfig("copy", n_train=64, n_test=32, pattern=3, pad=2), tiny, _train(2, 16, 1e-3, 1)),
            listops=RunConfig(TaskConfig("listops", n_train=64, n_test=32, min_length=3, max_length=30, max_depth=3),
                              tiny, _train(2, 16, 1e-3, 1)),
            lm=replace(_lm(8, 1, 2, (0, 1), 4000, 16, 32, 1), eval_chars=512, vocab_size=200))
    raise ValueError(f"unknown preset {name!r}; choose quick, standard, full or smoke")


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
        verdict="held" if ok else "not held", figure="init.png",
        rule="KS distances of |λ|² and arg λ below the 0.1 % critical value 1.95/√n, and |P(|eig| < r) − r²| "
             "< 0.05 at r = ¼, ½, ¾"))

    gam = metrics["gamma"] = measure.gamma_effect(r_min, r_max, *cfg.gamma, out_dir / "gamma.png")
    ok = abs(gam["with_gamma_mean"] - 1) < 0.1 and gam["without_vs_prediction_rel_error"] < 0.1
    claims.append(Claim(
        claim="Under white noise E|x|² = E|Bu|² / (1 − r²): near r = 1 the state blows up; γ = √(1 − r²) "
              "keeps it at the input's scale (Prop. 3)",
        measured=f"E|x|²/E|Bu|² without γ: mean {gam['without_gamma_mean']:.2f} "
                 f"(max {gam['without_gamma_max']:.1f}), "
                 f"{100 * gam['without_vs_prediction_rel_error']:.1f} % from 1/(1 − r²) per channel; "
                 f"with γ: {gam['with_gamma_mean']:.3f}",
        verdict="held" if ok else "not held", figure="gamma.png",
        rule="with γ the mean power ratio within 0.1 of 1, without γ within 10 % of 1/(1 − |λ|²) per channel"))

    over = metrics["closed_form"] = measure.closed_form_overflow()
    worst = max(over["scan_max_abs_error"].values())
    ok = over["closed_form_nonfinite"] > 0 and worst < 1e-4 * over["reference_max_abs"]
    claims.append(Claim(
        claim="x_t = λ^t Σ λ^{−k} u_k is exact on paper but overflows in practice, even in fp32; the "
              "Upper/Lower (and odd/even) scans are stable",
        measured=f"|λ| = {over['radius']}, L = {over['length']}, complex64: the closed form is inf/nan from "
                 f"t = {over['closed_form_first_nonfinite_t']}; every scan within {worst:.1e} of the loop",
        verdict="held" if ok else "not held",
        rule="the closed form has a non-finite value and every scan is within 1e-4 × max|x| of the loop"))

    depth = metrics["scan_depth"] = measure.scan_depth(cfg.depth_lengths)
    timed = metrics["scan_time_vs_length"] = measure.scan_time_vs_length(cfg.depth_lengths, cfg.scan_repeats)
    slope = {m: float(np.polyfit(np.log(list(t)), np.log(list(t.values())), 1)[0]) for m, t in timed.items()}
    metrics["scan_time_slope"] = slope
    claims.append(rules.log_depth(depth["parallel"], depth["sequential"]).to_claim(
        claim="The parallel scan turns L serial steps into O(log L)",
        measured=f"ops dispatched per scan at L = {', '.join(map(str, cfg.depth_lengths))}: parallel "
                 f"{', '.join(str(depth['parallel'][L]) for L in cfg.depth_lengths)}, loop "
                 f"{', '.join(str(depth['sequential'][L]) for L in cfg.depth_lengths)}; forward time at width 1 "
                 f"grows as L^{slope['parallel']:.2f} (parallel) vs L^{slope['sequential']:.2f} (loop)",
        figure="scan.png"))

    L, batches, width = cfg.scan
    cells = metrics["scan_speed"] = measure.scan_cells(L, batches, width, cfg.scan_repeats)
    claims.append(rules.much_faster({k: (c["sequential"], c["parallel"]) for k, c in cells.items()}).to_claim(
        claim="The parallel scan trains much faster than the loop (the post: Upper/Lower in TF1 only just "
              "reaches attention's speed)",
        measured=f"L = {L}, N = {width}, complex64, odd/even scan vs loop: "
                 + "; ".join(f"{k.replace('_', ' ')} {np.median(c['sequential']) / np.median(c['parallel']):.1f}× "
                             f"(chunked {np.median(c['sequential']) / np.median(c['chunked']):.1f}×)"
                             for k, c in cells.items()) + " (medians; min and all repeats in results.json)",
        figure="scan.png"))
    plot_scan(depth, timed, cells, out_dir / "scan.png")

    stream = metrics["streaming"] = measure.streaming_parity()
    claims.append(Claim(
        claim="Inference is a plain RNN: token-by-token `step` gives the parallel form's outputs at O(1) per token",
        measured=f"max |step − parallel| = {stream['max_abs_diff']:.1e} (outputs up to "
                 f"{stream['output_max_abs']:.1f}); {stream['us_per_step']:.0f} µs per step",
        verdict="held" if stream["max_abs_diff"] < 1e-4 * stream["output_max_abs"] else "not held",
        rule="max |step − parallel| < 1e-4 × max |output|"))

    ablation, majority = _runs(cfg.ablation, cfg.ablation_models, cfg.seeds, out_dir / "runs" / "ablation", progress)
    metrics["ablation"] = ablation
    plot_bars(ablation, [ABLATION_LABELS.get(m, m) for m in ablation], out_dir / "ablation.png",
               f"{cfg.ablation.task.task}, L = {_length(cfg.ablation.task)}: test accuracy over {len(cfg.seeds)} seeds")
    acc = {m: r["test_acc"] for m, r in ablation.items()}
    if all(m in acc for m in rules.TABLE2):
        claims.append(rules.ablation_steps(acc, majority).to_claim(
            claim="Table 2: from a dense linear RNN to the LRU step by step (sCIFAR 72.2 → re+im 86.5 → exp "
                  "85.4 → stable exp 87.2 → LRU 89.0)",
            measured=" → ".join(f"{ABLATION_LABELS[m]} {100 * np.mean(acc[m]):.1f}" for m in rules.TABLE2)
                     + f" (mean of {len(cfg.seeds)} seeds, majority class {100 * majority:.1f} %)",
            figure="ablation.png", evidence={ABLATION_LABELS[m]: acc[m] for m in rules.TABLE2}))
    if "rnn" in acc and "dense" in acc:
        d = floors([Floor(f"{m} accuracy", float(np.mean(acc[m])), majority, True, 0.05) for m in ("dense", "rnn")],
                   no_better(acc["rnn"], acc["dense"], tolerance=0.01, names=("tanh RNN", "linear RNN")))
        claims.append(d.to_claim(
            claim="Table 1: in the deep block a linear RNN is no worse than a tanh RNN (sCIFAR 72.2 vs 69.9, "
                  "ListOps 50.4 vs 43.9)",
            measured=f"linear (dense) {100 * np.mean(acc['dense']):.1f} %, tanh {100 * np.mean(acc['rnn']):.1f} %",
            figure="ablation.png", evidence={"linear (dense)": acc["dense"], "tanh RNN": acc["rnn"]}))

    copy, copy_major = _runs(cfg.copy, cfg.compare_models, cfg.seeds, out_dir / "runs" / "copy", progress)
    listops, lo_major = _runs(cfg.listops, cfg.compare_models, cfg.seeds, out_dir / "runs" / "listops", progress)
    metrics["copy"], metrics["listops"] = copy, listops
    plot_compare(copy, listops, out_dir / "compare.png")
    if "lru" in copy:
        a = copy["lru"]["test_acc"]
        d = at_least(float(np.mean(a)), 0.99, noise=float(np.std(a, ddof=1)) if len(a) > 1 else 0.0,
                     name="mean LRU copy accuracy")
        claims.append(d.to_claim(
            claim="The LRU solves the copy task (minimal-LRU: 100 % within a few epochs)",
            measured="test accuracy per copied token: " + ", ".join(
                f"{m} {100 * np.mean(r['test_acc']):.1f} %" for m, r in copy.items()),
            figure="compare.png", evidence={m: r["test_acc"] for m, r in copy.items()}))
    if "lru" in listops and "transformer" in listops:
        d = floors([Floor(f"{m} accuracy", float(np.mean(listops[m]["test_acc"])), lo_major, True, 0.02)
                    for m in ("lru", "transformer")],
                   better(listops["lru"]["test_acc"], listops["transformer"]["test_acc"], names=("LRU", "Transformer")))
        claims.append(d.to_claim(
            claim="On ListOps the LRU beats a Transformer (LRU 60.2 vs Transformer 36.4 on LRA)",
            measured=f"ListOps {cfg.listops.task.min_length} < L < {cfg.listops.task.max_length}: "
                     + ", ".join(f"{m} {100 * np.mean(r['test_acc']):.1f} %" for m, r in listops.items())
                     + f" (majority class {100 * lo_major:.1f} %)",
            figure="compare.png", evidence={m: r["test_acc"] for m, r in listops.items()}))

    lm = metrics["lm"] = lm_compare(cfg.lm, out_dir / "runs" / "lm", progress)
    short = lm["loss"][cfg.lm.length]
    sizes = {r["mixer"]: (r["mixer_params"], r["d_state"]) for r in lm["rows"]}
    plot_lm(lm, out_dir / "lm.png")
    if {"lru", "slru"} <= set(short):
        d = floors([Floor(f"{m} LM loss", float(np.mean(short[m])), lm["unigram"], False, 0.1) for m in ("lru", "slru")],
                   better(short["lru"], short["slru"], higher_is_better=False, names=("LRU", "SLRU")))
        claims.append(d.to_claim(
            claim="Su: complex projections and eigenvalues help — LRU > SLRU as a language model at equal "
                  "parameters (the SLRU gets twice the units, as in Su's bojone/rnn)",
            measured=f"held-out loss on People's Daily, L = {cfg.lm.length}: LRU {np.mean(short['lru']):.3f}, "
                     f"SLRU {np.mean(short['slru']):.3f} nats/char; mixer parameters LRU {sizes['lru'][0]:,} "
                     f"(N = {sizes['lru'][1]} complex), SLRU {sizes['slru'][0]:,} (N = {sizes['slru'][1]} real); "
                     f"unigram {lm['unigram']:.2f}",
            figure="lm.png", evidence={"LRU": short["lru"], "SLRU": short["slru"]}))
    if set(rules.RANKING) <= set(short):
        claims.append(rules.ranking(short, lm["unigram"]).to_claim(
            claim="Su's LM ranking at 100M (GAU > SA > RWKV > LRU > SLRU), the part kexue can build: SA > LRU > SLRU",
            measured=", ".join(f"{m} {np.mean(v):.3f}" for m, v in short.items())
                     + f" nats/char (L = {cfg.lm.length}, {cfg.lm.train.steps} steps; mixer parameters "
                     + ", ".join(f"{m} {p:,}" for m, (p, _) in sizes.items()) + ")",
            figure="lm.png", evidence={m: v for m, v in short.items()}))
    claim_len = "RNNs fall further behind attention as the training length grows (Su: 128 → 512)"
    if cfg.lm.long_length and {"lru", "transformer"} <= set(short):
        long = lm["loss"][cfg.lm.long_length]
        gaps = {n: [r - a for r, a in zip(lm["loss"][n]["lru"], lm["loss"][n]["transformer"])] for n in lm["lengths"]}
        claims.append(rules.gap_grows(short, long).to_claim(
            claim=claim_len,
            measured=f"LRU − SA held-out loss: {np.mean(gaps[cfg.lm.length]):+.3f} at L = {cfg.lm.length}, "
                     f"{np.mean(gaps[cfg.lm.long_length]):+.3f} at L = {cfg.lm.long_length} nats/char",
            figure="lm.png", evidence={f"gap L={n}": g for n, g in gaps.items()}))
    else:
        claims.append(not_checkable(
            "this preset trains the LM at one length only; the gap needs two lengths × seeds (the standard "
            "preset trains 64 and 256)").to_claim(claim=claim_len, measured="not run at this preset"))

    figures = ["init.png", "gamma.png", "scan.png", "ablation.png", "compare.png", "lm.png"]
    return TopicResult(topic="lru", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                       metrics=metrics, figures=figures, related_posts=RELATED)


def ablation_config(base: RunConfig, model: str) -> RunConfig:
    """The ablation's diagonal steps start from the Glorot disk (r_max = 1), the LRU from its ring; the
    SLRU gets twice the LRU's state size, so their parameters match as in Su's bojone/rnn."""
    if model in ("diag_reim", "diag_exp", "stable_exp"):
        return replace(base, model=replace(base.model, model=model, r_min=0.0, r_max=1.0))
    if model == "slru":
        return replace(base, model=replace(base.model, model=model, d_state=2 * base.model.d_state))
    return replace(base, model=replace(base.model, model=model))


def _runs(base: RunConfig, models: tuple[str, ...], seeds: tuple[int, ...], out: Path,
          progress: bool) -> tuple[dict[str, dict], float]:
    """Every model × seed on one data set: per model the per-seed test accuracies; and the majority rate."""
    from kexue.lru.tasks import build_task

    data = build_task(base.task)  # one data set for every model and seed
    labels = data[1].y[data[1].y != IGNORE].flatten().tolist()
    majority = Counter(labels).most_common(1)[0][1] / len(labels)
    rows = {}
    for m in models:
        runs = [run(replace(ablation_config(base, m), train=replace(base.train, seed=s)), out / f"{m}-seed{s}",
                    progress=progress, data=data) for s in seeds]
        rows[m] = {"test_acc": [r["test_acc"] for r in runs], "test_loss": [r["test_loss"] for r in runs],
                   "params": runs[0]["params"], "seconds": sum(r["seconds"] or 0 for r in runs),
                   "final_loss": [r["final_loss"] for r in runs]}
    return rows, majority


def _length(task: TaskConfig) -> int:
    return task.image_size ** 2 if task.order != "row" else task.image_size

