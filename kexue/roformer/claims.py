"""The verdict rules of post 8998's claims: pure functions from measured numbers to a Decision.

kexue.fm/archives/8998. `reproduce.py` measures; these decide; `tests/roformer/test_claims.py` reaches
every branch with synthetic numbers.

- `params_match`: the built models' parameter counts equal the closed form V·H + 2H + L·(4H² + 2·H·FFN)
  exactly, large rounds to 3亿, and no parameter is a bias or a norm γ/β. Exact, so any miss is "not held".
- `as_good`: "at equal training the simplified model is about as good as the un-simplified one". Per
  seed (both variants share the seed's data order), held-out MLM loss within ±5 % of the variant's and
  sentiment accuracy within ±3 points, each by Welch's 95 % interval; held when both intervals lie inside,
  not held when either lies wholly outside, else inconclusive. Floors: MLM loss below the unigram loss
  by 0.1 nats, accuracy above the majority label by 2 points.
- `alpha_ramp`: the post's residual x_{t+1} = Norm(x_t + α F(x_t)) with α raised linearly 0 → 1 "ends
  better than ReZero" (α trainable from 0, no Norm). Held-out MLM loss per seed: the ramp better than
  ReZero (Welch), and no ramp (α = 1 from the start) no better than the ramp by more than 1 %. Floors
  as above for all three.
- `faster`: RoFormerV2's train step against the variant's, per length, from repeated timings: the 95 %
  interval of log(t_variant / t_v2) above log 1.1 at every length is held, below it at any length not
  held, else inconclusive ("within noise").
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kexue.verdicts import LEVEL, Decision, Floor, all_of, better, close_to, equivalent, floors, no_better, welch_interval

LOSS_TOLERANCE = 0.05  # "about as good": MLM loss within ±5 %
ACC_TOLERANCE = 0.03  # and accuracy within ±3 points
SPEEDUP = 1.1  # "faster" on this machine: at least 1.1× (the post: 1.3× and 1.2× on GPU)


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
            majority: float, loss_tolerance: float = LOSS_TOLERANCE, acc_tolerance: float = ACC_TOLERANCE) -> Decision:
    """`v2`, `bert`: {"mlm_loss": per seed, "accuracy": per seed}."""
    tol = loss_tolerance * float(np.mean(bert["mlm_loss"]))
    loss = equivalent(v2["mlm_loss"], bert["mlm_loss"], tolerance=tol, names=("RoFormerV2", "bert variant"))
    acc = equivalent(v2["accuracy"], bert["accuracy"], tolerance=acc_tolerance, names=("RoFormerV2", "bert variant"))
    rule = (f"held-out MLM loss within ±{100 * loss_tolerance:g} % (±{tol:.3f}) and sentiment accuracy within "
            f"±{100 * acc_tolerance:g} points of the bert variant's, each by Welch's {LEVEL:.0%} interval over "
            "seeds: held when both intervals lie inside, not held when either lies wholly outside, else inconclusive")
    verdict = all_of([loss, acc], rule).verdict
    decision = Decision(verdict, rule, f"MLM loss: {loss.verdict} ({loss.why}); accuracy: {acc.verdict} ({acc.why})")
    checks = [Floor(f"{name} MLM loss", float(np.mean(side["mlm_loss"])), unigram, False, 0.1)
              for name, side in (("RoFormerV2", v2), ("bert variant", bert))]
    checks += [Floor(f"{name} accuracy", float(np.mean(side["accuracy"])), majority, True, 0.02)
               for name, side in (("RoFormerV2", v2), ("bert variant", bert))]
    return floors(checks, decision)


def alpha_ramp(loss: Mapping[str, Sequence[float]], unigram: float, tolerance: float = 0.01) -> Decision:
    """`loss`: {"ramp", "none", "rezero"}: per-seed held-out MLM loss of each residual scheme."""
    beat = better(loss["ramp"], loss["rezero"], higher_is_better=False, names=("ramp", "ReZero"))
    tol = tolerance * float(np.mean(loss["ramp"]))
    keep = no_better(loss["none"], loss["ramp"], higher_is_better=False, tolerance=tol, names=("no ramp", "ramp"))
    rule = (f"held-out MLM loss over seeds: the α ramp better than ReZero by Welch's {LEVEL:.0%} interval, and "
            f"no ramp no better than the ramp by more than {100 * tolerance:g} % ({tol:.3f}); held when both "
            "hold, not held when either is clearly reversed, else inconclusive")
    verdict = all_of([beat, keep], rule).verdict
    decision = Decision(verdict, rule, f"ramp vs ReZero: {beat.verdict} ({beat.why}); no ramp vs ramp: "
                                       f"{keep.verdict} ({keep.why})")
    checks = [Floor(f"{k} MLM loss", float(np.mean(v)), unigram, False, 0.1) for k, v in loss.items()]
    return floors(checks, decision)


def faster(times: Mapping[int, tuple[Sequence[float], Sequence[float]]], threshold: float = SPEEDUP) -> Decision:
    """`times`: {n: (RoFormerV2 seconds per step over repeats, bert variant's)}."""
    rule = (f"per length the {LEVEL:.0%} interval of log(t_bert / t_RoFormerV2) over repeated steps: held when "
            f"every length's lies above log {threshold:g}, not held when any lies below it, else inconclusive "
            "(the ratio is within the noise of the target)")
    parts, verdicts = [], []
    for n, (v2, bert) in times.items():
        lo, hi = welch_interval(np.log(bert), np.log(v2))
        mid = math.exp(float(np.mean(np.log(bert)) - np.mean(np.log(v2))))
        parts.append(f"n = {n}: {mid:.2f}× [{_x(lo)}, {_x(hi)}]")
        verdicts.append("held" if lo > math.log(threshold) else "not held" if hi < math.log(threshold)
                        else "inconclusive")
    why = "; ".join(parts)
    for v in ("not held", "inconclusive"):
        if v in verdicts:
            return Decision(v, rule, why + ("; within noise of the target" if v == "inconclusive" else ""))
    return Decision("held", rule, why)


def _x(log_ratio: float) -> str:
    return f"{math.exp(log_ratio):.2f}×" if math.isfinite(log_ratio) else ("∞" if log_ratio > 0 else "0")
