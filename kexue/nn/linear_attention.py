"""Linear attention: the four similarity functions of posts 7546 and 8610, computed in O(n).

kexue.fm/archives/7546 generalises attention to

    out_i = Σ_j sim(q_i, k_j) v_j / Σ_j sim(q_i, k_j),   sim ≥ 0,

and when sim(q_i, k_j) = φ(q_i)ᵀφ(k_j) the sums reassociate: out_i = φ(q_i)ᵀS / φ(q_i)ᵀz with
S = Σ_j φ(k_j)v_jᵀ (a key_size × d matrix) and z = Σ_j φ(k_j), O(n) instead of O(n²).
kexue.fm/archives/8610 counts it as 2nd² multiplications per head (2n·m·d with key size m) against
2n²d for softmax. The kinds (`kind=`):
- "elu": φ(x) = elu(x) + 1 (Katharopoulos et al., "Transformers are RNNs").
- "efficient": Shen et al.'s Efficient Attention, softmax₂(Q) softmax₁(K)ᵀ V: softmax over the
  features d of each q_i, softmax over the positions n of each feature of K. Its normaliser is
  exactly 1. Causal form (the post does not give one; this is ours): the softmax over n of key
  feature d runs over the keys the query may see, j ≤ i:
      sim(q_i, k_j) = Σ_d softmax(q_i)_d · exp(k_jd) / Σ_{j'≤i} exp(k_j'd),   j ≤ i,
  which still sums to 1 over j ≤ i, and is linear: φ(q_i) = softmax(q_i) ⊘ Z_i with
  Z_i = Σ_{j≤i} exp(k_j) (a cumsum over n), φ(k_j) = exp(k_j).
- "cos": Su's sim = 1 + (q_i/‖q_i‖)ᵀ(k_j/‖k_j‖), the first-order Taylor expansion of e^{qᵀk} made
  non-negative by l2 normalisation; features φ(q) = [1, q̂], φ(k) = [1, k̂] (key size d + 1).
- "performer": FAVOR+ positive random features of e^{qᵀk} (Choromanski et al., see
  kexue.fm/archives/8338): φ(x) = exp(ωᵀx − ‖x‖²/2)/√m with m orthogonal Gaussian ω, so that
  E[φ(q)ᵀφ(k)] = e^{qᵀk}. m = 4d by default, the key size 8338/8610 say linear attention needs.

The causal form (sums over j ≤ i) is computed chunk by chunk: within a chunk of c positions a
masked c×c product, across chunks the running state [S, z] of the chunks before (key_size × (d+1)).
The n/c states come from one cumsum over chunks rather than a Python loop (faster in PyTorch), so
memory is O(n·m·d/c + n·c): linear in n, never an n×n matrix. `causal_linear_attention_cumsum`
is 7546's plain form that materialises every prefix state S_1..S_n ([b, h, n, m, d]);
`quadratic_linear_attention` builds the n×n sim matrix from the formula. Both are references for
the tests and the benchmark.

Where we depart: exp features are stabilised by subtracting a detached constant (per query row,
and per head over all keys) that cancels between numerator and denominator; in the causal form a
key prefix more than ~87 nats below the sequence's largest key underflows to weight 0 in float32.
An all-zero normaliser (every key masked) gives an output of 0 instead of 0/0.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Kind = Literal["elu", "efficient", "cos", "performer"]
KINDS: tuple[str, ...] = ("elu", "efficient", "cos", "performer")


class LinearAttention(nn.Module):
    """Self-attention x [b, n, hidden] → [b, n, hidden] with a linear kernel; swaps in for MultiHeadAttention.

    key_size is the size of the features φ(q), φ(k) per head: the q/k projection size for "elu",
    "efficient" and "cos" (default head_size), the number m of random features for "performer"
    (default 4·head_size, with q, k of head_size). Performer's q, k are scaled by d^(−1/4) so that
    φ(q)ᵀφ(k) estimates softmax attention's e^{qᵀk/√d}; its projection is a persistent buffer drawn
    from `seed`, so a saved model reloads with the same features. chunk: see `linear_attention`
    (default max(64, key_size)).
    """

    def __init__(self, hidden: int, heads: int, head_size: int | None = None, kind: Kind = "elu",
                 key_size: int | None = None, causal: bool = False, bias: bool = True,
                 chunk: int | None = None, seed: int = 0):
        super().__init__()
        _check_kind(kind)
        if head_size is None:
            if hidden % heads:
                raise ValueError(f"hidden {hidden} is not divisible by heads {heads}; pass head_size")
            head_size = hidden // heads
        self.heads, self.head_size, self.kind, self.causal = heads, head_size, kind, causal
        if kind == "performer":
            self.qk_size = head_size
            self.key_size = key_size or 4 * head_size
            self.register_buffer("projection", performer_projection(head_size, self.key_size, seed))
        else:
            self.qk_size = self.key_size = key_size or head_size
            self.projection = None
        # the causal form's chunk: about the key size, at least 64
        self.chunk = chunk or max(64, self.key_size)
        self.q = nn.Linear(hidden, heads * self.qk_size, bias=bias)
        self.k = nn.Linear(hidden, heads * self.qk_size, bias=bias)
        self.v = nn.Linear(hidden, heads * head_size, bias=bias)
        self.o = nn.Linear(heads * head_size, hidden, bias=bias)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        b, n, _ = x.shape
        key_mask = _key_mask_from(mask, b, n)
        q, k = (proj(x).view(b, n, self.heads, self.qk_size).transpose(1, 2) for proj in (self.q, self.k))
        v = self.v(x).view(b, n, self.heads, self.head_size).transpose(1, 2)
        if self.kind == "performer":
            # q, k ← q / d^(1/4), k / d^(1/4), so that E[φ(q)ᵀφ(k)] = e^{qᵀk/√d}
            q, k = q * self.qk_size ** -0.25, k * self.qk_size ** -0.25
        out = linear_attention(q, k, v, self.kind, causal=self.causal, chunk=self.chunk,
                               key_mask=key_mask, projection=self.projection)
        return self.o(out.transpose(1, 2).reshape(b, n, self.heads * self.head_size))

    def extra_repr(self) -> str:
        return f"kind={self.kind}, heads={self.heads}, key_size={self.key_size}, causal={self.causal}"


def linear_attention(q: Tensor, k: Tensor, v: Tensor, kind: Kind, causal: bool = False, chunk: int = 64,
                     key_mask: Tensor | None = None, projection: Tensor | None = None) -> Tensor:
    """out_i = φ(q_i)ᵀS / φ(q_i)ᵀz for q, k [b, h, n, d], v [b, h, n, e]; causal sums run over j ≤ i.

    key_mask [b, n] (True = a real key) drops keys; projection [d, m] is performer's ω
    (default: `performer_projection(d, 4d)`). chunk is the causal form's block length; about the
    key size m is fastest (64 for m = 64) and keeps the n/c chunk states of m × e small.
    """
    _check_qkv(q, k, v, kind)
    phi_q, phi_k = feature_maps(q, k, kind, causal, key_mask, projection)
    if causal:
        numerator, denominator = _causal_chunked(phi_q, phi_k, v, chunk)
    else:
        # [S, z] = φ(K)ᵀ[V, 1];  [out_i, norm_i] = φ(q_i)ᵀ[S, z]
        state = phi_k.transpose(-1, -2) @ torch.cat((v, v.new_ones(*v.shape[:-1], 1)), dim=-1)
        out = phi_q @ state
        numerator, denominator = out[..., :-1], out[..., -1:]
    return _divide(numerator, denominator)


def causal_linear_attention_cumsum(q: Tensor, k: Tensor, v: Tensor, kind: Kind, key_mask: Tensor | None = None,
                                   projection: Tensor | None = None) -> Tensor:
    """7546's plain causal form: S_i = Σ_{j≤i} φ(k_j)v_jᵀ for every i at once, an [b, h, n, m, e] cumsum."""
    _check_qkv(q, k, v, kind)
    phi_q, phi_k = feature_maps(q, k, kind, True, key_mask, projection)
    # S_i = S_{i−1} + φ(k_i) v_iᵀ ;  z_i = z_{i−1} + φ(k_i)
    S = torch.cumsum(phi_k.unsqueeze(-1) * v.unsqueeze(-2), dim=-3)
    z = torch.cumsum(phi_k, dim=-2)
    # out_i = φ(q_i)ᵀS_i / φ(q_i)ᵀz_i
    numerator = torch.einsum("...nm,...nme->...ne", phi_q, S)
    denominator = (phi_q * z).sum(dim=-1, keepdim=True)
    return _divide(numerator, denominator)


