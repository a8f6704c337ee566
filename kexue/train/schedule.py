"""Learning-rate schedules, as a factor of the base rate: lr_t = lr · factor(t).

t counts the optimizer updates already made, so the first update has t = 0 — as bert4keras's
`iterations` and PyTorch's `LambdaLR` count — and a warm-up therefore starts at lr 0.

- constant: 1, after an optional linear warm-up.
- cosine: linear warm-up, then half a cosine from 1 down to `min_lr_ratio` at the last step.
- piecewise: Su's `{step: factor}` form, as bert4keras's `extend_with_piecewise_linear_lr` (used by
  Keras-DDPM's `{4000: 1, 20000: 0.5, 40000: 0.1}` and RoFormerV2's pre-training): the factor is
  interpolated linearly between the given steps and held constant after the last. As there
  (`from_zero=True`), a schedule that does not name step 0 starts from factor 0 at step 0, so
  `{1000: 1, 2000: 0.1}` is a 1000-step warm-up followed by a decay to 0.1 at step 2000.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

from kexue.train.settings import TrainConfig


def lr_factor(cfg: TrainConfig, t: int) -> float:
    """The factor multiplying cfg.lr at the update after t updates (t = 0, 1, ...)."""
    if cfg.schedule == "piecewise":
        cfg.check()
        return piecewise_linear(t, cfg.piecewise)
    if cfg.schedule == "cosine":
        return warmup_cosine(t, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
    return warmup_constant(t, cfg.warmup)


def warmup_constant(t: int, warmup: int) -> float:
    if t < warmup:
        # lr_t = lr · t / warmup
        return t / warmup
    return 1.0


def warmup_cosine(t: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to `min_ratio` at step `total`."""
    if t < warmup:
        # lr_t = lr · t / warmup
        return t / warmup
    # p = (t − warmup) / (total − warmup), clipped to [0, 1]
    p = min(1.0, (t - warmup) / max(1, total - warmup))
    # lr_t = lr · (r + (1 − r) · ½ (1 + cos πp))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))


def piecewise_linear(t: int, schedule: Mapping[int, float]) -> float:
    """Su's piecewise-linear factor: through the points (step, factor), and (0, 0) unless step 0 is given."""
    points = sorted((int(s), float(f)) for s, f in schedule.items())
    if not points or points[0][0] != 0:
        points.insert(0, (0, 0.0))
    steps = [s for s, _ in points]
    if t >= steps[-1]:
        return points[-1][1]
    i = bisect.bisect_right(steps, t) - 1  # steps[i] ≤ t < steps[i + 1]
    (s0, f0), (s1, f1) = points[i], points[i + 1]
    # f(t) = f₀ + (f₁ − f₀) · (t − s₀) / (s₁ − s₀)
    return f0 + (f1 - f0) * (t - s0) / (s1 - s0)
