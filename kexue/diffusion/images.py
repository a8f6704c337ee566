"""Image grids in and out: [−1, 1] tensors → uint8 PNG grids (Pillow), and one image file → tensor.

kexue.fm/archives/9152: Keras-DDPM saves its samples as one n×n grid, `(x + 1) / 2 · 255` clipped
to 0..255 and rounded. We do the same (clip first, then round, so no value wraps), with a 1-pixel
border between tiles so small 8×8 digits stay apart. Reading an image for `interpolate` follows
`kexue.data.load_image_folder`: centre-crop to a square, resize with Pillow's bicubic filter,
scale to [−1, 1].
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def to_uint8(x: Tensor) -> np.ndarray:
    """[..., C, H, W] in [−1, 1] → uint8 [..., H, W, C]: round((clip(x, −1, 1) + 1) / 2 · 255)."""
    # p = (x + 1) / 2 · 255, clipped to [0, 255] and rounded
    p = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return p.movedim(-3, -1).cpu().numpy()


def make_grid(x: Tensor, nrow: int | None = None, pad: int = 1, pad_value: float = 1.0) -> Tensor:
    """Tile [N, C, H, W] into one [C, H', W'] image, `nrow` tiles per row (default ⌈√N⌉), with a
    `pad`-pixel border of `pad_value` (in [−1, 1]; 1 = white) between tiles."""
    if x.dim() != 4:
        raise ValueError(f"make_grid: expected images [N, C, H, W], got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = x.new_full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value)
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top:top + h, left:left + w] = x[i]
    return grid


def save_grid(x: Tensor, path: str | Path, nrow: int | None = None, pad: int = 1, scale: int = 0) -> Path:
    """Write images [N, C, H, W] in [−1, 1] as one PNG grid; `scale` > 1 enlarges it (nearest
    neighbour) so that 8×8 digits can be seen; 0 picks a scale that makes tiles ≥ 32 px."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = to_uint8(make_grid(x, nrow, pad))
    img = Image.fromarray(np.ascontiguousarray(grid[..., 0] if grid.shape[-1] == 1 else grid))  # "L" or "RGB"
    scale = scale or max(1, math.ceil(32 / x.shape[-1]))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)
    return path


def image_note(path: str | Path, size: int, channels: int) -> str | None:
    """What reading `path` as a [channels, size, size] image changes (crop, resize, colour), or None."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:  # the header only
            (w, h), mode = img.size, img.mode
    except (FileNotFoundError, UnidentifiedImageError, Image.DecompressionBombError):
        return None  # read_image says what is wrong
    changes = []
    if w != h:
        changes.append(f"centre-cropped to {min(w, h)}×{min(w, h)}")
    if min(w, h) != size:
        changes.append(f"resized to {size}×{size}")
    grey = mode in ("1", "L", "LA", "I", "I;16", "F")
    if channels == 1 and not grey:
        changes.append(f"turned from {mode} to grey")
    elif channels == 3 and grey:
        changes.append("turned from grey to RGB")
    if not changes:
        return None
    return f"{path}: a {w}×{h} {mode} image, {', '.join(changes)} to fit the model"


def read_image(path: str | Path, size: int, channels: int) -> Tensor:
    """One image file → [C, size, size] in [−1, 1] (centre-cropped to a square, then resized)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"{path}: channels={channels}, expected 1 (grey) or 3 (RGB)")
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such image file") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise ValueError(f"{path}: {e.args[0].split(', could be')[0]}; too large to read safely — shrink it first")\
            from None
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    a = np.asarray(img, dtype=np.float32).reshape(size, size, channels)
    # x = 2 p / 255 − 1
    return torch.from_numpy(a).permute(2, 0, 1) / 127.5 - 1.0