def quadratic_linear_attention(q: Tensor, k: Tensor, v: Tensor, kind: Kind, causal: bool = False,
                               key_mask: Tensor | None = None, projection: Tensor | None = None) -> Tensor:
    """The explicit formula out_i = Σ_j sim(q_i, k_j) v_j / Σ_j sim(q_i, k_j) with an n×n sim matrix."""
    _check_qkv(q, k, v, kind)
    n = q.shape[-2]
    visible = torch.ones(n, n, dtype=torch.bool, device=q.device)
    if causal:
        visible = visible.tril()
    visible = visible if key_mask is None else visible & key_mask[:, None, None, :]
    if kind == "elu":
        # sim = (elu(q)+1)ᵀ(elu(k)+1)
        sim = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-1, -2)
    elif kind == "cos":
        # sim = 1 + q̂ᵀk̂
        sim = 1 + F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-1, -2)
    elif kind == "efficient":
        # softmax over the visible positions j of each key feature d, separately for every query i
        logits = k.unsqueeze(-3).expand(*k.shape[:-2], n, n, k.shape[-1])  # [b, h, i, j, d]
        logits = logits.masked_fill(~visible.unsqueeze(-1), float("-inf"))
        k_soft = torch.softmax(logits, dim=-2).nan_to_num(0.0)
        # sim_ij = Σ_d softmax(q_i)_d softmax_{j'∈visible(i)}(k_j'd)|_j
        sim = torch.einsum("bhid,bhijd->bhij", torch.softmax(q, dim=-1), k_soft)
    else:
        omega = projection if projection is not None else performer_projection(
            q.shape[-1], 4 * q.shape[-1], device=q.device, dtype=q.dtype)
        # sim = φ(q)ᵀφ(k), the random-feature estimate of e^{qᵀk}
        sim = performer_features(q, omega) @ performer_features(k, omega).transpose(-1, -2)
    sim = sim * visible
    return _divide(sim @ v, sim.sum(dim=-1, keepdim=True))


