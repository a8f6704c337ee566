"""The verdict rules of post 9554: pure functions from numbers to a Decision, for its claims and its checks.

kexue.fm/archives/9554 and Orvieto et al. (2023). `reproduce.py` measures; these decide; every branch
is reached with synthetic numbers in `tests/lru/test_claims.py`. Every band is a named constant below,
committed before the run it judges; a band on a comparison is a share of what the reference learned
over its floor (the majority class, the unigram loss), never a fixed width on the accuracy or the loss.

Claims (what the post says, `QUOTES`):
- `training_speedup`: "可以大大加快训练速度", a GPU claim: `kexue.verdicts.speedup` over interleaved
  repeats (scan vs loop, forward + backward, batch 1 and 8) against `SPEEDUP_TARGET`, through
  `gpu_claim` (not checkable on a CPU, the CPU's numbers kept as context).
- `ablation_steps`: Table 2, every step in the paper's direction.
- `linear_vs_tanh`: Table 1, a linear RNN at least as good as a tanh RNN (non-inferiority).
- `copy_solved`: the LRU copies as well as attention does (non-inferiority).
- `listops_vs_attention`: the LRU beats attention on ListOps, only at LRA's lengths (500 < L < 2000).
- `complex_helps`: LRU better than SLRU; not held when the SLRU is within a share of what was learned.
- `ranking`: SA > LRU > SLRU as language models.
- `gap_grows`: the LRU − SA loss gap grows with the training length, paired by seed.

Checks (identities and definitions, each with a negative control the same rule must reject):
`ks_uniform`, `disk_law`, `gamma_power`, `overflows`, `equal_to_reference`, `log_depth`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kexue.verdicts import (LEVEL, Decision, Floor, all_of, better, floors, gpu_claim, no_better, non_inferior,
                            not_checkable, paired_interval, speedup)

QUOTES: dict[str, tuple[int, str]] = {
    "speed": (9554, "线性RNN的一个重要特性是它本身有并行算法，可以大大加快训练速度"),
    "table1": (9554, "如果将Transformer的Self Attention替换为RNN的话，线性RNN效果才是最好的"),
    "table2": (9554, "演示了如何一步步地优化普通的RNN，直到在LRA上取得接近SOTA的效果"),
    "copy": (9554, "特别指出了RNN在处理超长序列场景下的优势"),
    "listops": (9554, "LRU的出发点就是发现SSM在LRA上表现很好，于是想办法将原生的RNN也能在LRA表现良好，其结果就是LRU"),
    "complex": (9554, "LRU优于SLRU，表明引入复投影矩阵和复特征值确实是有帮助的"),
    "ranking": (9554, "但语言模型效果上离Attention类模型还有一定差距"),
    "length": (9554, "当序列长度增加时，Attention系列（GAU、SA）的效果会变好，而RNN系列（LRU、SLRU、RWKV）的效果则会下降"),
}

# Table 2 of the paper (sCIFAR test accuracy, %), the order of the ablation
TABLE2 = {"dense": 72.2, "diag_reim": 86.5, "diag_exp": 85.4, "stable_exp": 87.2, "lru": 89.0}
RANKING = ("transformer", "lru", "slru")  # Su's LM ranking, the part kexue builds (SA > LRU > SLRU)
STEPS = (("dense", "diag_reim"), ("diag_reim", "diag_exp"), ("diag_exp", "stable_exp"), ("stable_exp", "lru"))

SPEEDUP_TARGET = 2.0  # "大大加快" (greatly speeds up) read as at least 2× the loop's training step
TABLE1_SHARE = 0.1  # linear as good as tanh: within 10 % of what the tanh RNN learned over the majority class
COPY_SHARE = 0.05  # the LRU copies as well as attention: within 5 % of what attention learned
COMPLEX_SHARE = 0.05  # an LRU edge below 5 % of what the LRU learned over the unigram is no help
GAP_SHARE = 0.05  # a gap that grows by less than 5 % of what attention learned over the unigram does not grow
ACC_FLOOR = 0.05  # did it learn: accuracy above the majority class by 5 points
LM_FLOOR = 0.1  # did it learn: held-out loss below the unigram loss by 0.1 nat/char
LRA_MIN_LENGTH = 500  # LRA's ListOps: 500 < L < 2000 tokens
KS_CRITICAL = 1.95  # the 0.1 % critical value of the KS distance is 1.95/√n
DISK_TOLERANCE = 0.05  # |P(|eig| < r) − r²| at r = ¼, ½, ¾ for a 500 × 500 Glorot matrix
GAMMA_TOLERANCE = 0.1  # E|x|²/E|Bu|² within 10 % of its prediction
SCAN_RTOL = 1e-4  # a scan equals the loop to 1e-4 × max|x| (complex64)


# --- claims ---

def training_speedup(cells: Mapping[str, tuple[Sequence[float], Sequence[float]]], device: str) -> Decision:
    """`cells`: {name: (loop seconds per repeat, scan seconds per repeat)}, forward + backward, interleaved."""
    return gpu_claim(speedup(cells, SPEEDUP_TARGET, what="t_loop / t_scan"), device)


def ablation_steps(acc: Mapping[str, Sequence[float]], majority: float, tolerance: float = 0.01) -> Decision:
    """`acc`: {model: per-seed test accuracy} for the models of `STEPS`; `majority`: the majority-class rate.
    dense → re+im, exp → stable exp, stable exp → LRU must each be better (Welch over seeds); re+im → exp
    is, as in the paper (86.5 → 85.4), no better by more than `tolerance`."""
    decisions, parts = [], []
    for prev, nxt in STEPS:
        if TABLE2[nxt] > TABLE2[prev]:
            d = better(acc[nxt], acc[prev], names=(nxt, prev))
            parts.append(f"{prev} → {nxt} better: {d.verdict} ({d.why})")
        else:
            d = no_better(acc[nxt], acc[prev], tolerance=tolerance, names=(nxt, prev))
            parts.append(f"{prev} → {nxt} no better by > {tolerance:g}: {d.verdict} ({d.why})")
        decisions.append(d)
    rule = ("Table 2 step by step, in the paper's direction (dense → re+im better; re+im → exp no better by "
            f"more than {tolerance:g}; exp → stable exp better; stable exp → LRU better), each by Welch's "
            f"{LEVEL:.0%} interval over seeds; held when every step holds, not held when any is clearly on the "
            "wrong side, else inconclusive")
    decision = Decision(all_of(decisions, rule).verdict, rule, "; ".join(parts))
    return floors([_acc_floor(m, acc[m], majority) for m in TABLE2], decision)


def linear_vs_tanh(linear: Sequence[float], tanh: Sequence[float], majority: float) -> Decision:
    """Table 1: the linear (dense) RNN at least as good as the tanh RNN, non-inferiority with the margin
    `TABLE1_SHARE` of what the tanh RNN learned over the majority class; counts when the tanh RNN learned."""
    d = non_inferior(linear, tanh, floor=majority, share=TABLE1_SHARE, names=("linear RNN", "tanh RNN"))
    return floors([_acc_floor("tanh RNN", tanh, majority)], d)


def copy_solved(lru: Sequence[float], attention: Sequence[float], majority: float) -> Decision:
    """The LRU copies as well as attention: non-inferiority, margin `COPY_SHARE` of attention's gain."""
    d = non_inferior(lru, attention, floor=majority, share=COPY_SHARE, names=("LRU", "Transformer"))
    return floors([_acc_floor("Transformer", attention, majority)], d)


