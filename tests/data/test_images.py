import gzip
import struct

import numpy as np
import pytest
import torch

from kexue.data import load_digits, load_fashion_mnist, load_image_folder, load_mnist5k, read_idx


def _check(x, y, shape):
    assert x.shape == shape and x.dtype == torch.float32
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert y.shape == (shape[0],) and y.dtype == torch.int64


def test_digits():
    x, y = load_digits()
    _check(x, y, (1797, 1, 8, 8))
    assert sorted(y.unique().tolist()) == list(range(10))
    # pixel value 16 → 1, 0 → −1, 8 → 0
    from sklearn.datasets import load_digits as sk
    assert torch.allclose(x[0, 0], torch.from_numpy(sk().images[0]).float() / 8 - 1)


def test_mnist5k():
    x, y = load_mnist5k()
    _check(x, y, (5000, 1, 28, 28))
    assert y.bincount().tolist() == [500] * 10


@pytest.mark.parametrize("split, n", [("train", 60_000), ("test", 10_000)])
def test_fashion_mnist(split, n):
    x, y = load_fashion_mnist(split)
    _check(x, y, (n, 1, 28, 28))
    assert y.bincount().tolist() == [n // 10] * 10


def test_each_call_gets_its_own_tensor():
    x, _ = load_mnist5k()
    x.zero_()
    assert load_mnist5k()[0].min().item() == -1.0


def _idx_bytes(array: np.ndarray, type_byte: int = 0x08) -> bytes:
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 5), dtype=np.uint8)
    data = _idx_bytes(images)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(data) if gz else data)
    np.testing.assert_array_equal(read_idx(path), images)


def test_idx_big_endian_int32(tmp_path):
    values = np.array([[1, -2], [70000, 3]], dtype=np.int32)
    path = tmp_path / "i.idx"
    path.write_bytes(_idx_bytes(values, 0x0C))
    np.testing.assert_array_equal(read_idx(path), values)


def test_bad_magic_is_a_clear_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match=rf"{path}: magic number 89504e47 is not an IDX header"):
        read_idx(path)


def test_truncated_idx_is_a_clear_error(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(_idx_bytes(np.zeros((2, 3), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"shape \(2, 3\) needs 18 bytes, the file has 17"):
        read_idx(path)


def test_fashion_mnist_from_a_users_folder(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(images))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.array([7, 1], np.uint8))))
    x, y = load_fashion_mnist("test", tmp_path)
    assert y.tolist() == [7, 1]
    assert torch.allclose(x[:, 0], torch.from_numpy(images).float() / 127.5 - 1, atol=1e-6)
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\[\.gz\]: Fashion-MNIST file not found"):
        load_fashion_mnist("train", tmp_path)


def _save(path, color, size=(12, 8), mode="RGB"):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_image_folder(tmp_path):
    _save(tmp_path / "b" / "white.png", (255, 255, 255))
    _save(tmp_path / "a.jpg", (0, 0, 0))
    _save(tmp_path / "c" / "d" / "red.bmp", (255, 0, 0), size=(5, 30))
    (tmp_path / "notes.txt").write_text("not an image")
    x, y = load_image_folder(tmp_path, size=4)
    assert y is None and x.shape == (3, 3, 4, 4) and x.dtype == torch.float32
    # sorted by path: a.jpg, b/white.png, c/d/red.bmp
    assert torch.allclose(x[0], torch.full((3, 4, 4), -1.0), atol=0.02)  # jpeg: near black
    assert torch.equal(x[1], torch.ones(3, 4, 4))
    assert torch.equal(x[2], torch.stack([torch.ones(4, 4), -torch.ones(4, 4), -torch.ones(4, 4)]))
    grey, _ = load_image_folder(tmp_path, size=4, channels=1)
    assert grey.shape == (3, 1, 4, 4) and grey.min() >= -1 and grey.max() <= 1


def test_image_folder_names_a_corrupt_file(tmp_path):
    _save(tmp_path / "good.png", (10, 20, 30))
    bad = tmp_path / "sub" / "bad.png"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ValueError, match=rf"{bad}: cannot be read as an image"):
        load_image_folder(tmp_path, size=8)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        load_image_folder(tmp_path / "nope", size=8)
    with pytest.raises(FileNotFoundError, match="no image files"):
        load_image_folder(tmp_path, size=8)
    with pytest.raises(ValueError, match="channels=2"):
        load_image_folder(tmp_path, size=8, channels=2)