def feature_maps(q: Tensor, k: Tensor, kind: Kind, causal: bool, key_mask: Tensor | None = None,
                 projection: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """φ(Q), φ(K) [b, h, n, m] with sim(q_i, k_j) = φ(q_i)ᵀφ(k_j); masked keys get φ(k_j) = 0.

    For "efficient", φ(q_i) folds in 1/Z_i, which depends on the keys (all of them, or j ≤ i if causal).
    """
    keep = None
    if key_mask is not None:
        if key_mask.dtype != torch.bool or key_mask.shape != (q.shape[0], q.shape[-2]):
            raise ValueError(f"key_mask must be a bool [b, n] = {[q.shape[0], q.shape[-2]]} tensor, "
                             f"got {key_mask.dtype} {list(key_mask.shape)}")
        keep = key_mask[:, None, :, None].to(q.dtype)
    if kind == "elu":
        # φ(x) = elu(x) + 1
        phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    elif kind == "cos":
        # φ(q) = [1, q/‖q‖], φ(k) = [1, k/‖k‖]
        ones = q.new_ones(*q.shape[:-1], 1)
        phi_q = torch.cat((ones, F.normalize(q, dim=-1)), dim=-1)
        phi_k = torch.cat((ones, F.normalize(k, dim=-1)), dim=-1)
    elif kind == "efficient":
        # φ(k_j) = exp(k_j − c), c = the per-feature max over n (a constant that cancels)
        phi_k = torch.exp(k - k.amax(dim=-2, keepdim=True).detach())
        if keep is not None:
            phi_k = phi_k * keep
        # Z_i = Σ_{j≤i} φ(k_j) (causal) or Σ_j φ(k_j): the softmax over n's denominator
        Z = phi_k.cumsum(dim=-2) if causal else phi_k.sum(dim=-2, keepdim=True)
        # φ(q_i) = softmax(q_i) ⊘ Z_i
        phi_q = _divide(torch.softmax(q, dim=-1), Z)
        return phi_q, phi_k
    else:
        omega = projection if projection is not None else performer_projection(
            q.shape[-1], 4 * q.shape[-1], device=q.device, dtype=q.dtype)
        if omega.shape[0] != q.shape[-1]:
            raise ValueError(f"projection has {omega.shape[0]} rows but q, k have size {q.shape[-1]}; "
                             f"build it with performer_projection({q.shape[-1]}, m)")
        # per query row and per head over all keys: constants that cancel in the ratio
        phi_q = performer_features(q, omega, stabilise="row")
        phi_k = performer_features(k, omega, stabilise="all")
    if keep is not None:
        phi_k = phi_k * keep
    return phi_q, phi_k


def performer_features(x: Tensor, omega: Tensor, stabilise: Literal["row", "all"] | None = None) -> Tensor:
    """FAVOR+ φ(x) = exp(ωᵀx − ‖x‖²/2)/√m for x [..., n, d], ω [d, m]; E[φ(q)ᵀφ(k)] = e^{qᵀk}.

    stabilise="row" divides each row φ(x_i) by its largest entry's exp-exponent (for queries: it
    cancels in out_i); "all" divides by one constant over all n rows (for keys). Both are detached.
    """
    omega_x = x @ omega.to(x.dtype)
    half_norm = x.pow(2).sum(dim=-1, keepdim=True) / 2
    # ‖x‖²/2 + log √m, the exponent's offset per row
    shift = half_norm + math.log(omega.shape[-1]) / 2
    if stabilise is not None:
        # max_r (ω_rᵀx − ‖x‖²/2) per row, then over rows for "all"
        row_max = omega_x.amax(dim=-1, keepdim=True) - half_norm
        shift = shift + (row_max if stabilise == "row" else row_max.amax(dim=-2, keepdim=True)).detach()
    # φ(x) = exp(ωᵀx − ‖x‖²/2) / √m
    return torch.exp(omega_x - shift)


def performer_projection(d: int, m: int, seed: int = 0, device: torch.device | None = None,
                         dtype: torch.dtype = torch.float32) -> Tensor:
    """ω [d, m]: blocks of d orthogonal directions, each column with a χ_d length, so every ω_r ~ N(0, I_d)."""
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(math.ceil(m / d), d, d, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(gaussian)
    # fix QR's signs so that each block Q is Haar-distributed
    blocks = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)
    directions = blocks.permute(1, 0, 2).reshape(d, -1)[:, :m]
    lengths = torch.randn(d, m, generator=generator, dtype=torch.float64).norm(dim=0)
    return (directions * lengths).to(device=device, dtype=dtype)


def _causal_chunked(phi_q: Tensor, phi_k: Tensor, v: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """Numerator φ(q_i)ᵀS_i and denominator φ(q_i)ᵀz_i over j ≤ i, chunk by chunk (c positions)."""
    if c < 1:
        raise ValueError(f"chunk must be >= 1, got {c}")
    n = phi_q.shape[-2]
    c = min(c, n)
    # [V, 1]: one product gives S and z together
    v1 = torch.cat((v, v.new_ones(*v.shape[:-1], 1)), dim=-1)
    pad = (-n) % c
    if pad:
        # zero features at the end: padded keys add nothing to any state
        phi_q, phi_k, v1 = (F.pad(t, (0, 0, 0, pad)) for t in (phi_q, phi_k, v1))
    # [b, h, N, c, ·]: chunk t holds positions tc..tc+c−1
    phi_q, phi_k, v1 = (t.unflatten(-2, (-1, c)) for t in (phi_q, phi_k, v1))
    # within a chunk: A = tril(φ(Q_t) φ(K_t)ᵀ), a c×c matrix
    A = (phi_q @ phi_k.transpose(-1, -2)) * torch.ones(c, c, dtype=torch.bool, device=v.device).tril()
    # across chunks: [S_t, z_t] = Σ_{t'<t} φ(K_t')ᵀ[V_t', 1], an exclusive cumsum over chunks
    state = torch.cumsum(phi_k.transpose(-1, -2) @ v1, dim=-3)
    state = F.pad(state[..., :-1, :, :], (0, 0, 0, 0, 1, 0))
    # [out_i, norm_i] = A[V_t, 1] + φ(q_i)ᵀ[S_t, z_t]
    out = (A @ v1 + phi_q @ state).flatten(-3, -2)[..., :n, :]
    return out[..., :-1], out[..., -1:]


def _divide(numerator: Tensor, denominator: Tensor) -> Tensor:
    """numerator / denominator, and 0 where the denominator underflowed below the smallest normal float.

    With sim ≥ 0 a zero normaliser means every term was 0; dividing by 1 there keeps the gradient finite.
    """
    seen = denominator >= torch.finfo(denominator.dtype).tiny
    return torch.where(seen, numerator / torch.where(seen, denominator, 1.0), 0.0)


def _key_mask_from(mask: Tensor | None, b: int, n: int) -> Tensor | None:
    """A [b, 1, 1, n] key padding mask as [b, n]; any other mask is an error."""
    if mask is None:
        return None
    if mask.dtype != torch.bool or mask.dim() != 4 or mask.shape[1:3] != (1, 1) or mask.shape[-1] != n \
            or mask.shape[0] not in (1, b):
        raise ValueError(f"LinearAttention takes only a bool key padding mask [b, 1, 1, n] = [{b}, 1, 1, {n}] "
                         f"(see padding_mask), got {mask.dtype} {list(mask.shape)}; for causal attention "
                         f"build the module with causal=True")
    return mask[:, 0, 0, :].expand(b, n)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")


def _check_qkv(q: Tensor, k: Tensor, v: Tensor, kind: str) -> None:
    _check_kind(kind)
    if q.dim() != 4 or q.shape != k.shape or v.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"q, k, v must be [b, h, n, d], [b, h, n, d], [b, h, n, e]; got "
                         f"{list(q.shape)}, {list(k.shape)}, {list(v.shape)}")
