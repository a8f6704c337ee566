"""Tokenizers: one token per character, and BERT's WordPiece; both give offsets into the input text.

roformer (kexue.fm/archives/8998) and gplinker (kexue.fm/archives/8888, 8926) read text through
these; the attention study (8610) and decoder_only (9529) use the character tokenizer. Both share
one face: `encode(text, add_special=True, max_len=None) -> ids` and `encode_with_offsets(...) ->
(ids, offsets)`, where `offsets[t] = (start, end)` is the span of token t in the text as given
(before any normalisation) and `(0, 0)` for [CLS] / [SEP]. With `add_special`, ids are
`[CLS] tokens [SEP]` and `max_len` counts both; the special ids are [PAD]=0, [UNK]=1, [CLS]=2,
[SEP]=3, [MASK]=4 in every vocabulary we build.

CharTokenizer, and where it departs from BERT's handling of Chinese:
- Every character is exactly one token, whitespace included (BERT drops whitespace), so token
  t ↔ character t of the text: NER labels need no alignment and LM windows keep their length.
  Every whitespace character is the one token `[SPACE]` (it decodes to " ").
- NFKC (on by default; the 1998 People's Daily writes digits and Latin letters full-width) is
  applied to each character on its own, never to the string, so the one-to-one map survives
  normalisation: "１" is the token "1", and a character whose NFKC form is longer ("㎏" → "kg") is
  one token spelled "kg". Combining marks are therefore not composed with the letter before them.
- vocab.txt holds one token per line, specials first; `[SPACE]` is written as that name.

WordPieceTokenizer is BERT's: the `tokenizers` library's WordPiece over a user's vocab.txt, with
BERT's normaliser (clean text, a space around each CJK character, lowercase and strip accents when
`lowercase`) preceded by NFKC when `nfkc` (BERT has no NFKC step; we add it so full-width digits
read like half-width ones). The library tracks every normalisation, so offsets are in the original
text. `train_wordpiece` trains such a vocab.txt on a corpus with the same pipeline.
"""
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SPACE_TOKEN = "[SPACE]"
Offset = tuple[int, int]


class _Face:
    """The encode / vocabulary / special-id face both tokenizers share; subclasses supply `_tokenize` and
    set `vocab` (the tokens in id order), `_ids` (token → id) and `special_ids` (special token → id) when
    they are built."""

    vocab: list[str]
    _ids: dict[str, int]
    special_ids: dict[str, int]

    def save(self, path: str | Path) -> Path:
        """Write vocab.txt (`path` is the file, or an existing folder to write vocab.txt into)."""
        return _write_vocab(self.vocab, path)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token_to_id(self, token: str) -> int | None:
        return self._ids.get(token)

    def id_to_token(self, i: int) -> str:
        return self.vocab[i]

    def _tokenize(self, text: str) -> tuple[list[int], list[Offset]]:
        raise NotImplementedError

    def encode(self, text: str, add_special: bool = True, max_len: int | None = None) -> list[int]:
        return self.encode_with_offsets(text, add_special, max_len)[0]

    def encode_with_offsets(self, text: str, add_special: bool = True,
                            max_len: int | None = None) -> tuple[list[int], list[Offset]]:
        ids, offsets = self._tokenize(text)
        return (_frame(ids, add_special, max_len, self.cls_id, self.sep_id),
                _frame(offsets, add_special, max_len, (0, 0), (0, 0)))

    @property
    def pad_id(self) -> int:
        return self.special_ids["[PAD]"]

    @property
    def unk_id(self) -> int:
        return self.special_ids["[UNK]"]

    @property
    def cls_id(self) -> int:
        return self.special_ids["[CLS]"]

    @property
    def sep_id(self) -> int:
        return self.special_ids["[SEP]"]

    @property
    def mask_id(self) -> int:
        return self.special_ids["[MASK]"]


