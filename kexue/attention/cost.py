"""The multiplication count of a Transformer layer, exactly as post 8610 counts it.

kexue.fm/archives/8610. An a×b by b×c matrix product costs abc multiplications; softmax, norms,
residuals, activations and biases are ignored. n = sequence length, h = heads, d = head size, so
hd is the hidden size (768 for base). The post's results, which this module computes:

    SA  = 3n(hd)² + h(n²d + n²d) + n(hd)² = 4nh²d² + 2n²hd
    FFN = n·hd·4hd + n·4hd·hd          = 8nh²d²
    SA > FFN                 ⇔ n > 2hd   (base: 1536)
    2n²hd > 12nh²d² (the n² term dominates the layer) ⇔ n > 6hd   (base: 4608)
    linear attention, key size k·d: 2n(kd)² per head; beats softmax's 2n²d ⇔ n > k²d (k = 4: 16d = 1024)

We add nothing to the count; `linear_attention_mults` keeps the post's substitution d → k·d in both
factors (key and value size), which is what gives 16d at k = 4.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerShape:
    """A Transformer layer's size in the post's letters: hidden size = h·d, FFN width = 4hd."""

    h: int = 12  # heads (base)
    d: int = 64  # head size (base)
    ffn_mult: int = 4  # FFN width / hidden size (the post's 4)

    @property
    def hidden(self) -> int:
        return self.h * self.d


BASE = LayerShape(h=12, d=64)  # BERT-base: hidden 768
LARGE = LayerShape(h=16, d=64)  # BERT-large: hidden 1024


def sa_mults(n: int, s: LayerShape = BASE) -> int:
    """Self-attention: Q, K, V and output projections 4n(hd)², scores and weighted sum 2n²hd."""
    h, d = s.h, s.d
    # 4nh²d² + 2n²hd
    return 4 * n * h**2 * d**2 + 2 * n**2 * h * d


def ffn_mults(n: int, s: LayerShape = BASE) -> int:
    """The feed-forward block hd → m·hd → hd (m = 4): 2m·n(hd)² = 8nh²d² for m = 4."""
    # n·hd·(m·hd) + n·(m·hd)·hd
    return 2 * s.ffn_mult * n * s.hidden**2


def layer_mults(n: int, s: LayerShape = BASE) -> int:
    """One layer: SA + FFN = 12nh²d² + 2n²hd."""
    return sa_mults(n, s) + ffn_mults(n, s)


def quadratic_share(n: int, s: LayerShape = BASE) -> float:
    """The share of the layer spent on the n² term: 2n²hd / (12nh²d² + 2n²hd) = 2n / (12hd + 2n)."""
    return 2 * n**2 * s.h * s.d / layer_mults(n, s)


def softmax_attention_mults(n: int, s: LayerShape = BASE) -> int:
    """Scores QKᵀ and the product with V, over all heads: h(n²d + n²d) = 2n²hd."""
    return 2 * n**2 * s.h * s.d


def linear_attention_mults(n: int, s: LayerShape = BASE, key_mult: int = 1) -> int:
    """Q(KᵀV) over all heads with key size k·d: h · 2n(kd)² (the post substitutes d → kd in both factors)."""
    kd = key_mult * s.d
    # h · (n·kd·kd for KᵀV + n·kd·kd for Q(KᵀV))
    return 2 * n * s.h * kd**2


def crossover_sa_ffn(s: LayerShape = BASE) -> int:
    """SA > FFN ⇔ 4nh²d² + 2n²hd > 2m·nh²d² ⇔ n > (m − 2)hd, = 2hd for the post's m = 4."""
    return (s.ffn_mult - 2) * s.h * s.d


def crossover_quadratic(s: LayerShape = BASE) -> int:
    """The n² term is the larger half of the layer ⇔ 2n²hd > (4 + 2m)nh²d² ⇔ n > (2 + m)hd = 6hd."""
    return (2 + s.ffn_mult) * s.h * s.d


def crossover_linear(s: LayerShape = BASE, key_mult: int = 4) -> int:
    """Linear attention with key size k·d beats softmax ⇔ 2n²d > 2n(kd)² ⇔ n > k²d (16d at k = 4)."""
    return key_mult**2 * s.d


@dataclass(frozen=True)
class CostRow:
    n: int
    sa: int
    ffn: int
    layer: int
    sa_over_ffn: float
    quadratic_share: float
    softmax_attention: int
    linear_attention: int  # at the given key multiple


def cost_table(lengths: list[int], s: LayerShape = BASE, key_mult: int = 4) -> list[CostRow]:
    """One row per sequence length: the post's counts and the ratios it reasons with."""
    rows = []
    for n in lengths:
        sa, ffn = sa_mults(n, s), ffn_mults(n, s)
        rows.append(CostRow(n=n, sa=sa, ffn=ffn, layer=sa + ffn, sa_over_ffn=sa / ffn,
                            quadratic_share=quadratic_share(n, s),
                            softmax_attention=softmax_attention_mults(n, s),
                            linear_attention=linear_attention_mults(n, s, key_mult)))
    return rows
