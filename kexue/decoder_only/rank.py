"""The rank argument of post 9529, measured: n×n attention matrices under each mask and their ranks.

kexue.fm/archives/9529 (and 8338 on linear attention). The post's argument: a bidirectional attention
matrix comes from QKᵀ, an n×d by d×n product (n ≫ d), then a softmax, and suffers a low-rank problem
(Dong et al. 2021); the softmax "raises the rank somewhat" (会有一定的升秩作用, pointing to 8338's
section on the low-rank problem), so linear attention, with no softmax, has the lower rank. A causal
matrix is lower triangular with a positive diagonal, so det A = Π A_ii > 0 and it is always full
rank. Exactly:

- causal softmax (and the causal rows of the prefix-LM mask): A_ij = 0 for j > i and A_ii > 0, so
  det A = Π_i A_ii > 0: full rank n, for every Q, K. A prefix-LM matrix is block lower triangular,
  [[P, 0], [X, L]] with P the prefix's bidirectional block and L causal, so det A = det P · det L.
- bidirectional linear attention, A = D⁻¹ φ(Q)φ(K)ᵀ with φ(x) = elu(x) + 1 and D the row sums, has
  rank ≤ d (8338): a product through a d-dimensional space, row-scaled.
- causal linear attention is lower triangular with A_ii = φ(q_i)ᵀφ(k_i)/Σ_{j≤i} φ(q_i)ᵀφ(k_j) > 0
  (φ > 0): full rank.
- bidirectional softmax attention: the elementwise exp raises the rank of QKᵀ, generically to full
  rank in exact arithmetic (the post's "raises the rank", taken to its end), so its low-rank problem
  is one of effective rank: its singular values decay fast. We report the numerical rank
  (#σ_i > rtol·σ_max, rtol stated), the float64 rank (σ_i > n·eps·σ_max) and the effective rank
  exp(H(σ/Σσ)) (Roy & Vetterli 2007) beside the exact statements.
- the post's fix for bidirectional models: mix directions, half the heads causal and half
  anti-causal (upper triangular with a positive diagonal: full rank too), or alternate the direction
  by layer. `mixed_direction` checks each such matrix is full rank while the heads (or two layers
  composed) still connect every position to every other.

Where we depart: the post states the argument; the sweep (n, d, temperature τ, seeds), the effective
rank and the trained-model measurement (`trained_effective_ranks`) are ours. Random Q, K are i.i.d.
N(0, 1) and the scores are QKᵀ/(τ√d); low τ sharpens. Linear attention has no score scale: τ ≠ 1 is
refused for its kinds rather than ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from kexue.nn.attention import backward_mask, causal_mask, prefix_mask

Kind = Literal["bidirectional", "causal", "prefix", "backward", "linear", "causal_linear"]
KINDS: tuple[str, ...] = ("bidirectional", "causal", "prefix", "backward", "linear", "causal_linear")
LINEAR_KINDS: tuple[str, ...] = ("linear", "causal_linear")  # no softmax, so no temperature
RTOL = 1e-6  # numerical rank counts σ_i > RTOL·σ_max (the threshold of the rank table)


@dataclass
class RankConfig:
    ns: tuple[int, ...] = (64, 128, 256, 512, 1024)  # sequence lengths n
    ds: tuple[int, ...] = (16, 32, 64)  # head sizes d
    temperatures: tuple[float, ...] = (1.0,)  # τ in softmax(QKᵀ/(τ√d))
    seeds: int = 3
    kinds: tuple[str, ...] = ("bidirectional", "causal", "prefix", "linear", "causal_linear")
    prefix_frac: float = 0.5  # the prefix-LM mask's prefix is the first prefix_frac·n positions
    rtol: float = RTOL


def attention_matrix(q: Tensor, k: Tensor, kind: str, prefix_len: int = 0, temperature: float = 1.0) -> Tensor:
    """The n×n attention matrix A (rows sum to 1) of q, k [..., n, d] under `kind`."""
    _check_kind(kind)
    n, d = q.shape[-2], q.shape[-1]
    if kind in LINEAR_KINDS and temperature != 1.0:
        raise ValueError(f"temperature {temperature:g}: the {kind} kind has no score scale (τ applies to the "
                         "softmax kinds only)")
    if kind in LINEAR_KINDS:
        # sim(q_i, k_j) = φ(q_i)ᵀφ(k_j), φ(x) = elu(x) + 1 > 0
        sim = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-1, -2)
        if kind == "causal_linear":
            sim = sim * causal_mask(n, q.device)
        # A_ij = sim_ij / Σ_j' sim_ij'
        return sim / sim.sum(-1, keepdim=True)
    # S = QKᵀ / (τ√d)
    scores = q @ k.transpose(-1, -2) / (temperature * math.sqrt(d))
    mask = {"bidirectional": None, "causal": causal_mask(n, q.device), "backward": backward_mask(n, q.device),
            "prefix": prefix_mask(n, prefix_len, q.device)}[kind]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    # A = softmax(S + M)
    return torch.softmax(scores, dim=-1)


def singular_values(a: Tensor) -> Tensor:
    """σ_1 ≥ σ_2 ≥ ... of a [..., n, n] (float64 inside)."""
    return torch.linalg.svdvals(a.double())


def numerical_rank(a: Tensor, rtol: float | None = None) -> Tensor:
    """#σ_i > rtol·σ_max; rtol None is numpy's n·eps of float64 (the rank "in exact arithmetic" as far
    as float64 can tell)."""
    sigma = singular_values(a)
    if rtol is None:
        rtol = a.shape[-1] * torch.finfo(torch.float64).eps
    return (sigma > rtol * sigma[..., :1]).sum(-1)


def effective_rank(a: Tensor) -> Tensor:
    """exp(H(p)), p_i = σ_i / Σ_j σ_j: between 1 (one direction) and n (all σ equal)."""
    return _effective_rank_of(singular_values(a))


def _effective_rank_of(sigma: Tensor) -> Tensor:
    p = sigma / sigma.sum(-1, keepdim=True)
    # H(p) = −Σ p_i log p_i, with 0 log 0 = 0
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)
    return entropy.exp()


def is_triangular_with_positive_diagonal(a: Tensor, lower: bool = True) -> bool:
    """The exact certificate of full rank: every entry on the wrong side of the diagonal is exactly 0
    and every diagonal entry is > 0, so det A = Π A_ii > 0."""
    n = a.shape[-1]
    wrong_side = torch.ones(n, n, dtype=torch.bool, device=a.device).triu(1)
    if not lower:
        wrong_side = wrong_side.T
    return bool((a[..., wrong_side] == 0).all() and (torch.diagonal(a, dim1=-2, dim2=-1) > 0).all())


def log_det_triangular(a: Tensor) -> Tensor:
    """log det A = Σ_i log A_ii for a triangular A (finite ⇔ det > 0 when every A_ii ≥ 0)."""
    return torch.log(torch.diagonal(a.double(), dim1=-2, dim2=-1)).sum(-1)


def random_qk(n: int, d: int, seed: int, heads: int = 1, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """q, k [heads, n, d], i.i.d. N(0, 1), from their own generator."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(heads, n, d, generator=g, dtype=dtype), torch.randn(heads, n, d, generator=g, dtype=dtype))