def _frame(items: list, add_special: bool, max_len: int | None, cls, sep) -> list:
    """`[cls, *items, sep]` (or `items`), cut so that the whole is at most `max_len` long."""
    if not add_special:
        return items if max_len is None else items[:max_len]
    if max_len is not None and max_len < 2:
        raise ValueError(f"max_len={max_len} leaves no room for [CLS] and [SEP]")
    return [cls, *(items if max_len is None else items[: max_len - 2]), sep]


class CharTokenizer(_Face):
    """One token per character; see the module docstring for whitespace and NFKC."""

    def __init__(self, vocab: Sequence[str], normalize: bool = True, where: str = "vocab"):
        for i, special in enumerate(SPECIAL_TOKENS):
            if i >= len(vocab) or vocab[i] != special:
                got = repr(vocab[i]) if i < len(vocab) else "nothing"
                raise ValueError(f"{where}:{i + 1}: expected special token '{special}', got {got}; "
                                 f"a character vocab starts with {', '.join(SPECIAL_TOKENS)}")
        self.vocab = list(vocab)
        self.normalize = normalize
        self._ids: dict[str, int] = {}
        for i, token in enumerate(self.vocab):
            if token in self._ids:
                raise ValueError(f"{where}:{i + 1}: token {token!r} repeats line {self._ids[token] + 1}")
            self._ids[token] = i
        self.special_ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
        self._char_ids: dict[str, int] = {}  # memo: character → id

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, max_size: int | None = None,
              normalize: bool = True) -> "CharTokenizer":
        """A vocab of the characters of `texts` seen at least `min_count` times, most frequent first
        (ties by code point); `max_size` caps the whole vocab, specials included."""
        if max_size is not None and max_size < len(SPECIAL_TOKENS):
            raise ValueError(f"max_size={max_size} is smaller than the {len(SPECIAL_TOKENS)} special tokens")
        chars: Counter[str] = Counter()
        for text in texts:
            chars.update(text)
        counts: Counter[str] = Counter()
        for char, n in chars.items():
            counts[char_key(char, normalize)] += n
        tokens = sorted((t for t, n in counts.items() if n >= min_count and t not in SPECIAL_TOKENS),
                        key=lambda t: (-counts[t], t))
        vocab = [*SPECIAL_TOKENS, *tokens]
        return cls(vocab if max_size is None else vocab[:max_size], normalize)

    @classmethod
    def load(cls, path: str | Path, normalize: bool = True) -> "CharTokenizer":
        """Read a vocab.txt written by `save` (`path` may be its folder)."""
        file = _vocab_file(path)
        return cls(_read_vocab(file), normalize, where=str(file))

    def char_id(self, char: str) -> int:
        """The id of one character of a text ([UNK]=1 when it is not in the vocab)."""
        i = self._char_ids.get(char)
        if i is None:
            i = self._char_ids[char] = self._ids.get(char_key(char, self.normalize), 1)
        return i

    def _tokenize(self, text: str) -> tuple[list[int], list[Offset]]:
        return [self.char_id(c) for c in text], [(i, i + 1) for i in range(len(text))]

    def encode(self, text: str, add_special: bool = True, max_len: int | None = None) -> list[int]:
        # the hot path of LM training: no offsets built, and never more characters than fit
        ids = [self.char_id(c) for c in (text if max_len is None else text[:max_len])]
        return _frame(ids, add_special, max_len, self.cls_id, self.sep_id)

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        """The tokens' text; [SPACE] → " ". `skip_special` drops [PAD]/[CLS]/[SEP] but keeps [UNK] and
        [MASK], which stand for a character."""
        dropped = {self.pad_id, self.cls_id, self.sep_id} if skip_special else set()
        return "".join(" " if self.vocab[i] == SPACE_TOKEN else self.vocab[i] for i in ids if i not in dropped)


def char_key(char: str, normalize: bool = True) -> str:
    """The vocabulary entry of one character: its NFKC form (when `normalize`), or [SPACE]."""
    key = unicodedata.normalize("NFKC", char) if normalize else char
    return SPACE_TOKEN if key.isspace() else key


