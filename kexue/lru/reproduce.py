"""`reproduce(preset, out_dir)` for post 9554: the LRU's identities, the paper's ablations, the comparisons.

kexue.fm/archives/9554 and Orvieto et al. (2023). One function per claim or check below; the numbers
come from `measure.py` / `measure_scan.py` / the training runs, the verdicts from the rules of
`claims.py`, the figures from `figures.py`.

Checks (identities, each with a negative control): the ring init is uniform in area and the Glorot
spectrum fills the disk; γ = √(1 − |λ|²) undoes the 1/(1 − |λ|²) growth of the state's power; the closed
form λ^t Σ λ^{−k} u_k overflows; every scan equals the loop; the parallel scan takes O(log L) steps;
token-by-token `step` equals the parallel form.

Claims (the post's words in `claims.QUOTES`): the scan greatly speeds up training (a GPU claim); Table 2
step by step; Table 1, a linear RNN no worse than a tanh RNN; the LRU copies as attention does; on ListOps
(at LRA's lengths) the LRU beats attention; complex helps (LRU > SLRU); SA > LRU > SLRU as LMs; the
RNN falls further behind as the training length grows.

The trained runs (model × seed, the LM's length × seed × mixer) run side by side on the cores the topic
has (kexue.parallel.map_runs), after the scans are timed alone.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from kexue.lru import claims as rules
from kexue.lru import measure
from kexue.lru.claims import QUOTES
from kexue.lru.figures import plot_bars, plot_compare, plot_gamma, plot_init, plot_lm, plot_scan
from kexue.lru.lm import compare as lm_compare
from kexue.lru.presets import ABLATION, COMPARE, TABLE1, LRUPreset, preset
from kexue.lru.tasks import IGNORE, TaskConfig
from kexue.lru.train import RunConfig, run
from kexue.parallel import map_runs
from kexue.result import Check, Claim, Draw, TopicResult, save_then_draw

__all__ = ["reproduce", "preset", "LRUPreset", "ablation_config", "ABLATION", "COMPARE"]

TITLE = "Google新作试图“复活”RNN：RNN能否再次辉煌？"
DATE = "2023-03-28"
POST = 9554
RELATED = [8610, 8265]
ABLATION_LABELS = {"dense": "dense A", "diag_reim": "Λ re+im", "diag_exp": "Λ exp", "stable_exp": "stable exp",
                   "lru": "+ ring + γ (LRU)", "rnn": "tanh RNN"}
FIGURES = ["init.png", "gamma.png", "scan.png", "ablation.png", "compare.png", "lm.png"]


def reproduce(preset_name: str, out_dir: Path, cfg: LRUPreset | None = None, progress: bool = False) -> TopicResult:
    cfg = cfg or preset(preset_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    m: dict = {}
    draws: dict[str, Draw] = {}  # each figure's drawing, done after result.json (save_then_draw)
    checks = [*_init_checks(cfg, m, draws), _gamma_check(cfg, m, draws), *_recurrence_checks(m),
              _depth_check(cfg, m), _streaming_check(m)]
    claims = [_speed_claim(cfg, m, draws)]
    runs = out_dir / "runs"
    m["ablation"], majority = _runs(cfg.ablation, cfg.ablation_models, cfg.seeds, runs / "ablation", progress,
                                    seeds_for={k: cfg.table1_seeds for k in TABLE1})
    draws["ablation.png"] = lambda path: plot_bars(
        m["ablation"], [ABLATION_LABELS.get(k, k) for k in m["ablation"]], path,
        f"{cfg.ablation.task.task}, L = {_length(cfg.ablation.task)}: test accuracy per seed")
    claims += [_table2_claim(m["ablation"], majority, len(cfg.seeds)), _table1_claim(m["ablation"], majority)]
    m["copy"], copy_majority = _runs(cfg.copy, cfg.copy_models, cfg.seeds, runs / "copy", progress)
    m["listops"], listops_majority = ({}, 0.0) if not cfg.listops_seeds else _runs(
        cfg.listops, cfg.compare_models, cfg.listops_seeds, runs / "listops", progress)
    draws["compare.png"] = lambda path: plot_compare(m["copy"], m["listops"], path)
    claims += [_copy_claim(m["copy"], copy_majority), _listops_claim(cfg, m["listops"], listops_majority)]
    lm = m["lm"] = lm_compare(cfg.lm, runs / "lm", progress)
    draws["lm.png"] = lambda path: plot_lm(lm, path)
    claims += [_complex_claim(cfg, lm), _ranking_claim(cfg, lm), _length_claim(cfg, lm)]
    result = TopicResult(topic="lru", post=POST, title=TITLE, date=DATE, preset=preset_name, claims=claims,
                         checks=checks, metrics=m, figures=FIGURES, related_posts=RELATED)
    return save_then_draw(result, out_dir, draws)


# --- checks ---

def _init_checks(cfg: LRUPreset, m: dict, draws: dict[str, Draw]) -> list[Check]:
    r_min, r_max, max_phase = cfg.ring
    init, lam, eig = measure.ring_and_disk(cfg.init_n, r_min, r_max, max_phase)
    m["init"] = init
    draws["init.png"] = lambda path: plot_init(eig, lam, cfg.ring, path)
    n = init["n"]
    ring = rules.ks_uniform(max(init["ks_modulus2"], init["ks_phase"]), n, "|λ|² and arg λ")
    ring_control = rules.ks_uniform(init["control_ks_modulus2_uniform_radius"], n, "|λ|²")
    disk = rules.disk_law(init["glorot_disk_max_error"])
    disk_control = rules.disk_law(init["control_disk_max_error_uniform_radius"])
    return [
        ring.to_check(
            identity=f"The ring init samples |λ|² ~ U[r_min², r_max²] and arg λ ~ U[0, max_phase], i.e. λ "
                     f"uniform in area on the ring (r ∈ [{r_min}, {r_max}])",
            measured=f"KS distance from uniform: |λ|² {init['ks_modulus2']:.4f}, arg λ {init['ks_phase']:.4f} "
                     f"(n = {n})",
            control=ring_control, control_name="r ~ U[r_min, r_max] (uniform in radius, not in area)",
            figure="init.png"),
        disk.to_check(
            identity="A Glorot matrix's eigenvalues fill the unit disk uniformly: P(|eig| < r) = r²",
            measured=f"{init['glorot_n']}×{init['glorot_n']} Glorot matrix: max |P(|eig| < r) − r²| = "
                     f"{init['glorot_disk_max_error']:.3f} at r = ¼, ½, ¾",
            control=disk_control, control_name="the same eigenvalues against P(|eig| < r) = r (uniform in radius)",
            figure="init.png")]


def _gamma_check(cfg: LRUPreset, m: dict, draws: dict[str, Draw]) -> Check:
    gam, curves = measure.gamma_effect(cfg.ring[0], cfg.ring[1], *cfg.gamma)
    m["gamma"] = gam
    draws["gamma.png"] = lambda path: plot_gamma(curves, path)
    control = rules.gamma_power(gam["with_gamma_mean"], gam["control_without_vs_1_over_1_minus_r_rel_error"])
    return rules.gamma_power(gam["with_gamma_mean"], gam["without_vs_prediction_rel_error"]).to_check(
        identity="Under white noise E|x|² = E|Bu|² / (1 − |λ|²) per channel (Prop. 3); γ = √(1 − |λ|²) "
                 "brings it back to E|Bu|²",
        measured=f"E|x|²/E|Bu|² without γ: mean {gam['without_gamma_mean']:.2f} "
                 f"(max {gam['without_gamma_max']:.1f}), "
                 f"{100 * gam['without_vs_prediction_rel_error']:.1f} % from 1/(1 − |λ|²); with γ "
                 f"{gam['with_gamma_mean']:.3f}",
        control=control, control_name="the prediction 1/(1 − |λ|) (the modulus, not its square)",
        figure="gamma.png")


def _recurrence_checks(m: dict) -> list[Check]:
    over = m["closed_form"] = measure.closed_form_overflow()
    scans = m["scans_vs_loop"] = measure.scans_vs_loop()
    worst = max(scans["scan_max_abs_error"].values())
    scale = scans["reference_max_abs"]
    return [
        rules.overflows(over["closed_form_nonfinite"], over["length"]).to_check(
            identity="x_t = λ^t Σ λ^{−k} u_k, exact on paper, overflows in practice (complex64)",
            measured=f"|λ| = {over['radius']}, L = {over['length']}: inf/nan from t = "
                     f"{over['closed_form_first_nonfinite_t']}",
            control=rules.overflows(over["control_closed_form_nonfinite"], over["control_length"]),
            control_name=f"the same closed form at L = {over['control_length']} (|λ|^−L still finite)"),
        rules.equal_to_reference(worst, scale, "every scan").to_check(
            identity="The parallel scans (odd/even, Upper/Lower, chunked) equal the loop x_t = λ x_{t−1} + u_t",
            measured=f"L = {scans['length']}, complex64: " + ", ".join(
                f"{k} {v:.1e}" for k, v in scans["scan_max_abs_error"].items()) + f" (max |x| {scale:.1f})",
            control=rules.equal_to_reference(scans["control_off_by_one_max_abs_error"], scale, "the control"),
            control_name="the loop one power of λ off (x_t = λ x_{t−1} + λ u_t)")]


def _depth_check(cfg: LRUPreset, m: dict) -> Check:
    depth = m["scan_depth"] = measure.scan_depth(cfg.depth_lengths)
    timed = m["scan_time_vs_length"] = measure.scan_time_vs_length(cfg.depth_lengths, cfg.scan_repeats)
    slope = m["scan_time_slope"] = {k: float(np.polyfit(np.log(list(t)), np.log(list(t.values())), 1)[0])
                                    for k, t in timed.items()}
    Ls = cfg.depth_lengths
    return rules.log_depth(depth["parallel"], depth["sequential"]).to_check(
        identity="The parallel scan turns L serial steps into O(log L) (ops one scan dispatches, counted)",
        measured=f"ops per scan at L = {', '.join(map(str, Ls))}: parallel "
                 f"{', '.join(str(depth['parallel'][L]) for L in Ls)}, loop "
                 f"{', '.join(str(depth['sequential'][L]) for L in Ls)}; forward time at width 1 grows as "
                 f"L^{slope['parallel']:.2f} (parallel) vs L^{slope['sequential']:.2f} (loop)",
        control=rules.log_depth(depth["chunked"], depth["sequential"]),
        control_name="the chunked scan (2√L steps, not log L) under the same rule", figure="scan.png")


def _streaming_check(m: dict) -> Check:
    s = m["streaming"] = measure.streaming_parity()
    scale = s["output_max_abs"]
    return rules.equal_to_reference(s["max_abs_diff"], scale, "step").to_check(
        identity="Inference is a plain RNN: token-by-token `step` gives the parallel form's outputs",
        measured=f"max |step − parallel| = {s['max_abs_diff']:.1e} (outputs up to {scale:.1f}); "
                 f"{s['us_per_step']:.0f} µs of CPU per step",
        control=rules.equal_to_reference(s["control_one_token_late_max_abs_diff"], scale, "the control"),
        control_name="the parallel form one token late (y_{t−1} for y_t)")


# --- claims ---

def _speed_claim(cfg: LRUPreset, m: dict, draws: dict[str, Draw]) -> Claim:
    L, batches, width = cfg.scan
    cells = m["scan_speed"] = measure.scan_cells(L, batches, width, cfg.scan_repeats, cfg.device)
    draws["scan.png"] = lambda path: plot_scan(m["scan_depth"], m["scan_time_vs_length"], cells, path)
    d = rules.training_speedup({k: (c["sequential"], c["parallel"]) for k, c in cells.items()}, cfg.device)
    ratio = lambda c, k: np.median(c["sequential"]) / np.median(c[k])  # noqa: E731
    return d.to_claim(
        claim="The parallel scan trains much faster than the loop (the post: Upper/Lower in TF1 only just "
              "reaches attention's speed on a GPU)",
        measured=f"{cfg.device}, L = {L}, N = {width}, complex64, forward + backward, interleaved repeats: "
                 + "; ".join(f"{k.replace('_', ' ')} odd/even {ratio(c, 'parallel'):.1f}×, chunked "
                             f"{ratio(c, 'chunked'):.1f}× the loop" for k, c in cells.items()) + " (medians)",
        figure="scan.png", quote=QUOTES["speed"],
        needs="a GPU: the full preset times the same cells on CUDA")


def _table2_claim(ablation: dict, majority: float, seeds: int) -> Claim:
    acc = {k: r["test_acc"] for k, r in ablation.items()}
    return rules.ablation_steps(acc, majority).to_claim(
        claim="Table 2: from a dense linear RNN to the LRU step by step (sCIFAR 72.2 → re+im 86.5 → exp "
              "85.4 → stable exp 87.2 → LRU 89.0)",
        measured=" → ".join(f"{ABLATION_LABELS[k]} {100 * np.mean(acc[k]):.1f}" for k in rules.TABLE2)
                 + f" % (mean over seeds, {seeds} for the diagonal steps; majority class {100 * majority:.1f} %)",
        figure="ablation.png", evidence={ABLATION_LABELS[k]: acc[k] for k in rules.TABLE2}, quote=QUOTES["table2"],
        needs="more seeds or steps: the steps' intervals straddle zero at this size")


def _table1_claim(ablation: dict, majority: float) -> Claim:
    linear, tanh = ablation["dense"]["test_acc"], ablation["rnn"]["test_acc"]
    return rules.linear_vs_tanh(linear, tanh, majority).to_claim(
        claim="Table 1: in the deep block a linear RNN is as good as a tanh RNN (sCIFAR 72.2 vs 69.9, "
              "ListOps 50.4 vs 43.9)",
        measured=f"linear (dense A) {100 * np.mean(linear):.1f} %, tanh {100 * np.mean(tanh):.1f} % over "
                 f"{len(linear)} seeds (majority class {100 * majority:.1f} %)",
        figure="ablation.png", evidence={"linear (dense)": linear, "tanh RNN": tanh}, quote=QUOTES["table1"],
        needs="more seeds of the two dense RNNs (the linear one's seeds spread widely)")


def _copy_claim(copy: dict, majority: float) -> Claim:
    return rules.copy_solved(copy["lru"]["test_acc"], copy["transformer"]["test_acc"], majority).to_claim(
        claim="The LRU remembers a pattern as well as attention: minimal-LRU's copy task (100 % in a few epochs)",
        measured="test accuracy per copied token: " + ", ".join(
            f"{k} {100 * np.mean(r['test_acc']):.1f} %" for k, r in copy.items())
                 + f" (majority class {100 * majority:.1f} %)",
        figure="compare.png", evidence={k: r["test_acc"] for k, r in copy.items()}, quote=QUOTES["copy"],
        needs="more steps (the LRU is still learning) or seeds")


def _listops_claim(cfg: LRUPreset, listops: dict, majority: float) -> Claim:
    acc = lambda k: listops.get(k, {}).get("test_acc", [])  # noqa: E731
    task = cfg.listops.task
    d = rules.listops_vs_attention(acc("lru"), acc("transformer"), majority, task.min_length)
    measured = ("not trained at this preset" if not listops else
                f"ListOps {task.min_length} < L < {task.max_length}: " + ", ".join(
                    f"{k} {100 * np.mean(r['test_acc']):.1f} %" for k, r in listops.items())
                + f" (majority class {100 * majority:.1f} %)")
    return d.to_claim(
        claim="On ListOps at LRA's lengths (500 < L < 2000) the LRU beats a Transformer (60.2 vs 36.4 on LRA)",
        measured=measured, figure="compare.png" if listops else None, quote=QUOTES["listops"],
        evidence={k: r["test_acc"] for k, r in listops.items()} or None,
        needs="LRA-length ListOps (500 < L < 2000, 96k examples) and Table 9's model trained ~80k steps: the "
              "full preset, on a GPU")


def _complex_claim(cfg: LRUPreset, lm: dict) -> Claim:
    short = lm["loss"][cfg.lm.length]
    sizes = {r["mixer"]: (r["mixer_params"], r["d_state"]) for r in lm["rows"]}
    return rules.complex_helps(short["lru"], short["slru"], lm["unigram"]).to_claim(
        claim="Su: complex projections and eigenvalues help — LRU > SLRU as a language model at equal "
              "parameters (the SLRU gets twice the units, as in Su's bojone/rnn)",
        measured=f"held-out loss on People's Daily, L = {cfg.lm.length}: LRU {np.mean(short['lru']):.3f}, "
                 f"SLRU {np.mean(short['slru']):.3f} nats/char; mixer parameters LRU {sizes['lru'][0]:,} "
                 f"(N = {sizes['lru'][1]} complex), SLRU {sizes['slru'][0]:,} (N = {sizes['slru'][1]} real); "
                 f"unigram {lm['unigram']:.2f}",
        figure="lm.png", evidence={"LRU": short["lru"], "SLRU": short["slru"]}, quote=QUOTES["complex"],
        needs="more seeds or a larger model (the two are within the seeds' spread)")


def _ranking_claim(cfg: LRUPreset, lm: dict) -> Claim:
    short = lm["loss"][cfg.lm.length]
    sizes = {r["mixer"]: r["mixer_params"] for r in lm["rows"]}
    return rules.ranking(short, lm["unigram"]).to_claim(
        claim="Su's LM ranking at 100M (GAU > SA > RWKV > LRU > SLRU), the part kexue can build: SA > LRU > SLRU",
        measured=", ".join(f"{k} {np.mean(v):.3f}" for k, v in short.items())
                 + f" nats/char (L = {cfg.lm.length}, {cfg.lm.train.steps} steps; mixer parameters "
                 + ", ".join(f"{k} {p:,}" for k, p in sizes.items()) + ")",
        figure="lm.png", evidence=dict(short), quote=QUOTES["ranking"],
        needs="more seeds or a larger model")


def _length_claim(cfg: LRUPreset, lm: dict) -> Claim:
    claim = "RNNs fall further behind attention as the training length grows (Su: 128 → 512)"
    if not cfg.lm.long_length:
        return rules.one_length_only().to_claim(
            claim=claim, measured="not run at this preset", quote=QUOTES["length"],
            needs="the LM at two lengths × seeds: the standard preset trains 64 and 256")
    n, n_long = cfg.lm.length, cfg.lm.long_length
    gaps = {k: [r - a for r, a in zip(lm["loss"][k]["lru"], lm["loss"][k]["transformer"])] for k in (n, n_long)}
    return rules.gap_grows(lm["loss"][n], lm["loss"][n_long], lm["unigram"]).to_claim(
        claim=claim,
        measured=f"LRU − SA held-out loss: {np.mean(gaps[n]):+.3f} at L = {n}, {np.mean(gaps[n_long]):+.3f} at "
                 f"L = {n_long} nats/char (per seed: " + ", ".join(
                     f"{b - a:+.3f}" for a, b in zip(gaps[n], gaps[n_long])) + " growth)",
        figure="lm.png", evidence={f"gap L={k}": g for k, g in gaps.items()}, quote=QUOTES["length"],
        needs="more seeds at both lengths")


# --- training runs ---

def ablation_config(base: RunConfig, model: str) -> RunConfig:
    """The ablation's diagonal steps start from the Glorot disk (r_max = 1), the LRU from its ring; the
    SLRU gets twice the LRU's state size, so their parameters match as in Su's bojone/rnn."""
    if model in ("diag_reim", "diag_exp", "stable_exp"):
        return replace(base, model=replace(base.model, model=model, r_min=0.0, r_max=1.0))
    if model == "slru":
        return replace(base, model=replace(base.model, model=model, d_state=2 * base.model.d_state))
    return replace(base, model=replace(base.model, model=model))


def _runs(base: RunConfig, models: tuple[str, ...], seeds: tuple[int, ...], out: Path, progress: bool,
          seeds_for: dict[str, tuple[int, ...]] | None = None) -> tuple[dict[str, dict], float]:
    """Every model × seed on one data set (`seeds_for` gives a model other seeds), the runs side by side
    (kexue.parallel): per model the per-seed test accuracies; and the majority rate."""
    from kexue.lru.tasks import build_task

    data = build_task(base.task)  # one data set for every model and seed
    labels = data[1].y[data[1].y != IGNORE].flatten().tolist()
    majority = Counter(labels).most_common(1)[0][1] / len(labels)
    jobs = [(k, s) for k in models for s in (seeds_for or {}).get(k, seeds)]
    done = map_runs(train_run, [(ablation_config(base, k), s, out / f"{k}-seed{s}", progress, data) for k, s in jobs])
    rows = {}
    for k in models:
        runs = [r for (model, _), r in zip(jobs, done) if model == k]
        rows[k] = {"test_acc": [r["test_acc"] for r in runs], "test_loss": [r["test_loss"] for r in runs],
                   "params": runs[0]["params"], "seconds": sum(r["seconds"] or 0 for r in runs),
                   "final_loss": [r["final_loss"] for r in runs]}
    return rows, majority


def train_run(cfg: RunConfig, seed: int, out: Path, progress: bool, data: tuple) -> dict:
    """One model trained with one seed on `data` (a module-level function: kexue.parallel runs it in a
    worker); its test accuracy and loss, parameters, seconds and final training loss."""
    r = run(replace(cfg, train=replace(cfg.train, seed=seed)), out, progress=progress, data=data)
    return {k: r[k] for k in ("test_acc", "test_loss", "params", "seconds", "final_loss")}


def _length(task: TaskConfig) -> int:
    return task.image_size ** 2 if task.order != "row" else task.image_size
