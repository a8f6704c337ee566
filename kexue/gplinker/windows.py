"""Texts longer than the model's window: overlapping windows, each decoded, merged back in the text's offsets.

The posts (kexue.fm/archives/8926, 8888) cut every text at `maxlen` tokens, which loses whatever a long
text says after its first 126 characters, silently. Here a text whose tokens do not fit is read as
windows of `width` tokens (max_len − 2: [CLS] and [SEP] take the rest) that overlap by `overlap` tokens
(a quarter of the width by default), as PaddleNLP's Taskflow reads long inputs:

    window w covers tokens [w·s, w·s + width),   s = width − overlap (the stride)

Each window is decoded as a text of its own (its characters text[c₀:c₁]); its offsets are shifted by c₀.
Every character belongs to exactly one window, its *own* region: the overlap between two windows is cut
at its middle. An item (an entity, an event, a triple) is kept from the window whose own region holds its
first character, so an item that lies in an overlap is kept once, from the window where it sits away
from the edge; items no longer than overlap/2 tokens are therefore never cut by a window's edge. Items
equal after the shift are kept once.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kexue.gplinker.buckets import length_buckets

OVERLAP_SHARE = 0.25  # windows overlap by a quarter of their width


@dataclass(frozen=True)
class Window:
    start: int  # c₀: the first character the window reads
    end: int  # c₁: one past its last character
    own_start: int  # the characters [own_start, own_end) are this window's own
    own_end: int


def windows(offsets: list[tuple[int, int]], width: int, text_length: int,
            overlap: int | None = None) -> list[Window]:
    """The windows of a text whose tokens have character `offsets` (no [CLS]/[SEP]); one window when all
    tokens fit in `width`."""
    if width < 2:
        raise ValueError(f"window width {width} tokens: too small to read a text in windows")
    overlap = int(width * OVERLAP_SHARE) if overlap is None else overlap
    if not 0 <= overlap < width:
        raise ValueError(f"window overlap {overlap} must lie in [0, width={width})")
    n = len(offsets)
    if n <= width:
        return [Window(0, text_length, 0, text_length)]
    stride = width - overlap
    firsts = list(range(0, n - width, stride)) + [n - width]  # the last window ends with the text
    spans = [(offsets[i][0], offsets[i + width - 1][1]) for i in firsts]
    out = []
    for k, (c0, c1) in enumerate(spans):
        # the overlap with a neighbour is cut at its middle character
        own_start = 0 if k == 0 else (spans[k - 1][1] + c0) // 2
        own_end = text_length if k == len(spans) - 1 else (c1 + spans[k + 1][0]) // 2
        out.append(Window(0 if k == 0 else c0, text_length if k == len(spans) - 1 else c1, own_start, own_end))
    return out


def merge(text: str, parts: list[tuple[Window, dict[str, Any]]]) -> dict[str, Any]:
    """One text's JSON from its windows' JSONs (each decoded on text[w.start:w.end]): every character
    offset shifted into the text, each item kept from the window that owns its first character, once."""
    merged: dict[str, Any] = {"text": text}
    seen: set[str] = set()
    for w, result in parts:
        for key, items in result.items():
            if key == "text":
                continue
            merged.setdefault(key, [])
            for item in items:
                item = _shifted(item, w.start)
                first = _first_char(item)
                if first is not None and not w.own_start <= first < w.own_end:
                    continue
                identity = repr(sorted((k, v) for k, v in _without_scores(item).items()))
                if identity not in seen:
                    seen.add(identity)
                    merged[key].append(item)
    return merged


def _is_offset(key: str) -> bool:
    return key in ("start", "end") or key.endswith("start_index")


def _shifted(value: Any, by: int, key: str = "") -> Any:
    """Every character offset in a JSON value moved by `by` (−1 / None, "not found", stay as they are)."""
    if isinstance(value, dict):
        return {k: _shifted(v, by, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, by) for v in value]
    if _is_offset(key) and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value + by
    return value


def _first_char(item: Any) -> int | None:
    """The smallest character offset anywhere in an item (its trigger, its arguments, its subject)."""
    found: list[int] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif _is_offset(key) and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            found.append(value)

    walk(item)
    return min(found) if found else None


def _without_scores(item: dict[str, Any]) -> dict[str, Any]:
    return {k: (repr(_without_scores(v)) if isinstance(v, dict) else
                repr([_without_scores(x) if isinstance(x, dict) else x for x in v]) if isinstance(v, list) else v)
            for k, v in item.items() if k != "score"}


def read_in_windows(texts: list[str], windows_of: Callable[[str], list[Window]],
                    encode: Callable[[str], tuple[list[int], list[tuple[int, int]]]],
                    forward: Callable[[list[str], list], list[dict]], slack: float,
                    max_windows: int | None = None) -> list[dict[str, Any]]:
    """An extractor's batch: every text cut into its windows (`windows_of`), the windows encoded and run
    (`forward`) in passes of similar lengths (buckets.length_buckets) of at most `max_windows` windows (a
    pass's outputs, windows × labels × n², are what a batch holds at its peak), and each text's windows
    merged back into its offsets. Shared by the torch Extractor and the ONNX runtime."""
    if not texts:
        return []
    pieces = [(k, w) for k, text in enumerate(texts) for w in windows_of(text)]
    chunks = [texts[k][w.start:w.end] for k, w in pieces]
    encoded = [encode(c) for c in chunks]
    decoded: list[Any] = [None] * len(pieces)
    step = max_windows or len(pieces)
    for bucket in length_buckets([len(ids) for ids, _ in encoded], slack):
        for part in (bucket[at:at + step] for at in range(0, len(bucket), step)):
            for j, result in zip(part, forward([chunks[j] for j in part], [encoded[j] for j in part])):
                decoded[j] = result
    parts: list[list] = [[] for _ in texts]
    for (k, w), result in zip(pieces, decoded):
        parts[k].append((w, result))
    return [p[0][1] if len(p) == 1 else merge(text, p) for text, p in zip(texts, parts)]
