"""The cells of one sentence's logits that the GPLinker decoders read, on NumPy arrays (no torch).

kexue.fm/archives/8373, 8888, 8926: a GlobalPointer head scores every token pair (i, j); decoding keeps
the cells above the threshold (0 in the posts), never on [CLS], [SEP] or padding, and maps token
positions back to characters through the tokenizer's offsets. The decoders (ner.py, relations.py,
events.py) and their scores (scores.py) take NumPy arrays, so the torch `Extractor` (its logits turned
into arrays once per batch) and the ONNX runtime (onnx_runtime.py, numpy + onnxruntime alone) run one
decoding. A torch CPU tensor given to a decoder is read as an array too (`np.asarray`).
"""
from __future__ import annotations

import numpy as np

Offsets = list[tuple[int, int]]  # each token's (start, end) in characters; (0, 0) for a special token
Span = tuple[int, int]  # (h, t) token positions, inclusive


def token_maps(offsets: Offsets) -> tuple[dict[int, int], dict[int, int]]:
    """char start → token and char last → token, from a tokenizer's offsets ((0, 0) = special)."""
    starts = {s: i for i, (s, e) in enumerate(offsets) if e > s}
    ends = {e - 1: i for i, (s, e) in enumerate(offsets) if e > s}
    return starts, ends


def above(logits: np.ndarray, offsets: Offsets, threshold: float) -> np.ndarray:
    """logits [heads, n, n] > threshold, off [CLS], [SEP] and padding: a bool array of the same shape."""
    n = logits.shape[-1]
    real = np.array([e > s for s, e in offsets] + [False] * (n - len(offsets)), dtype=bool)
    return (logits > threshold) & real[None, :, None] & real[None, None, :]


def strongest(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k largest scores, largest first; equal scores in the order given (stable)."""
    return np.argsort(-scores, kind="stable")[:k]