def listops_vs_attention(lru: Sequence[float], attention: Sequence[float], majority: float,
                         min_length: int) -> Decision:
    """LRU better than attention on ListOps, decided only at LRA's lengths (the post's long-range premise)."""
    if min_length < LRA_MIN_LENGTH:
        return not_checkable(f"ListOps ran at L > {min_length}, below LRA's {LRA_MIN_LENGTH} < L < 2000: "
                             "without the long range the claim is not the post's")
    if not len(lru) or not len(attention):
        return not_checkable(f"ListOps at LRA's lengths ({LRA_MIN_LENGTH} < L < 2000) was not trained at this "
                             "preset")
    d = better(lru, attention, names=("LRU", "Transformer"))
    return floors([_acc_floor(m, v, majority) for m, v in (("LRU", lru), ("Transformer", attention))], d)


def complex_helps(lru: Sequence[float], slru: Sequence[float], unigram: float) -> Decision:
    """LRU better than SLRU in held-out loss (lower is better): held when the interval of the LRU's edge
    lies above 0; not held when it lies below δ = `COMPLEX_SHARE` × the LRU's gain over the unigram (the
    SLRU is as good, non-inferior within δ) or below 0; else inconclusive."""
    edge = better(lru, slru, higher_is_better=False, names=("LRU", "SLRU"))
    as_good = non_inferior(slru, lru, floor=unigram, share=COMPLEX_SHARE, higher_is_better=False,
                           names=("SLRU", "LRU"))
    rule = (f"{edge.rule}; and not held when the SLRU is as good: {as_good.rule}")
    if edge.verdict == "held":
        d = Decision("held", rule, edge.why)
    elif edge.verdict == "not held" or as_good.verdict == "held":
        d = Decision("not held", rule, f"{edge.why}; SLRU as good as LRU: {as_good.verdict}")
    else:
        d = Decision("inconclusive", rule, f"{edge.why}; SLRU as good as LRU: {as_good.verdict}")
    return floors([_lm_floor(m, v, unigram) for m, v in (("LRU", lru), ("SLRU", slru))], d)


