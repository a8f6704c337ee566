"""Measured cost on the user's device: SA block vs FFN block, softmax vs linear attention.

kexue.fm/archives/8610 counts multiplications; this module times the real layers so the count's
crossovers can be set beside measured ones. The post has no timings of its own, so these are ours.
What we time (batch 1, inference mode, the best of `repeats` runs after a warm-up):
- the SA block: Q, K, V, O projections + softmax attention (`MultiHeadAttention`, on SDPA);
- the FFN block: hd → 4hd → hd with GELU;
- the attention core alone: softmax SDPA against linear attention Q(KᵀV) ('elu' kernel), with the
  post's key size 4d (keys and values of size 4d, as the post's count assumes), causal and not.
Crossovers are read off by log-linear interpolation between the two measured lengths around them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kexue.attention.cost import LayerShape
from kexue.nn.attention import MultiHeadAttention
from kexue.nn.linear_attention import linear_attention
from kexue.timing import best_seconds


@dataclass
class MeasureConfig:
    lengths: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096)
    h: int = 12  # heads (base)
    d: int = 64  # head size (base)
    key_mult: int = 4  # linear attention's key size in units of d (the post's 4)
    repeats: int = 3
    threads: int = 0  # 0 = torch's default
    device: str = "cpu"
    dtype: str = "float32"


class FFN(nn.Module):
    """hd → 4hd → hd with GELU: the block whose count is 8nh²d²."""

    def __init__(self, hidden: int, mult: int = 4):
        super().__init__()
        self.up, self.down = nn.Linear(hidden, mult * hidden), nn.Linear(mult * hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


def measure_blocks(cfg: MeasureConfig) -> list[dict]:
    """Per length: ms of the SA block and the FFN block at hidden size h·d, and their ratio."""
    s = LayerShape(h=cfg.h, d=cfg.d)
    dtype, dev = getattr(torch, cfg.dtype), torch.device(cfg.device)
    sa = MultiHeadAttention(s.hidden, s.h).to(dev, dtype).eval()
    ffn = FFN(s.hidden).to(dev, dtype).eval()
    rows = []
    with torch.inference_mode():
        for n in cfg.lengths:
            x = torch.randn(1, n, s.hidden, device=dev, dtype=dtype)
            t_sa = best_seconds(lambda: sa(x), cfg.repeats, device=cfg.device)
            t_ffn = best_seconds(lambda: ffn(x), cfg.repeats, device=cfg.device)
            rows.append({"n": n, "sa_ms": 1e3 * t_sa, "ffn_ms": 1e3 * t_ffn, "sa_over_ffn": t_sa / t_ffn})
    return rows


def measure_cores(cfg: MeasureConfig) -> list[dict]:
    """Per length: ms of softmax SDPA (head size d) and linear attention (size k·d), causal and not."""
    dtype, dev = getattr(torch, cfg.dtype), torch.device(cfg.device)
    kd = cfg.key_mult * cfg.d
    rows = []
    with torch.inference_mode():
        for n in cfg.lengths:
            q, k, v = (torch.randn(1, cfg.h, n, cfg.d, device=dev, dtype=dtype) for _ in range(3))
            ql, kl, vl = (torch.randn(1, cfg.h, n, kd, device=dev, dtype=dtype) for _ in range(3))
            row = {"n": n}
            for causal in (False, True):
                tag = "causal" if causal else "full"
                row[f"softmax_{tag}_ms"] = 1e3 * best_seconds(
                    lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), cfg.repeats, device=cfg.device)
                row[f"linear_{tag}_ms"] = 1e3 * best_seconds(
                    lambda: linear_attention(ql, kl, vl, "elu", causal=causal, chunk=kd), cfg.repeats, device=cfg.device)
            rows.append(row)
    return rows


def crossover(ns: Sequence[int], a: Sequence[float], b: Sequence[float]) -> float | None:
    """The first n at which a(n) overtakes b(n), log-linearly interpolated; None if it never does.

    Returns ns[0] if a > b already at the shortest length.
    """
    diff = [math.log(x) - math.log(y) for x, y in zip(a, b)]
    if diff[0] > 0:
        return float(ns[0])
    for i in range(1, len(ns)):
        if diff[i] > 0:
            # log n at which the log-ratio crosses 0, linear between the two neighbours
            t = -diff[i - 1] / (diff[i] - diff[i - 1])
            return float(math.exp(math.log(ns[i - 1]) + t * (math.log(ns[i]) - math.log(ns[i - 1]))))
    return None


def set_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


def counted_mults(n: int, s: LayerShape) -> dict[str, int]:
    """Multiplications of the SA block (`kexue.nn.attention.MultiHeadAttention` itself) and the FFN
    block as torch's FLOP counter sees them, halved (the counter counts a multiply-add as 2 FLOPs).

    The counter does not see inside the fused CPU SDPA kernel, so the layer runs on SDPA's math
    backend while it is counted: the same module and call, its QKᵀ and AV as visible matmuls.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    sa = MultiHeadAttention(s.hidden, s.h, head_size=s.d).eval()
    ffn = FFN(s.hidden, s.ffn_mult).eval()
    x = torch.randn(1, n, s.hidden)
    counts = {}
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        for name, block in (("sa", sa), ("ffn", ffn)):
            with FlopCounterMode(display=False) as counter:
                block(x)
            counts[name] = counter.get_total_flops() // 2
    return counts
