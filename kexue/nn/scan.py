"""Scans of the diagonal linear recurrence x_t = a_t ⊙ x_{t−1} + b_t, in plain PyTorch.

kexue.fm/archives/9554 (§并行化). The recurrence of the LRU is an associative scan over the pairs
(a_t, b_t) with (a_i, b_i) ∘ (a_j, b_j) = (a_j a_i, a_j b_i + b_j); x_t is the b-part of the
inclusive scan. PyTorch has no associative scan (pytorch#95408), so here are five ways to compute it:

- `scan_sequential`     the reference: a Python loop over `b.unbind(time)`. It never indexes
                        `x[:, t]` inside an autograd loop, which would make the backward O(L²).
- `scan_odd_even`       log-depth and O(L) work: combine neighbouring pairs, scan the half-length
                        sequence recursively, then fill in the even positions (the "Odd/Even" prefix
                        sum Su mentions but did not implement in TF1). Autograd runs through its ops.
- `scan_upper_lower`    Su's "Upper/Lower" (Sklansky) scheme of bojone/rnn: pad L to 2^m; at level i
                        add λ^{1..2^i} ⊙ (last state of the first half) to the second half of every
                        block of 2^{i+1}. O(L log L) work, log L steps, constant λ only.
- `scan_parallel`       the odd/even scan forwards without a graph, and a hand-written backward,
                        which is again a linear scan, run backwards in time:
                          ḡ_t = g_t + conj(a_{t+1}) ḡ_{t+1},  ∂b_t = ḡ_t,  ∂a_t = ḡ_t conj(x_{t−1}).
                        It keeps only x for the backward, where autograd keeps every level.
- `scan_chunked`        the fastest on CPU (benchmarks/lru.py), constant λ only: cut L into C ≈ √L
                        chunks of T steps; step all chunks at once from a zero state (T steps), scan
                        the C chunk ends with λ^T (odd/even), then add λ^{t+1} × (the previous chunk's
                        true end) to every chunk: 2√L sequential steps, O(L) work, powers of λ only
                        up to λ^T. The same hand-written backward, run in reverse without flipping.

`linear_scan(a, b, x0, method)` picks one. Shapes: b [..., L, N]; a either [N] (or anything that
broadcasts against b[..., 0, :], a constant λ, as in the LRU) or [..., L, N] (time-varying);
x0 [..., N] is the state before t = 0 (zero by default). Real or complex dtypes alike.

`scan_closed_form` is the form the post warns against, x_t = λ^t Σ_{k≤t} λ^{−k} b_k: it is here only
to show that it overflows (|λ| < 1 makes λ^{−k} explode); never use it.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Method = Literal["parallel", "chunked", "odd_even", "upper_lower", "sequential"]
METHODS: tuple[str, ...] = ("parallel", "chunked", "odd_even", "upper_lower", "sequential")


def linear_scan(a: Tensor, b: Tensor, x0: Tensor | None = None, method: Method = "parallel") -> Tensor:
    """x_t = a_t ⊙ x_{t−1} + b_t for t = 0..L−1 along dim −2 of b, with x_{−1} = x0 (or 0)."""
    if method == "parallel":
        return scan_parallel(a, b, x0)
    if method == "chunked":
        return scan_chunked(a, b, x0)
    if method == "odd_even":
        return scan_odd_even(a, b, x0)
    if method == "upper_lower":
        return scan_upper_lower(a, b, x0)
    if method == "sequential":
        return scan_sequential(a, b, x0)
    raise ValueError(f"linear_scan: method={method!r} is not one of {', '.join(METHODS)}")


def scan_sequential(a: Tensor, b: Tensor, x0: Tensor | None = None) -> Tensor:
    a, b = _prepare(a, b, x0)
    steps = a.unbind(-2) if a.shape[-2] > 1 else [a.squeeze(-2)] * b.shape[-2]
    x = x0 if x0 is not None else torch.zeros_like(b.select(-2, 0))
    xs = []
    for a_t, b_t in zip(steps, b.unbind(-2)):
        # x_t = a_t ⊙ x_{t−1} + b_t
        x = a_t * x + b_t
        xs.append(x)
    return torch.stack(xs, dim=-2)


def scan_odd_even(a: Tensor, b: Tensor, x0: Tensor | None = None) -> Tensor:
    a, b = _prepare(a, b, x0)
    if x0 is not None:
        b = _add_initial(a, b, x0)
    return _odd_even(a, b)


def scan_upper_lower(a: Tensor, b: Tensor, x0: Tensor | None = None) -> Tensor:
    a, b = _prepare(a, b, x0)
    if a.shape[-2] != 1:
        raise ValueError(f"scan_upper_lower: a has {a.shape[-2]} time steps; Su's scheme needs a constant λ "
                         "(a of shape [..., N]); use method='parallel' for a time-varying a")
    if x0 is not None:
        b = _add_initial(a, b, x0)
    length = b.shape[-2]
    size = 1 << max(0, (length - 1).bit_length())  # pad L up to 2^m
    if size > length:
        b = torch.cat([b, b.new_zeros(*b.shape[:-2], size - length, b.shape[-1])], dim=-2)
    lead, n = b.shape[:-2], b.shape[-1]
    # powers = λ^1..λ^half, grown by doubling: [λ^1..λ^h, λ^h·(λ^1..λ^h)]; never a negative power
    powers = a
    half = 1
    while half < size:
        # blocks of 2·half: the second half gets λ^{1..half} ⊙ (the last state of the first half)
        blocks = b.reshape(*lead, size // (2 * half), 2, half, n)
        first, second = blocks.select(-3, 0), blocks.select(-3, 1)
        last = first[..., half - 1:, :]
        # x_{T} = λ^{T−t} x_t + (the scan of the second half alone), T in the second half
        second = second + powers.unsqueeze(-3) * last
        b = torch.stack([first, second], dim=-3).reshape(*lead, size, n)
        powers = torch.cat([powers, powers * powers[..., -1:, :]], dim=-2)
        half *= 2
    return b[..., :length, :]


def scan_parallel(a: Tensor, b: Tensor, x0: Tensor | None = None) -> Tensor:
    a, b = _prepare(a, b, x0)
    # x0 enters as b_0 ← b_0 + a_0 x0, through autograd (one op), then the scan
    return _Scan.apply(a, b if x0 is None else _add_initial(a, b, x0), "parallel")


def scan_chunked(a: Tensor, b: Tensor, x0: Tensor | None = None) -> Tensor:
    a, b = _prepare(a, b, x0)
    if a.shape[-2] != 1:
        raise ValueError(f"scan_chunked: a has {a.shape[-2]} time steps; the chunked scan needs a constant λ "
                         "(a of shape [..., N]); use method='parallel' for a time-varying a")
    return _Scan.apply(a, b if x0 is None else _add_initial(a, b, x0), "chunked")


def scan_closed_form(a: Tensor, b: Tensor) -> Tensor:
    """x_t = λ^t Σ_{k≤t} λ^{−k} b_k, constant λ: exact in real numbers, overflows in floating point."""
    t = torch.arange(b.shape[-2], device=b.device, dtype=b.real.dtype).unsqueeze(-1)
    log_lambda = torch.log(a)
    # λ^{−k} b_k, cumsum over k, then λ^t
    return torch.exp(t * log_lambda) * torch.cumsum(torch.exp(-t * log_lambda) * b, dim=-2)


# ---- helpers ----

def _prepare(a: Tensor, b: Tensor, x0: Tensor | None) -> tuple[Tensor, Tensor]:
    """a with a time axis (of size 1 or L) that broadcasts against b [..., L, N]."""
    if b.dim() < 2:
        raise ValueError(f"linear_scan: b has shape {tuple(b.shape)}; expected [..., L, N]")
    if a.dim() < b.dim():
        a = a.unsqueeze(-2)  # constant in time
    if a.shape[-2] not in (1, b.shape[-2]):
        raise ValueError(f"linear_scan: a has {a.shape[-2]} time steps but b has {b.shape[-2]}; "
                         "pass a of shape [..., N] (constant) or [..., L, N]")
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(f"linear_scan: a of shape {tuple(a.shape)} does not broadcast against b of shape "
                         f"{tuple(b.shape)}") from None
    if x0 is not None and x0.shape[-1] != b.shape[-1]:
        raise ValueError(f"linear_scan: x0 has {x0.shape[-1]} channels, b has {b.shape[-1]}")
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def _add_initial(a: Tensor, b: Tensor, x0: Tensor) -> Tensor:
    # b_0 ← a_0 x0 + b_0, so that the scan from a zero state gives x_t with x_{−1} = x0
    first = a[..., :1, :] * x0.unsqueeze(-2) + b[..., :1, :]
    return torch.cat([first, b[..., 1:, :]], dim=-2)


def _odd_even(a: Tensor, b: Tensor) -> Tensor:
    """The recursive odd/even scan; a has a time axis of size 1 (constant) or L."""
    length = b.shape[-2]
    if length == 1:
        return b
    m = length // 2
    b_even, b_odd = b[..., 0::2, :], b[..., 1::2, :]  # b_0, b_2, ... (m or m+1) and b_1, b_3, ... (m)
    if a.shape[-2] == 1:
        a_even = a_odd = a
        a_pair = a * a
    else:
        a_even, a_odd = a[..., 0::2, :], a[..., 1::2, :]
        a_pair = a_odd * a_even[..., :m, :]
    # the pair (2k, 2k+1) combined: (a_{2k+1} a_{2k}, a_{2k+1} b_{2k} + b_{2k+1})
    b_pair = a_odd * b_even[..., :m, :] + b_odd
    # x_{2k+1} = the scan of the pairs
    x_odd = _odd_even(a_pair, b_pair)
    # x_{2k} = a_{2k} x_{2k−1} + b_{2k} for k ≥ 1, x_0 = b_0
    a_next = a_even if a.shape[-2] == 1 else a_even[..., 1:, :]
    rest = b_even[..., 1:, :] + a_next * x_odd[..., :b_even.shape[-2] - 1, :]
    x_even = torch.cat([b_even[..., :1, :], rest], dim=-2)
    # interleave x_0, x_1, x_2, ...
    out = torch.stack([x_even[..., :m, :], x_odd], dim=-2).flatten(-3, -2)
    if length % 2:
        out = torch.cat([out, x_even[..., m:, :]], dim=-2)
    return out


def _odd_even_nograd(a: Tensor, b: Tensor) -> Tensor:
    """`_odd_even` without a graph, writing each level into one output buffer (fewer passes over memory)."""
    length = b.shape[-2]
    if length == 1:
        return b
    m = length // 2
    constant = a.shape[-2] == 1
    a_even = a if constant else a[..., 0::2, :]
    a_odd = a if constant else a[..., 1::2, :]
    # b_pair = a_{2k+1} b_{2k} + b_{2k+1}
    b_pair = torch.addcmul(b[..., 1::2, :], a_odd, b[..., 0:2 * m:2, :])
    a_pair = a * a if constant else a_odd * a_even[..., :m, :]
    x_odd = _odd_even_nograd(a_pair, b_pair)
    out = torch.empty(torch.broadcast_shapes(a.shape[:-2] + (1,) + a.shape[-1:], b.shape), dtype=b.dtype,
                      device=b.device)
    out[..., 1::2, :] = x_odd
    out[..., 0::2, :] = b[..., 0::2, :]
    # x_{2k} += a_{2k} x_{2k−1}, k ≥ 1
    even_rest = out[..., 2::2, :]
    even_rest.addcmul_(a_even if constant else a_even[..., 1:, :], x_odd[..., :even_rest.shape[-2], :])
    return out


def _chunked_nograd(a: Tensor, b: Tensor, reverse: bool = False, chunk: int | None = None) -> Tensor:
    """Constant λ: a loop over the T steps of all chunks at once, then the chunk carries, then one fix-up.

    reverse=True runs the recurrence backwards in time, x_t = λ x_{t+1} + b_t, without flipping memory.
    """
    length, n = b.shape[-2], b.shape[-1]
    size = chunk or max(1, round(length ** 0.5))
    count = -(-length // size)  # chunks C
    lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if count * size > length:  # zeros at the end: harmless either way (a reverse scan starts there at 0)
        b = torch.cat([b, b.new_zeros(*b.shape[:-2], count * size - length, n)], dim=-2)
    b = b.expand(*lead, count * size, n).reshape(*lead, count, size, n)
    out = torch.empty_like(b)
    steps = range(size - 2, -1, -1) if reverse else range(1, size)
    first = size - 1 if reverse else 0
    out[..., first, :] = b[..., first, :]
    for t in steps:
        # x_{c,t} = λ x_{c,t∓1} + b_{c,t}, every chunk c from a zero state
        prev = t + 1 if reverse else t - 1
        torch.addcmul(b[..., t, :], a, out[..., prev, :], out=out[..., t, :])
    if count > 1:
        # powers λ^1..λ^T by a running product (never a negative power)
        powers = torch.cumprod(a.expand(*a.shape[:-2], size, n), dim=-2)
        if not reverse:
            # e_c = x_{c,T−1} + λ^T e_{c−1}: the true end state of each chunk, a scan over C
            ends = _odd_even_nograd(powers[..., -1:, :], out[..., -1, :])
            # x_{c,t} += λ^{t+1} e_{c−1}, c ≥ 1
            out[..., 1:, :, :].addcmul_(powers.unsqueeze(-3), ends[..., :-1, :].unsqueeze(-2))
        else:
            # e_c = x_{c,0} + λ^T e_{c+1}: the true start state of each chunk, a scan over C backwards
            starts = _odd_even_nograd(powers[..., -1:, :], out[..., 0, :].flip(-2)).flip(-2)
            # x_{c,t} += λ^{T−t} e_{c+1}, c < C − 1
            out[..., :-1, :, :].addcmul_(powers.flip(-2).unsqueeze(-3), starts[..., 1:, :].unsqueeze(-2))
    return out.reshape(*lead, count * size, n)[..., :length, :]


def _kernel(method: str, a: Tensor, b: Tensor, reverse: bool = False) -> Tensor:
    if method == "chunked":
        return _chunked_nograd(a, b, reverse)
    if reverse:
        return _odd_even_nograd(a.flip(-2), b.flip(-2)).flip(-2)
    return _odd_even_nograd(a, b)


class _Scan(torch.autograd.Function):
    """A no-graph scan forwards, and its adjoint (a reversed linear scan) backwards."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, method: str) -> Tensor:
        x = _kernel(method, a, b)
        ctx.save_for_backward(a, x)
        ctx.b_shape, ctx.method = b.shape, method
        return x

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        a, x = ctx.saved_tensors
        # ḡ_t = g_t + conj(a_{t+1}) ḡ_{t+1}: a forward scan of the time-reversed sequence
        if a.shape[-2] == 1:
            a_back = a.conj().resolve_conj()
        else:
            a_back = torch.cat([a[..., 1:, :], torch.ones_like(a[..., :1, :])], dim=-2).conj()
        g_bar = _kernel(ctx.method, a_back, g, reverse=True)
        grad_a = None
        if ctx.needs_input_grad[0]:
            # ∂a_t = ḡ_t conj(x_{t−1}), x_{−1} = 0
            if a.shape[-2] > 1:
                grad_a = torch.cat([torch.zeros_like(g_bar[..., :1, :]), g_bar[..., 1:, :] * x[..., :-1, :].conj()],
                                   dim=-2).sum_to_size(a.shape)
            else:
                grad_a = _sum_products(g_bar, x, a.shape)
        grad_b = g_bar.sum_to_size(ctx.b_shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


def _sum_products(g_bar: Tensor, x: Tensor, shape: torch.Size, piece: int = 65536) -> Tensor:
    """Σ_t ḡ_t conj(x_{t−1}), summed to `shape`, in time pieces so that no [..., L, N] temporary is built."""
    length = x.shape[-2]
    step = max(1, piece // max(1, x[..., 0, :].numel()))
    total = None
    for start in range(1, length, step):
        stop = min(length, start + step)
        part = (g_bar[..., start:stop, :] * x[..., start - 1:stop - 1, :].conj()).sum_to_size(shape)
        total = part if total is None else total + part
    return total if total is not None else g_bar.new_zeros(shape)