def ranking(loss: Mapping[str, Sequence[float]], unigram: float) -> Decision:
    """Su's ranking SA > LRU > SLRU (lower held-out loss first): SA better than the LRU by Welch's
    interval over seeds, and LRU over SLRU by `complex_helps`."""
    sa = better(loss["transformer"], loss["lru"], higher_is_better=False, names=("SA", "LRU"))
    ls = complex_helps(loss["lru"], loss["slru"], unigram)
    rule = ("held-out LM loss, SA < LRU < SLRU: held when both pairs hold, not held when either is not, else "
            f"inconclusive; SA < LRU: {sa.rule}; LRU < SLRU as in the claim that complex helps")
    decision = Decision(all_of([sa, ls], rule).verdict, rule,
                        f"SA < LRU: {sa.verdict} ({sa.why}); LRU < SLRU: {ls.verdict} ({ls.why})")
    return floors([_lm_floor(m, loss[m], unigram) for m in RANKING], decision)


def gap_grows(short: Mapping[str, Sequence[float]], long: Mapping[str, Sequence[float]], unigram: float,
              rnn: str = "lru", attention: str = "transformer", level: float = LEVEL) -> Decision:
    """`short`, `long`: {model: per-seed held-out loss} at the shorter and the longer training length, the
    same seeds in the same order (a seed is one initialisation at both lengths). Per seed the growth
    Δ_s = g_long − g_short of the gap g = L_rnn − L_attention; the t interval of mean Δ over seeds:
    held when it lies above 0, not held when it lies below δ = `GAP_SHARE` × attention's gain over the
    unigram at the short length (the gap grows by less than δ, or shrinks), else inconclusive."""
    growth = [(rl - al) - (rs - as_) for rl, al, rs, as_ in
              zip(long[rnn], long[attention], short[rnn], short[attention])]
    lo, hi = paired_interval(growth, level)
    delta = GAP_SHARE * abs(unigram - float(np.mean(short[attention])))
    rule = (f"per seed Δ = (L_{rnn} − L_{attention}) at the long length − the same at the short; held when the "
            f"{level:.0%} t interval of mean Δ over seeds lies above 0, not held when it lies below δ = "
            f"{GAP_SHARE:g} × attention's gain over the unigram ({delta:.4g}), else inconclusive")
    why = f"mean Δ in [{_fmt(lo)}, {_fmt(hi)}] over {len(growth)} seeds"
    verdict = "held" if lo > 0 else "not held" if hi < delta else "inconclusive"
    d = Decision(verdict, rule, why + (" (one seed)" if len(growth) < 2 else ""))
    return floors([_lm_floor(m, short[m], unigram) for m in (rnn, attention)], d)


def one_length_only() -> Decision:
    """The gap with length needs the LM trained at two lengths."""
    return not_checkable("this preset trains the LM at one length only")




# --- checks (identities and definitions; each is also applied to its negative control) ---

def ks_uniform(ks: float, n: int, name: str) -> Decision:
    """Samples uniform: held when the KS distance from uniform is below the 0.1 % critical value 1.95/√n."""
    bound = KS_CRITICAL / math.sqrt(n)
    rule = f"KS distance of {name} from uniform below the 0.1 % critical value {KS_CRITICAL}/√n = {bound:.4f}"
    return Decision("held" if ks < bound else "not held", rule, f"KS = {ks:.4f}, n = {n}")


