"""Su's simplified U-Net for DDPM, layer by layer as Keras-DDPM's `ddpm.py` builds it.

kexue.fm/archives/9152 ("参考实现") and github.com/bojone/Keras-DDPM. What makes it Su's, not Ho's:
a *learned* t-embedding (Embedding(T, 128), "works about as well as sinusoidal"), **additive** skips
instead of concatenation, **no attention**, **no bias** in any conv or dense layer, and **post-norm**
residual blocks:

    h = x + Dense(t_emb → C_in);  h = swish(conv3×3(h));  h = swish(conv3×3(h))
    out = GroupNorm(h + shortcut(x)),   shortcut = x, or a 1×1 conv when the width changes.

GroupNorm is Su's: 32 groups taken *strided* (channel c is in group c mod 32, from the reshape
(…, C/32, 32)), ε = 1e−6, a per-channel scale and offset (the offset is the only additive parameter,
as in Keras-DDPM). Encoder: a 3×3 stem to `embedding_size` channels; per level `blocks` residual
blocks, each output kept for a skip; then a 2×2 average pool (also kept) while min(H, W) > min_pixel.
Middle: one block. Decoder, levels reversed: nearest up-sampling ×2 plus the kept tensor if the level
was pooled, then `blocks` times x = block(x) + kept skip. Head: GroupNorm → 3×3 conv.
Init as Keras-DDPM: VarianceScaling(scale, fan_avg, uniform), i.e. U(±√(3·scale/fan_avg)), with
scale 1/√num_layers for the two convs of every block (`conv2d(x, out_dim, 'swish', 1 / num_layers**0.5)`,
num_layers = 2·len(channels) + 1) and scale 1 for the stem, the head, the t-denses and the 1×1
shortcuts; Keras's Embedding default uniform(±0.05).

The defaults are the post's 128-px CelebA-HQ model: channels [1,1,2,2,4,4]×128, blocks 2, min_pixel 4.
Departures: the network receives Su's t (1..T) and looks up row t − 1 (Keras feeds 0..T−1); optional
class conditioning adds an Embedding(num_classes + 1, embedding_size) of y (row num_classes = ∅,
no condition) to the t-embedding (not in the post; for classifier-free guidance); `pad_to` zero-pads
x_t to a size that halves cleanly (28 → 32 for MNIST) and crops the output back, the border being
outside the loss. Small presets: `digits8` (8 px, levels 8/4/2) and `mnist28` (28 px padded to 32,
levels 32/16/8/4).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.nn.tracing import tracing


@dataclass
class UNetSuConfig:
    image_size: int = 128                     # the post's CelebA-HQ 128×128
    in_channels: int = 3                      # RGB
    T: int = 1000                             # rows of the learned t-embedding
    embedding_size: int = 128                 # base width and t-embedding size
    channels: tuple[int, ...] = (1, 1, 2, 2, 4, 4)  # width multipliers per level (×embedding_size)
    blocks: int = 2                           # residual blocks per level (Su: 1 if memory is short)
    min_pixel: int = 4                        # pool while min(H, W) > min_pixel
    groups: int = 32                          # GroupNorm groups (strided, c mod groups)
    num_classes: int = 0                      # 0: unconditional; else labels 0..n−1, n = ∅
    pad_to: int = 0                           # 0: no padding; else zero-pad H, W to this size

    @classmethod
    def preset(cls, name: str, **overrides) -> UNetSuConfig:
        presets = {
            "celebahq128": cls(),
            "digits8": cls(image_size=8, in_channels=1, embedding_size=32, channels=(1, 2, 2),
                           min_pixel=2, groups=8),
            "mnist28": cls(image_size=28, in_channels=1, embedding_size=64, channels=(1, 1, 2, 2),
                           min_pixel=4, pad_to=32),
        }
        if name not in presets:
            raise ValueError(f"UNetSuConfig.preset: unknown name {name!r}; choose one of {', '.join(presets)}")
        return replace(presets[name], **overrides)


class UNetSu(nn.Module):
    """`model(x_t, t, y=None) -> eps`, x_t [b, C, H, W], t int64 [b] in 1..T, y int64 [b] or None."""

    def __init__(self, cfg: UNetSuConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or UNetSuConfig()
        size = _check_config(cfg)
        self.num_classes = cfg.num_classes
        e = cfg.embedding_size
        self.num_layers = len(cfg.channels) * 2 + 1
        self.t_embedding = nn.Embedding(cfg.T, e)
        self.y_embedding = nn.Embedding(cfg.num_classes + 1, e) if cfg.num_classes else None
        self.stem = _conv(cfg.in_channels, e, 3)
        # Encoder: `blocks` blocks per level, then a 2×2 pool while min(H, W) > min_pixel.
        width, self.pooled = e, []
        self.down = nn.ModuleList()
        for ch in cfg.channels:
            for _ in range(cfg.blocks):
                self.down.append(self._block(width, ch * e))
                width = ch * e
            self.pooled.append(size > cfg.min_pixel)
            size = size // 2 if self.pooled[-1] else size
        self.middle = self._block(width, cfg.channels[-1] * e)
        # Decoder: replay Keras' stack of kept tensors; each block takes the width of its skip.
        kept = self._kept_widths()
        kept.pop()
        self.up = nn.ModuleList()
        for pooled in reversed(self.pooled):
            if pooled:
                kept.pop()  # added to the up-sampled tensor; no layer
            for _ in range(cfg.blocks):
                w_skip = kept.pop()
                self.up.append(self._block(width, w_skip))
                width = w_skip
        self.head_norm = GroupNormSu(width, cfg.groups)
        self.head = _conv(width, cfg.in_channels, 3)
        self.reset_parameters()

    def _block(self, c_in: int, c_out: int) -> ResidualBlockSu:
        return ResidualBlockSu(c_in, c_out, self.cfg.embedding_size, self.cfg.groups)

    def _kept_widths(self) -> list[int]:
        e, widths = self.cfg.embedding_size, [self.cfg.embedding_size]
        for ch, pooled in zip(self.cfg.channels, self.pooled):
            widths += [ch * e] * (self.cfg.blocks + int(pooled))
        return widths

    def reset_parameters(self) -> None:
        """Keras-DDPM's init: VarianceScaling(fan_avg, uniform), scale 1/√num_layers in block convs."""
        nn.init.uniform_(self.t_embedding.weight, -0.05, 0.05)
        if self.y_embedding is not None:
            nn.init.uniform_(self.y_embedding.weight, -0.05, 0.05)
        for m in self.modules():
            if isinstance(m, ResidualBlockSu):
                for conv in (m.conv1, m.conv2):
                    # scale = 1/√num_layers
                    _variance_scaling_(conv.weight, 1.0 / math.sqrt(self.num_layers))
                for layer in (m.dense_t, m.shortcut):
                    if layer is not None:
                        _variance_scaling_(layer.weight, 1.0)
        for conv in (self.stem, self.head):
            _variance_scaling_(conv.weight, 1.0)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        cfg = self.cfg
        if x.dim() != 4 or x.shape[1:] != (cfg.in_channels, cfg.image_size, cfg.image_size):
            raise ValueError(f"x_t has shape {tuple(x.shape)}, this UNetSu wants "
                             f"[b, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size}]")
        # (a check of values, run eagerly only: a traced graph, kexue/nn/tracing.py, has none to check)
        if t.device.type == "cpu" and not tracing() and t.numel() and (int(t.min()) < 1 or int(t.max()) > cfg.T):
            raise ValueError(f"t must lie in 1..{cfg.T} (UNetSuConfig.T), got {int(t.min())}..{int(t.max())}")
        # the network's index of Su's t is t − 1 (Keras-DDPM feeds 0..T−1)
        emb = self.t_embedding(t - 1)
        if self.y_embedding is not None:
            y = torch.full_like(t, self.num_classes) if y is None else y
            # t-embedding + class embedding (row num_classes = ∅)
            emb = emb + self.y_embedding(y)
        elif y is not None:
            raise ValueError("y given, but this UNetSu is unconditional (num_classes=0)")
        h = _pad(x, cfg.pad_to)
        h = self.stem(h)
        kept, blocks = [h], iter(self.down)
        for pooled in self.pooled:
            for _ in range(cfg.blocks):
                h = next(blocks)(h, emb)
                kept.append(h)
            if pooled:
                h = F.avg_pool2d(h, 2)
                kept.append(h)
        h = self.middle(h, emb)
        kept.pop()
        blocks = iter(self.up)
        for pooled in reversed(self.pooled):
            if pooled:
                # additive skip after nearest up-sampling
                h = F.interpolate(h, scale_factor=2.0, mode="nearest") + kept.pop()
            for _ in range(cfg.blocks):
                skip = kept.pop()
                # x = block(x) + skip   (additive, not concatenated)
                h = next(blocks)(h, emb) + skip
        h = self.head(self.head_norm(h))
        return _crop(h, cfg.image_size)


