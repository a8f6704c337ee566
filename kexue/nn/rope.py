"""Rotary position embedding (RoPE), the interleaved-pair form used by RoFormer and GlobalPointer.

kexue.fm/archives/8265 (RoPE), as used by kexue.fm/archives/8373 (GlobalPointer) and
kexue.fm/archives/8998 (RoFormerV2). Position m rotates each pair of coordinates (2k, 2k+1) of a
d-dimensional vector by the angle m·θ_k, θ_k = base^(−2k/d), base = 10000:

    [y_2k  ]   [cos mθ_k  −sin mθ_k] [x_2k  ]
    [y_2k+1] = [sin mθ_k   cos mθ_k] [x_2k+1]

so ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩ depends only on the relative position n − m. Pairs are
*interleaved* (coordinates 0&1, 2&3, ...) as in bert4keras, not split in halves as in GPT-NeoX; a
checkpoint trained with one convention needs its q/k columns permuted to run with the other.

Where we depart: nothing in the formula. `offset` shifts the positions (a stream that has already
seen `offset` tokens rotates its next n by offset..offset+n−1), which the post does not need. The
angles m·θ_k are computed in float64 so that large positions keep their precision, then stored in
float32 (or float64 for float64 inputs). float32/float64 inputs are rotated as what the formula is, the
complex product z_k · e^{i mθ_k} with z_k = x_2k + i x_2k+1 (one kernel, no split and restack of the
pairs); float16/bfloat16, which have no complex type, and torch.compile, which fuses the real formula
but generates no code for complex numbers, take the real formula above. For a traced graph (torch.export,
ONNX), `RoPE.freeze(length)` (or `freeze_rope(model, length)`) builds the tables once, for positions
0..length−1, and rotates with the real formula from them: no table that grows with n, no complex numbers
(ONNX has none).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class RoPE(nn.Module):
    """Rotates the last dimension of x [..., n, d] by positions offset..offset+n−1.

    cos/sin tables are built on first use and grown when a longer sequence comes; they are
    non-persistent buffers, so they move with `.to(device)` but never enter the state_dict.
    """

    def __init__(self, head_size: int, base: float = 10000.0):
        super().__init__()
        if head_size <= 0 or head_size % 2:
            raise ValueError(f"RoPE head_size must be a positive even number, got {head_size}")
        self.head_size, self.base = head_size, base
        self.register_buffer("cos", None, persistent=False)
        self.register_buffer("sin", None, persistent=False)
        self.frozen = 0  # > 0: the tables are fixed at this many positions (freeze)

    def freeze(self, length: int) -> None:
        """Build the float32 tables of positions 0..length−1 now, and from now on rotate with the real formula
        from them, never rebuilding: what a graph traced with a dynamic n needs (a longer n is an error)."""
        if length < 1:
            raise ValueError(f"RoPE.freeze: length must be >= 1, got {length}")
        device = self.cos.device if self.cos is not None else None
        self.cos, self.sin = rope_tables(length, self.head_size, self.base, device)
        self.frozen = length

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        n, d = x.shape[-2], x.shape[-1]
        if d != self.head_size:
            raise ValueError(f"x has last dimension {d}, but this RoPE was built for head_size {self.head_size}")
        if offset < 0:
            raise ValueError(f"RoPE offset must be >= 0, got {offset}")
        if self.frozen:
            if offset + n > self.frozen:
                raise ValueError(f"RoPE was frozen at {self.frozen} positions; positions up to {offset + n} asked "
                                 "for (freeze it at the longest sequence the graph must take)")
            return rotate_real(x, self.cos[offset:offset + n], self.sin[offset:offset + n])
        table_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        if (self.cos is None or self.cos.shape[0] < offset + n or self.cos.device != x.device
                or self.cos.dtype != table_dtype):
            # grow to the next power of two so a stream of single tokens does not rebuild every step
            length = max(16, 1 << (offset + n - 1).bit_length())
            self.cos, self.sin = rope_tables(length, d, self.base, x.device, table_dtype)
        return _rotate(x, self.cos[offset:offset + n], self.sin[offset:offset + n])

    def extra_repr(self) -> str:
        return f"head_size={self.head_size}, base={self.base}" + (f", frozen={self.frozen}" if self.frozen else "")


def freeze_rope(model: nn.Module, length: int) -> int:
    """`RoPE.freeze(length)` on every RoPE inside `model` (before torch.export / ONNX export); how many."""
    ropes = [m for m in model.modules() if isinstance(m, RoPE)]
    for rope in ropes:
        rope.freeze(length)
    return len(ropes)


def apply_rope(x: Tensor, offset: int = 0, base: float = 10000.0) -> Tensor:
    """RoPE without a module: rotates x [..., n, d] by positions offset..offset+n−1."""
    n, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise ValueError(f"apply_rope needs an even last dimension of x, got {d}")
    if offset < 0:
        raise ValueError(f"apply_rope offset must be >= 0, got {offset}")
    table_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    cos, sin = rope_tables(offset + n, d, base, x.device, table_dtype)
    return _rotate(x, cos[offset:], sin[offset:])


def rope_tables(length: int, d: int, base: float, device: torch.device | None = None,
                dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """cos(mθ_k), sin(mθ_k) for m = 0..length−1, k = 0..d/2−1, each [length, d/2]."""
    k = torch.arange(d // 2, dtype=torch.float64, device=device)
    # θ_k = base^(−2k/d)
    theta = base ** (-2.0 * k / d)
    m = torch.arange(length, dtype=torch.float64, device=device)
    angle = m[:, None] * theta[None, :]
    return angle.cos().to(dtype), angle.sin().to(dtype)


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotates interleaved pairs (x_2k, x_2k+1) of x [..., n, d] by the angles behind cos, sin [n, d/2]."""
    # (under torch.compile the real formula below, which inductor fuses; it has no complex codegen)
    if x.dtype in (torch.float32, torch.float64) and not torch.compiler.is_compiling():
        # a pair is the complex number z_k = x_2k + i x_2k+1, and the rotation is z_k · e^{i mθ_k}:
        # (x_2k + i x_2k+1)(cos + i sin) = (x_2k cos − x_2k+1 sin) + i (x_2k+1 cos + x_2k sin)
        # one complex multiply instead of the six real passes, the split and the stack below
        z = torch.view_as_complex(_pairs(x))
        return torch.view_as_real(z * torch.complex(cos.to(x.dtype), sin.to(x.dtype))).flatten(-2)
    # float16 / bfloat16 have no complex type: the same formula on the real pairs
    return rotate_real(x, cos, sin)


def rotate_real(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """`_rotate` with the real formula only (any dtype, any tracer: no complex numbers)."""
    x_pairs = x.unflatten(-1, (-1, 2))
    x_even, x_odd = x_pairs[..., 0], x_pairs[..., 1]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    # y_2k = x_2k cos mθ_k − x_2k+1 sin mθ_k ;  y_2k+1 = x_2k+1 cos mθ_k + x_2k sin mθ_k
    y_even = x_even * cos - x_odd * sin
    y_odd = x_odd * cos + x_even * sin
    return torch.stack((y_even, y_odd), dim=-1).flatten(-2)


def _pairs(x: Tensor) -> Tensor:
    """x [..., d] as [..., d/2, 2], copied first when its layout cannot be viewed as complex numbers."""
    pairs = x.unflatten(-1, (-1, 2))
    viewable = (pairs.stride(-1) == 1 and pairs.storage_offset() % 2 == 0
                and all(s % 2 == 0 for s in pairs.stride()[:-1]))
    return pairs if viewable else pairs.contiguous()