def disk_law(max_error: float) -> Decision:
    """Eigenvalues uniform on the unit disk: P(|eig| < r) = r², to `DISK_TOLERANCE` at r = ¼, ½, ¾."""
    rule = f"max over r = ¼, ½, ¾ of |P(|eig| < r) − r²| below {DISK_TOLERANCE:g}"
    return Decision("held" if max_error < DISK_TOLERANCE else "not held", rule, f"max error {max_error:.3f}")


def gamma_power(with_gamma_mean: float, rel_error: float) -> Decision:
    """Prop. 3 under white noise: E|x|²/E|Bu|² = 1/(1 − |λ|²) per channel without γ (mean relative
    error below `GAMMA_TOLERANCE`), and 1 with γ = √(1 − |λ|²) (within `GAMMA_TOLERANCE`)."""
    rule = (f"without γ the per-channel power ratio within {GAMMA_TOLERANCE:.0%} of the prediction (mean "
            f"relative error), with γ its mean within {GAMMA_TOLERANCE:g} of 1")
    ok = rel_error < GAMMA_TOLERANCE and abs(with_gamma_mean - 1) < GAMMA_TOLERANCE
    return Decision("held" if ok else "not held", rule,
                    f"relative error {rel_error:.3f}, with γ {with_gamma_mean:.3f}")


def overflows(nonfinite: int, length: int) -> Decision:
    """The closed form λ^t Σ λ^{−k} b_k overflows: held when any of its values is inf or nan."""
    return Decision("held" if nonfinite > 0 else "not held", "the closed form has a non-finite value (inf/nan)",
                    f"{nonfinite} non-finite values at L = {length}")


def equal_to_reference(max_abs_error: float, scale: float, what: str) -> Decision:
    """`what` equals its reference: held when max |error| < `SCAN_RTOL` × max |reference|."""
    rule = f"max |{what} − reference| < {SCAN_RTOL:g} × max |reference|"
    ok = max_abs_error < SCAN_RTOL * scale
    return Decision("held" if ok else "not held", rule, f"max |error| = {max_abs_error:.2e}, max |reference| = "
                                                        f"{scale:.3g}")


def log_depth(ops: Mapping[int, int], loop_ops: Mapping[int, int]) -> Decision:
    """`ops`, `loop_ops`: {L: aten ops dispatched by one scan of length L}, L doubling. Held when the
    scan's count rises by the same positive number per doubling of L (O(log L) dependent steps) while the
    loop's doubles; not held otherwise (a loop in disguise adds ops in proportion to L)."""
    Ls = sorted(ops)
    rule = ("ops dispatched by one scan, counted exactly: held when the scan's count rises by the same positive "
            "number per doubling of L (O(log L) steps) while the loop's doubles; else not held")
    if len(Ls) < 3 or any(L & (L - 1) for L in Ls) or any(b != 2 * a for a, b in zip(Ls, Ls[1:])):
        return Decision("inconclusive", rule, f"needs ≥ 3 lengths, each double the last; got {Ls}")
    steps = [ops[b] - ops[a] for a, b in zip(Ls, Ls[1:])]
    loop_ratio = [loop_ops[b] / loop_ops[a] for a, b in zip(Ls, Ls[1:])]
    why = (f"{', '.join(f'{ops[L]}' for L in Ls)} ops at L = {', '.join(map(str, Ls))} "
           f"(+{'/'.join(map(str, steps))} per doubling); loop ×{min(loop_ratio):.2f}–{max(loop_ratio):.2f}")
    ok = len(set(steps)) == 1 and steps[0] > 0 and all(r > 1.9 for r in loop_ratio)
    return Decision("held" if ok else "not held", rule, why)


# --- floors ---

def _acc_floor(name: str, acc: Sequence[float], majority: float) -> Floor:
    return Floor(f"{name} accuracy", float(np.mean(acc)), majority, higher_is_better=True, margin=ACC_FLOOR)


def _lm_floor(name: str, loss: Sequence[float], unigram: float) -> Floor:
    return Floor(f"{name} LM loss", float(np.mean(loss)), unigram, higher_is_better=False, margin=LM_FLOOR)


def _fmt(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else ("∞" if x > 0 else "−∞")