class ResidualBlockSu(nn.Module):
    """Post-norm block: GroupNorm(swish(conv(swish(conv(x + Dense(t))))) + shortcut(x)), no bias."""

    def __init__(self, c_in: int, c_out: int, embedding_size: int, groups: int):
        super().__init__()
        self.shortcut = None if c_in == c_out else _conv(c_in, c_out, 1)
        self.dense_t = nn.Linear(embedding_size, c_in, bias=False)
        self.conv1, self.conv2 = _conv(c_in, c_out, 3), _conv(c_out, c_out, 3)
        self.norm = GroupNormSu(c_out, groups)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        shortcut = x if self.shortcut is None else self.shortcut(x)
        # h = x + Dense(t)
        h = x + self.dense_t(emb)[:, :, None, None]
        # h = swish(conv(h)), twice
        h = F.silu(self.conv1(h))
        h = F.silu(self.conv2(h))
        # out = GroupNorm(h + shortcut)
        return self.norm(h + shortcut)


class GroupNormSu(nn.Module):
    """Keras-DDPM's GroupNorm: channel c in group c mod `groups`, ε = 1e−6, per-channel scale, offset."""

    def __init__(self, channels: int, groups: int = 32, eps: float = 1e-6):
        super().__init__()
        if channels % groups:
            raise ValueError(f"GroupNormSu: channels={channels} is not a multiple of groups={groups}")
        self.groups, self.eps = groups, eps
        self.scale = nn.Parameter(torch.ones(channels))
        self.offset = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        xg = x.float().view(b, c // self.groups, self.groups, h, w)
        var, mean = torch.var_mean(xg, dim=(1, 3, 4), keepdim=True, unbiased=False)
        # (x − mean) / √(var + ε) over the channels c ≡ g (mod groups) and all pixels
        y = ((xg - mean) * torch.rsqrt(var + self.eps)).view(b, c, h, w).to(x.dtype)
        # y · scale + offset
        return y * self.scale.view(1, c, 1, 1) + self.offset.view(1, c, 1, 1)


def _check_config(cfg: UNetSuConfig) -> int:
    """Validate the config and return the working size (pad_to or image_size)."""
    size = cfg.pad_to or cfg.image_size
    if cfg.pad_to and cfg.pad_to < cfg.image_size:
        raise ValueError(f"UNetSuConfig: pad_to={cfg.pad_to} is smaller than image_size={cfg.image_size}")
    if not cfg.channels or cfg.blocks < 1:
        raise ValueError(f"UNetSuConfig: channels={cfg.channels} must be non-empty and blocks={cfg.blocks} ≥ 1")
    for ch in cfg.channels:
        if (ch * cfg.embedding_size) % cfg.groups:
            raise ValueError(f"UNetSuConfig: width {ch}×{cfg.embedding_size} is not a multiple of groups={cfg.groups}")
    for _ in cfg.channels:
        if size > cfg.min_pixel:
            if size % 2:
                raise ValueError(f"UNetSuConfig: image_size={cfg.image_size} halves to an odd {size} before "
                                 f"min_pixel={cfg.min_pixel}; set pad_to (e.g. the next power of two)")
            size //= 2
    return cfg.pad_to or cfg.image_size


def _conv(c_in: int, c_out: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)


def _variance_scaling_(w: Tensor, scale: float) -> None:
    """Keras VarianceScaling(scale, 'fan_avg', 'uniform'): U(±√(3·scale/fan_avg))."""
    receptive = w[0, 0].numel() if w.dim() > 2 else 1
    fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
    # limit = √(3 · scale / ((fan_in + fan_out)/2))
    limit = math.sqrt(3.0 * max(scale, 1e-10) / ((fan_in + fan_out) / 2))
    with torch.no_grad():
        w.uniform_(-limit, limit)


def _pad(x: Tensor, pad_to: int) -> Tensor:
    if not pad_to or x.shape[-1] == pad_to:
        return x
    dh, dw = pad_to - x.shape[-2], pad_to - x.shape[-1]
    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


def _crop(x: Tensor, size: int) -> Tensor:
    dh, dw = x.shape[-2] - size, x.shape[-1] - size
    if dh == 0 and dw == 0:
        return x
    return x[..., dh // 2:dh // 2 + size, dw // 2:dw // 2 + size]