def rank_table(cfg: RankConfig | None = None, qk: dict[tuple[int, int, int], tuple[Tensor, Tensor]] | None = None,
               ) -> list[dict]:
    """One row per (kind, n, d, τ): per-seed numerical rank (at cfg.rtol), float64 rank (at n·eps) and
    effective rank, and for the triangular kinds
    whether every seed's matrix carried the exact certificate (triangular, positive diagonal).

    `qk` maps (n, d, seed) to given q, k [n, d] (e.g. from a trained model); random N(0, 1) otherwise.
    """
    cfg = cfg or RankConfig()
    for kind in cfg.kinds:
        _check_kind(kind)
    rows = []
    for n in cfg.ns:
        for d in cfg.ds:
            for tau in cfg.temperatures:
                for kind in cfg.kinds:
                    num, exact, eff, certified, causal_part_rank, wrong = [], [], [], [], [], []
                    p = int(round(cfg.prefix_frac * n)) if kind == "prefix" else 0
                    for seed in range(cfg.seeds):
                        if qk is not None:
                            q, k = qk[(n, d, seed)]
                        else:
                            q, k = (t[0] for t in random_qk(n, d, seed))
                        a = attention_matrix(q.double(), k.double(), kind, prefix_len=p, temperature=tau)
                        sigma = singular_values(a)
                        num.append(int((sigma > cfg.rtol * sigma[0]).sum()))
                        exact.append(int((sigma > n * torch.finfo(torch.float64).eps * sigma[0]).sum()))
                        eff.append(float(_effective_rank_of(sigma)))
                        if kind in ("causal", "causal_linear"):
                            certified.append(is_triangular_with_positive_diagonal(a))
                        elif kind == "backward":
                            certified.append(is_triangular_with_positive_diagonal(a, lower=False))
                        elif kind == "prefix":
                            # the causal part: rows and columns from the prefix on, lower triangular
                            certified.append(is_triangular_with_positive_diagonal(a[p:, p:]))
                            causal_part_rank.append(int(numerical_rank(a[p:, p:], cfg.rtol)))
                        elif kind == "bidirectional":
                            # the negative control of the certificate: a full matrix must fail it
                            wrong.append(is_triangular_with_positive_diagonal(a))
                    row = {"kind": kind, "n": n, "d": d, "temperature": tau, "rtol": cfg.rtol,
                           "numerical_rank": num, "float64_rank": exact, "effective_rank": eff}
                    if certified:
                        row["certified_full_rank"] = all(certified)
                    if wrong:
                        row["triangular_certificate"] = all(wrong)
                    if causal_part_rank:
                        row["causal_part_rank"] = causal_part_rank
                    rows.append(row)
    return rows


