"""Ho et al.'s DDPM U-Net (arXiv 2006.11239, `hojonathanho/diffusion` models/unet.py), for comparison.

kexue.fm/archives/9152 contrasts Su's simplified net (unet_su.py) with this one. What makes it Ho's:
a fixed sinusoidal t-embedding (kexue.fm/archives/8231) → Dense(4ch) → swish → Dense(4ch); pre-norm
residual blocks

    h = conv3×3(swish(GN(x))) + Dense(swish(temb));  h = conv3×3(dropout(swish(GN(h))))
    out = h + shortcut(x)      (second conv zero-initialised; shortcut a 1×1 conv if widths differ)

single-head self-attention (GN → q, k, v → softmax(qkᵀ/√C) v → zero-init 1×1 → + x) at the
resolutions in `attn_resolutions` (16×16), **concatenated** skips (`num_res_blocks + 1` blocks per
decoder level), strided-conv down-sampling and nearest + conv up-sampling, head GN → swish → conv
(zero-init). Init as Ho: VarianceScaling(fan_avg, uniform), biases zero.

Defaults are Ho's CIFAR-10 model (32 px, ch 128, ch_mult (1,2,2,2), 2 blocks, attention at 16,
dropout 0.1, about 35.7M parameters); preset `celebahq256` is his CelebA-HQ/LSUN model.
Departures: the embedding gets Su's t − 1 (Ho's 0-based index, the same number he feeds); the
down-sampling conv pads 1 on every side (TF's 'SAME' pads only bottom/right at stride 2); optional
class conditioning adds an Embedding(num_classes + 1, 4ch) of y to temb (row num_classes = ∅);
`pad_to` as in unet_su.py. Small presets: `digits8` and `mnist28` (padded to 32, attention at 16).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.diffusion.unet_su import _crop, _pad, _variance_scaling_


@dataclass
class UNetHoConfig:
    image_size: int = 32                       # CIFAR-10
    in_channels: int = 3                       # RGB
    ch: int = 128                              # base width
    ch_mult: tuple[int, ...] = (1, 2, 2, 2)    # width multipliers per level (CIFAR-10)
    num_res_blocks: int = 2                    # residual blocks per encoder level
    attn_resolutions: tuple[int, ...] = (16,)  # self-attention at these feature-map sizes
    dropout: float = 0.1                       # CIFAR-10 (0.0 for CelebA-HQ)
    groups: int = 32                           # GroupNorm groups
    num_classes: int = 0                       # 0: unconditional; else labels 0..n−1, n = ∅
    pad_to: int = 0                            # 0: no padding; else zero-pad H, W to this size

    @classmethod
    def preset(cls, name: str, **overrides) -> UNetHoConfig:
        presets = {
            "cifar10": cls(),
            "celebahq256": cls(image_size=256, ch_mult=(1, 1, 2, 2, 4, 4), dropout=0.0),
            "digits8": cls(image_size=8, in_channels=1, ch=32, ch_mult=(1, 2), attn_resolutions=(4,), groups=8),
            "mnist28": cls(image_size=28, in_channels=1, ch=64, ch_mult=(1, 2, 2), pad_to=32),
        }
        if name not in presets:
            raise ValueError(f"UNetHoConfig.preset: unknown name {name!r}; choose one of {', '.join(presets)}")
        return replace(presets[name], **overrides)


class UNetHo(nn.Module):
    """`model(x_t, t, y=None) -> eps`, x_t [b, C, H, W], t int64 [b] in 1..T, y int64 [b] or None."""

    def __init__(self, cfg: UNetHoConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or UNetHoConfig()
        size = cfg.pad_to or cfg.image_size
        if size % 2 ** (len(cfg.ch_mult) - 1):
            raise ValueError(f"UNetHoConfig: size {size} does not halve {len(cfg.ch_mult) - 1} times; set pad_to")
        self.num_classes = cfg.num_classes
        ch, temb_ch = cfg.ch, 4 * cfg.ch
        self.temb = nn.Sequential(nn.Linear(ch, temb_ch), nn.SiLU(), nn.Linear(temb_ch, temb_ch))
        self.y_embedding = nn.Embedding(cfg.num_classes + 1, temb_ch) if cfg.num_classes else None
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)
        block = lambda c_in, c_out, res: _Level(c_in, c_out, temb_ch, cfg, res in cfg.attn_resolutions)  # noqa: E731
        widths, width, res = [ch], ch, size
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, mult in enumerate(cfg.ch_mult):
            for _ in range(cfg.num_res_blocks):
                self.down.append(block(width, ch * mult, res))
                width = ch * mult
                widths.append(width)
            if i != len(cfg.ch_mult) - 1:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
                widths.append(width)
                res //= 2
        self.mid1 = ResidualBlockHo(width, width, temb_ch, cfg.dropout, cfg.groups)
        self.mid_attn = AttentionHo(width, cfg.groups)
        self.mid2 = ResidualBlockHo(width, width, temb_ch, cfg.dropout, cfg.groups)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, mult in reversed(list(enumerate(cfg.ch_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                # concatenated skip: the block sees width + the skip's width
                self.up.append(block(width + widths.pop(), ch * mult, res))
                width = ch * mult
            if i != 0:
                self.upsample.append(nn.Conv2d(width, width, 3, padding=1))
                res *= 2
        self.norm_out = nn.GroupNorm(cfg.groups, width, eps=1e-6)
        self.conv_out = nn.Conv2d(width, cfg.in_channels, 3, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Ho's init: VarianceScaling(1, fan_avg, uniform), biases 0; the last conv of each block,
        of each attention and of the head start at (almost) zero (scale 1e−10)."""
        zero_init = {id(m.conv2) for m in self.modules() if isinstance(m, ResidualBlockHo)}
        zero_init |= {id(m.proj_out) for m in self.modules() if isinstance(m, AttentionHo)}
        zero_init.add(id(self.conv_out))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                _variance_scaling_(m.weight, 0.0 if id(m) in zero_init else 1.0)
                nn.init.zeros_(m.bias)
        if self.y_embedding is not None:
            nn.init.normal_(self.y_embedding.weight, std=0.02)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        cfg = self.cfg
        if x.dim() != 4 or x.shape[1:] != (cfg.in_channels, cfg.image_size, cfg.image_size):
            raise ValueError(f"x_t has shape {tuple(x.shape)}, this UNetHo wants "
                             f"[b, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size}]")
        # temb = Dense(swish(Dense(sinusoid(t − 1))))
        temb = self.temb(timestep_embedding(t - 1, cfg.ch).to(x.dtype))
        if self.y_embedding is not None:
            y = torch.full_like(t, self.num_classes) if y is None else y
            temb = temb + self.y_embedding(y)
        elif y is not None:
            raise ValueError("y given, but this UNetHo is unconditional (num_classes=0)")
        hs = [self.conv_in(_pad(x, cfg.pad_to))]
        blocks, downs = iter(self.down), iter(self.downsample)
        for i in range(len(cfg.ch_mult)):
            for _ in range(cfg.num_res_blocks):
                hs.append(next(blocks)(hs[-1], temb))
            if i != len(cfg.ch_mult) - 1:
                hs.append(next(downs)(hs[-1]))
        h = self.mid2(self.mid_attn(self.mid1(hs[-1], temb)), temb)
        blocks, ups = iter(self.up), iter(self.upsample)
        for i in reversed(range(len(cfg.ch_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                h = next(blocks)(torch.cat([h, hs.pop()], dim=1), temb)
            if i != 0:
                h = next(ups)(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.conv_out(F.silu(self.norm_out(h)))
        return _crop(h, cfg.image_size)


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Ho's sinusoid: [sin(t ω_i), cos(t ω_i)], ω_i = 10000^(−i/(dim/2 − 1)), i = 0..dim/2 − 1."""
    half = dim // 2
    # ω_i = exp(−log(10000) · i / (half − 1))
    omega = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
    angle = t.float()[:, None] * omega[None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


class ResidualBlockHo(nn.Module):
    """Pre-norm block: h = conv(swish(GN(x))) + Dense(swish(temb)); h = conv(dropout(swish(GN(h)))); h + shortcut."""

    def __init__(self, c_in: int, c_out: int, temb_ch: int, dropout: float, groups: int):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(groups, c_in, eps=1e-6), nn.GroupNorm(groups, c_out, eps=1e-6)
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dense_t = nn.Linear(temb_ch, c_out)
        self.dropout = nn.Dropout(dropout)
        self.shortcut = None if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        # h = conv(swish(GN(x))) + Dense(swish(temb))
        h = self.conv1(F.silu(self.norm1(x))) + self.dense_t(F.silu(temb))[:, :, None, None]
        # h = conv(dropout(swish(GN(h))))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + (x if self.shortcut is None else self.shortcut(x))


class AttentionHo(nn.Module):
    """x + proj(softmax(q kᵀ / √C) v), q, k, v = 1×1 convs of GN(x); one head over all pixels."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)
        # softmax(q kᵀ / √C) v
        a = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj_out(a.transpose(1, 2).reshape(b, c, h, w))


class _Level(nn.Module):
    """A residual block, followed by attention when the level's resolution asks for it."""

    def __init__(self, c_in: int, c_out: int, temb_ch: int, cfg: UNetHoConfig, attn: bool):
        super().__init__()
        self.block = ResidualBlockHo(c_in, c_out, temb_ch, cfg.dropout, cfg.groups)
        self.attn = AttentionHo(c_out, cfg.groups) if attn else None

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.block(x, temb)
        return h if self.attn is None else self.attn(h)