class WordPieceTokenizer(_Face):
    """BERT's WordPiece over a vocab.txt (any order; it must hold the five special tokens)."""

    def __init__(self, vocab_file: str | Path, lowercase: bool = True, nfkc: bool = True):
        file = _vocab_file(vocab_file)
        self.vocab = _read_vocab(file)
        ids: dict[str, int] = {}
        for i, token in enumerate(self.vocab):
            if token in ids:
                raise ValueError(f"{file}:{i + 1}: token {token!r} repeats line {ids[token] + 1}")
            ids[token] = i
        self._ids = ids
        missing = [t for t in SPECIAL_TOKENS if t not in ids]
        if missing:
            raise ValueError(f"{file}: the vocab lacks {', '.join(missing)}; add them as lines of their own")
        self.special_ids = {t: ids[t] for t in SPECIAL_TOKENS}
        self.lowercase, self.nfkc = lowercase, nfkc
        self._tokenizer = _pipeline(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100),
                                    lowercase, nfkc)

    @classmethod
    def load(cls, path: str | Path, lowercase: bool = True, nfkc: bool = True) -> "WordPieceTokenizer":
        return cls(path, lowercase, nfkc)

    def _tokenize(self, text: str) -> tuple[list[int], list[Offset]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return list(encoding.ids), list(encoding.offsets)

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        """Readable text: "##" pieces glued to the piece before, a space only between two pieces
        that both end/start in a non-CJK letter or digit (so Chinese comes back unspaced)."""
        dropped = {self.pad_id, self.cls_id, self.sep_id} if skip_special else set()
        out = ""
        for i in ids:
            if i in dropped:
                continue
            token = self.vocab[i]
            if token.startswith("##"):
                out += token[2:]
                continue
            if out and _wordlike(out[-1]) and _wordlike(token[0]):
                out += " "
            out += token
        return out


def train_wordpiece(texts: Iterable[str], vocab_size: int, out_dir: str | Path, min_frequency: int = 2,
                    lowercase: bool = True, nfkc: bool = True, limit_alphabet: int | None = None) -> Path:
    """Train a WordPiece vocab on `texts` and write `out_dir/vocab.txt` (specials on lines 1–5).

    Every character of the corpus is kept (as BERT does; `limit_alphabet` keeps only the most
    frequent ones), each CJK character is a word of its own, and merges are learned within the
    other words. So the vocab has exactly `vocab_size` entries when the corpus' alphabet is smaller
    and its merges are enough; else the alphabet, or the merges, decide its size.
    """
    extra = {} if limit_alphabet is None else {"limit_alphabet": limit_alphabet}
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=list(SPECIAL_TOKENS), show_progress=False, **extra)
    tokenizer = _pipeline(models.WordPiece(unk_token="[UNK]"), lowercase, nfkc)
    tokenizer.train_from_iterator(texts, trainer)
    vocab = tokenizer.get_vocab()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _write_vocab(sorted(vocab, key=vocab.__getitem__), out / "vocab.txt")


def _pipeline(model: models.Model, lowercase: bool, nfkc: bool) -> Tokenizer:
    tokenizer = Tokenizer(model)
    bert = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=None, lowercase=lowercase)
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), bert]) if nfkc else bert
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer


def _wordlike(char: str) -> bool:
    return char.isalnum() and not _is_cjk(char)


def _is_cjk(char: str) -> bool:
    # the CJK blocks BERT puts a space around
    cp = ord(char)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _vocab_file(path: str | Path) -> Path:
    path = Path(path)
    file = path / "vocab.txt" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: vocab file not found")
    return file


def _read_vocab(file: Path) -> list[str]:
    with open(file, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]  # a vocab.txt written on Windows
    for lineno, line in enumerate(lines, 1):
        if line == "":
            raise ValueError(f"{file}:{lineno}: empty line; a vocab has one token per line")
    return lines


def _write_vocab(vocab: Sequence[str], path: str | Path) -> Path:
    path = Path(path)
    file = path / "vocab.txt" if path.is_dir() else path
    with open(file, "w", encoding="utf-8", newline="") as f:
        f.write("".join(f"{token}\n" for token in vocab))
    return file