def exact_rank(kind: str, n: int, d: int, seed: int = 0, temperature: float = 1.0) -> int:
    """The float64 rank at numpy's tolerance n·eps·σ_max: what "rank in exact arithmetic" reads as."""
    q, k = (t[0] for t in random_qk(n, d, seed))
    return int(numerical_rank(attention_matrix(q, k, kind, prefix_len=n // 2, temperature=temperature)))


def mixed_direction(n: int = 128, d: int = 16, heads: int = 4, seed: int = 0, temperature: float = 1.0) -> dict:
    """The post's two fixes, on random q, k: per-head numerical ranks and certificates, and whether the
    layer still mixes everything.

    half heads: heads 0..H/2−1 causal, the rest backward (anti-causal); the layer's output at i depends
      on input j through some head iff (Σ_h A_h)_ij > 0: true for every i, j.
    alternate layers: a causal layer then a backward one; position i reaches j through the product
      A_backward · A_causal, all of whose entries are > 0 (i sees m ≥ i, which sees j ≤ m; take m = n−1).
    The bidirectional head's effective rank is given beside them for reference.
    """
    if heads < 2 or heads % 2:
        raise ValueError(f"mixed_direction needs an even number of heads ≥ 2, got {heads}")
    q, k = random_qk(n, d, seed, heads=heads)
    forward = [h < heads // 2 for h in range(heads)]
    mats = [attention_matrix(q[h], k[h], "causal" if f else "backward", temperature=temperature)
            for h, f in zip(range(heads), forward)]
    certified = [is_triangular_with_positive_diagonal(a, lower=f) for a, f in zip(mats, forward)]
    layer_support = torch.stack(mats).sum(0) > 0
    # the negative control: a layer of causal heads only (GPT's) never lets i see j > i
    causal_support = torch.stack([attention_matrix(q[h], k[h], "causal", temperature=temperature)
                                  for h in range(heads)]).sum(0) > 0
    a_fwd = attention_matrix(q[0], k[0], "causal", temperature=temperature)
    a_bwd = attention_matrix(q[1], k[1], "backward", temperature=temperature)
    # two layers: x ↦ A_bwd (A_fwd x)
    two_layers = a_bwd @ a_fwd
    bidirectional = [attention_matrix(q[h], k[h], "bidirectional", temperature=temperature) for h in range(heads)]
    return {
        "n": n, "d": d, "heads": heads, "forward": forward,
        "head_numerical_rank": [int(numerical_rank(a, RTOL)) for a in mats],
        "head_effective_rank": [float(effective_rank(a)) for a in mats],
        "head_certified_full_rank": certified,
        "half_heads_mix_all": bool(layer_support.all()),
        "causal_heads_mix_all": bool(causal_support.all()),
        "alternate_layers_certified": [is_triangular_with_positive_diagonal(a_fwd),
                                       is_triangular_with_positive_diagonal(a_bwd, lower=False)],
        "alternate_layers_mix_all": bool((two_layers > 0).all()),
        "bidirectional_effective_rank": [float(effective_rank(a)) for a in bidirectional],
        "bidirectional_numerical_rank": [int(numerical_rank(a, RTOL)) for a in bidirectional],
    }


def trained_effective_ranks(qk: list[list[tuple[Tensor, Tensor]]]) -> dict[str, list[float]]:
    """Per (layer, head) of one model, the mean effective rank over sentences of the bidirectional matrix
    softmax(QKᵀ/√d) and of the causal one on the same Q, K. `qk[s][l]` is sentence s's layer-l (q, k)
    [heads, n, d]. Returns {"bidirectional": [...], "causal": [...]}, one value per (layer, head)."""
    sums: dict[str, list[float]] = {"bidirectional": [], "causal": []}
    for layers in qk:
        units = [(q[h].double(), k[h].double()) for q, k in layers for h in range(q.shape[0])]
        for kind, acc in sums.items():
            values = [float(effective_rank(attention_matrix(q, k, kind))) for q, k in units]
            if not acc:
                acc.extend([0.0] * len(values))
            for i, v in enumerate(values):
                acc[i] += v / len(qk)
    return sums


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"attention kind {kind!r} is not one of {', '.join(KINDS)}")
