"""Measured cost on the user's device: SA block vs FFN block, softmax vs linear attention.

kexue.fm/archives/8610 counts multiplications; this module times the real layers so the count's
crossovers can be set beside measured ones. The post has no timings of its own, so these are ours.
What we time (batch 1, inference mode; `repeats` rounds after a warm-up, the two sides of a comparison
timed in turn within each round on the work's own CPU clock, `kexue.timing.interleaved_seconds`, and
every round kept, so that a rule reads the spread and a busy machine does not decide the verdict):
- the SA block: Q, K, V, O projections + softmax attention (`MultiHeadAttention`, on SDPA);
- the FFN block: hd → 4hd → hd with GELU;
- the attention core alone: softmax SDPA against linear attention Q(KᵀV) ('elu' kernel), with the
  post's key size 4d (keys and values of size 4d, as the post's count assumes); causal too, as
  context, when `causal` is set.
Each row keeps the seconds of every round (`*_s`) and their median in ms (`*_ms`, for tables and plots).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kexue.attention.cost import LayerShape
from kexue.nn.attention import MultiHeadAttention
from kexue.nn.linear_attention import linear_attention
from kexue.timing import interleaved_seconds


@dataclass
class MeasureConfig:
    lengths: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096)
    h: int = 12  # heads (base)
    d: int = 64  # head size (base)
    key_mult: int = 4  # linear attention's key size in units of d (the post's 4)
    repeats: int = 5  # interleaved rounds, every one kept
    warmup: int = 1
    causal: bool = True  # also time the causal cores (context: no claim reads them)
    threads: int = 0  # 0 = torch's default; 1 makes the work's clock the thread's own CPU time
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
    """Per length: seconds of the SA block and the FFN block at hidden size h·d in each round. Every
    round visits every length and both blocks (one `interleaved_seconds` call), so a slow spell of the
    machine hits all lengths alike instead of bending the curve."""
    s = LayerShape(h=cfg.h, d=cfg.d)
    dtype, dev = getattr(torch, cfg.dtype), torch.device(cfg.device)
    sa = MultiHeadAttention(s.hidden, s.h).to(dev, dtype).eval()
    ffn = FFN(s.hidden).to(dev, dtype).eval()
    xs = {n: torch.randn(1, n, s.hidden, device=dev, dtype=dtype) for n in cfg.lengths}
    sides = {}
    for n, x in xs.items():
        sides[f"{n}/sa"] = lambda x=x: sa(x)
        sides[f"{n}/ffn"] = lambda x=x: ffn(x)
    with torch.inference_mode():
        times = interleaved_seconds(sides, cfg.repeats, cfg.warmup, device=cfg.device)
    return _rows(cfg.lengths, times)


def measure_cores(cfg: MeasureConfig) -> list[dict]:
    """Per length: seconds of softmax SDPA (head size d) and linear attention (key and value size k·d)
    in each round, non-causal (and causal when `cfg.causal`); every round visits every length."""
    dtype, dev = getattr(torch, cfg.dtype), torch.device(cfg.device)
    kd = cfg.key_mult * cfg.d
    sides = {}
    for n in cfg.lengths:
        q, k, v = (torch.randn(1, cfg.h, n, cfg.d, device=dev, dtype=dtype) for _ in range(3))
        ql, kl, vl = (torch.randn(1, cfg.h, n, kd, device=dev, dtype=dtype) for _ in range(3))
        for causal in (False, True) if cfg.causal else (False,):
            tag = "causal" if causal else "full"
            sides[f"{n}/softmax_{tag}"] = lambda q=q, k=k, v=v, c=causal: F.scaled_dot_product_attention(
                q, k, v, is_causal=c)
            sides[f"{n}/linear_{tag}"] = lambda q=ql, k=kl, v=vl, c=causal: linear_attention(
                q, k, v, "elu", causal=c, chunk=kd)
    with torch.inference_mode():
        times = interleaved_seconds(sides, cfg.repeats, cfg.warmup, device=cfg.device)
    return _rows(cfg.lengths, times)


def _rows(lengths: tuple[int, ...], times: dict[str, list[float]]) -> list[dict]:
    """{"n/side": seconds} → one row per n: {"n", side_s: seconds per round, side_ms: their median in ms}."""
    rows = []
    for n in lengths:
        row: dict = {"n": n}
        for key, secs in times.items():
            at, side = key.split("/")
            if int(at) == n:
                row[f"{side}_s"] = secs
                row[f"{side}_ms"] = 1e3 * statistics.median(secs)
        rows.append(row)
    return rows


def seconds(rows: list[dict], side: str) -> list[list[float]]:
    """[length][round] seconds of one side, for the rules of claims.py."""
    return [r[f"{side}_s"] for r in rows]


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
