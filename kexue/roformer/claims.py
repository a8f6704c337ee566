"""The verdict rules of post 8998's claims: pure functions from measured numbers to a Decision.

kexue.fm/archives/8998 (the residual ramp also 8620). `reproduce.py` measures; these decide;
`tests/roformer/test_claims.py` reaches every branch with synthetic numbers. Every claim quotes the post
(`QUOTES`), checked verbatim against the post's text by `tests/test_quotes.py`.

- `params_match` (a Check, not a claim): the built models' parameter counts equal the closed form
  V·H + 2H + L·(4H² + 2·H·FFN) exactly, no parameter is a bias or a norm γ/β, and large rounds to 3亿.
  Its negative control is the same rule on the `bert` variant, whose biases and LayerNorm γ, β make
  the count miss the formula: it must come out "not held".
- `as_good`: "at equal training the simplified model is slightly worse" (轻微下降), read as
  non-inferiority: RoFormerV2 loses less than δ = SLIGHT × (what the bert variant learned over the
  floor), on held-out MLM loss (floor: the unigram loss) and on sentiment accuracy (floor: the majority
  label). The interval is paired by seed: both variants of a seed see the same batches, masks,
  fine-tuning split and dev set, so the seed is a block and the per-seed differences carry the noise.
- `alpha_ramp`: the residual x_{t+1} = Norm(x_t + α F(x_t)), α raised linearly 0 → 1, "ends better than
  ReZero" (α trainable from 0, no Norm): the ramp's held-out MLM loss below ReZero's, paired by seed.
  The post compares with ReZero only; no ramp (α = 1 throughout) is shown as context, not decided.
- `faster`: dropping biases and γ, β trains faster, 1.3× at n = 128 and 1.2× at n = 512 on a 3090 /
  A100: `kexue.verdicts.speedup` per length against the post's figure less its rounding, decided on a
  CUDA device only (`kexue.verdicts.gpu_claim`); on a CPU the timing is context.

The paired intervals over seeds are `kexue.verdicts.paired_interval` of the per-seed differences.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kexue.verdicts import (LEVEL, Decision, Floor, all_of, better, close_to, floors, gpu_claim, non_inferior,
                            paired_interval, speedup)

QUOTES: dict[str, tuple[int, str]] = {
    "params": (8998, "3亿参数量的RoFormer large"),
    "simplified": (8998, "RoFormerV2主要去掉了模型的所有Bias项，以及Layer Norm换成了简单的RMS Norm，"
                         "并且去掉了RMS Norm的gamma参数"),
    "as_good": (8998, "同样的训练设置之下RoFormerV2相比RoBERTa、RoFormer的效果会有轻微下降"),
    "alpha_ramp": (8998, "实验显示我们的改动相比ReZero的最终效果更好"),
    "faster": (8998, "去掉这些看似“无关痛痒”的参数外，RoFormerV2的训练速度获得了明显的提升"),
}

# "slightly worse" (轻微下降): RoFormerV2 may lose at most this share of what the bert variant learned over
# the floor (unigram MLM loss, majority label) and still count as the post's slight drop
SLIGHT = 0.2
# "did it learn at all?": each model's MLM loss below the unigram loss by this many nats, its accuracy
# above the majority label by this many points
LOSS_FLOOR_MARGIN = 0.1
ACC_FLOOR_MARGIN = 0.02
# the post's table: 1.3× at n = 128 and 1.2× at n = 512, given to one decimal, so at least 1.25× and 1.15×
SPEEDUP = {128: 1.25, 512: 1.15}




def params_match(counted: Mapping[str, int], formula: Mapping[str, int], bias_or_norm: Sequence[str],
                 large: int) -> Decision:
    """Counted = formula for every size, no bias or norm parameter, and round(large / 1e8) = 3."""
    checks = [close_to(float(counted[s]), float(formula[s]), name=f"{s} parameters") for s in formula]
    checks.append(Decision("held" if not bias_or_norm else "not held", "",
                           f"{len(bias_or_norm)} bias/norm parameters" + (f": {', '.join(bias_or_norm[:3])}"
                                                                          if bias_or_norm else "")))
    checks.append(Decision("held" if round(large / 1e8) == 3 else "not held", "", f"large {large / 1e8:.2f}亿"))
    return all_of(checks, "the built models' counts equal V·H + 2H + L·(4H² + 2·H·FFN) exactly, no parameter "
                          "is a bias or a norm γ/β, and large rounds to 3亿")


def as_good(v2: Mapping[str, Sequence[float]], bert: Mapping[str, Sequence[float]], unigram: float,
            majority: float, share: float = SLIGHT) -> Decision:
    """`v2`, `bert`: {"mlm_loss": per seed, "accuracy": per seed}, seed i of each side paired."""
    names = ("RoFormerV2", "bert variant")
    loss = non_inferior(v2["mlm_loss"], bert["mlm_loss"], floor=unigram, share=share, higher_is_better=False,
                        interval=paired_interval(np.subtract(v2["mlm_loss"], bert["mlm_loss"])), names=names)
    acc = non_inferior(v2["accuracy"], bert["accuracy"], floor=majority, share=share,
                       interval=paired_interval(np.subtract(v2["accuracy"], bert["accuracy"])), names=names)
    rule = (f"RoFormerV2 at most slightly worse than the bert variant: non-inferior within δ = {share:g} × the "
            f"bert variant's gain over the floor, on held-out MLM loss (floor: unigram loss) and on sentiment "
            f"accuracy (floor: majority label), each by the {LEVEL:.0%} t interval of the per-seed differences "
            f"(both variants of a seed share data order, masks and dev set); held when both hold, not held when "
            f"either is not held, else inconclusive. MLM loss: {loss.rule}. Accuracy: {acc.rule}")
    verdict = all_of([loss, acc], rule).verdict
    decision = Decision(verdict, rule, f"MLM loss: {loss.verdict} ({loss.why}); accuracy: {acc.verdict} ({acc.why})")
    checks = [Floor(f"{name} MLM loss", float(np.mean(side["mlm_loss"])), unigram, False, LOSS_FLOOR_MARGIN)
              for name, side in zip(names, (v2, bert))]
    checks += [Floor(f"{name} accuracy", float(np.mean(side["accuracy"])), majority, True, ACC_FLOOR_MARGIN)
               for name, side in zip(names, (v2, bert))]
    return floors(checks, decision)


def alpha_ramp(loss: Mapping[str, Sequence[float]], unigram: float) -> Decision:
    """`loss`: {"ramp", "rezero"} (and optionally "none", context only): per-seed held-out MLM loss of each
    residual scheme, seed i of each paired."""
    beat = better(loss["ramp"], loss["rezero"], higher_is_better=False, names=("ramp", "ReZero"),
                  interval=paired_interval(np.subtract(loss["ramp"], loss["rezero"])))
    rule = (f"the α ramp ends better than ReZero: {beat.rule}, the interval the {LEVEL:.0%} t interval of the "
            "per-seed differences of held-out MLM loss (both schemes of a seed share data order and masks)")
    checks = [Floor(f"{k} MLM loss", float(np.mean(loss[k])), unigram, False, LOSS_FLOOR_MARGIN)
              for k in ("ramp", "rezero")]
    return floors(checks, Decision(beat.verdict, rule, beat.why))


def faster(cells: Mapping[int, tuple[Sequence[float], Sequence[float]]], device: str) -> Decision:
    """`cells`: {n: (bert variant's seconds per step over interleaved repeats, RoFormerV2's)} for the post's
    lengths (128, 512). Each length against its own target; a GPU claim: decided on CUDA only."""
    unknown = [n for n in cells if n not in SPEEDUP]
    if unknown:
        raise ValueError(f"faster: no post figure for n = {unknown}; the post timed n = {', '.join(map(str, SPEEDUP))}")
    parts = [speedup({f"n = {n}": times}, SPEEDUP[n], what="t_bert / t_RoFormerV2") for n, times in cells.items()]
    targets = ", ".join(f"{SPEEDUP[n]:g}× at n = {n}" for n in cells)
    rule = (f"kexue.verdicts.speedup per length: the {LEVEL:.0%} interval of log(t_bert / t_RoFormerV2) over "
            f"interleaved repeats; held when every length's lies above log target, not held when any lies below "
            f"it, else inconclusive; targets the post's 1.3× / 1.2× less their rounding ({targets}); a GPU claim "
            "(the post timed a 3090 and an A100), decided on CUDA only")
    combined = all_of(parts, rule)
    why = "; ".join(p.why for p in parts)
    return gpu_claim(Decision(combined.verdict, rule, why), device)
