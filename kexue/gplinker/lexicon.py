"""Lexicon features for Chinese NER: which lexicon words cover each character, and where in them it sits.

Not in the posts (kexue.fm/archives/8373 puts GlobalPointer on a BERT that read billions of characters);
this is for the encoder kexue can pretrain on a laptop, which has read 4M. It is SoftLexicon's idea (Ma et
al. 2020, "Simplify the Usage of Lexicon in Chinese NER") with the word embeddings left out: each
character c gets, per word category g, the four sets of matched lexicon words in which c is the Begin,
Middle, End or a Single-character word, and we keep only whether each set is empty:

    f(c)[g, r] = 1  iff  some word w of category g occurs in the sentence over a span where c has role r

with g ∈ (word, PER, LOC, ORG) and r ∈ (B, M, E, S): 16 bits. `LexiconEmbedding` adds P f(c) to the
token embedding E[c] (P: 16 → H, zero at the start, so a pretrained encoder begins as it was); it also
carries the bigram embeddings of bigrams.py when encoder.bigrams asks for them (one input embedding, so
that E keeps its state-dict key whichever features are on).

The lexicon `jieba+peoples-daily` is built from files installed packages carry: jieba's dict.txt (349,046
words; POS nr and nrt → PER, ns → LOC, nt → ORG) and the names People's Daily 1998 tags (a surname and
given name joined, ns, nt). Never MSRA's labels: the model would learn to trust a feature that always
agrees with its training labels. A run keeps its lexicon as lexicon.txt (a word, a tab, its categories),
so predict and serve need nothing but the run folder. Matching is in Python on the token ids (a
character tokenizer only), in the forward pass: 12–19 ms for a batch of 32 MSRA sentences; a fine-tuning
of msra-lexicon took 837 CPU-s where msra-pretrained took 799 on the same encoder and steps (+5 %).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from kexue.gplinker.bigrams import BigramEmbedding, BigramTable

CATEGORIES = ("word", "PER", "LOC", "ORG")
ROLES = ("B", "M", "E", "S")
FEATURES = len(CATEGORIES) * len(ROLES)
SOURCES = ("jieba+peoples-daily",)
LEXICON_FILE = "lexicon.txt"
JIEBA_KINDS = {"nr": "PER", "nrt": "PER", "ns": "LOC", "nt": "ORG"}
PEOPLES_DAILY_KINDS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
MAX_WORD = 20  # characters; longer entries are dropped
# the categories g set in a word's bits, for each value of the bits
_SET = [[g for g in range(len(CATEGORIES)) if bits >> g & 1] for bits in range(1 << len(CATEGORIES))]


def build_lexicon(source: str) -> dict[str, set[str]]:
    """word → its categories besides "word" (empty for a plain word), from the named source."""
    if source not in SOURCES:
        raise ValueError(f"encoder.lexicon={source!r}: choose one of {', '.join(SOURCES)}")
    import jieba

    from kexue.data import load_peoples_daily
    words: dict[str, set[str]] = {}
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as f:
        for line in f:
            word, _, pos = line.split()
            kinds = words.setdefault(word, set())
            if pos in JIEBA_KINDS:
                kinds.add(JIEBA_KINDS[pos])
    for sentence in load_peoples_daily():
        for start, end, tag in sentence.entities():
            words.setdefault(sentence.text[start:end], set()).add(PEOPLES_DAILY_KINDS[tag])
    return {w: k for w, k in words.items() if 0 < len(w) <= MAX_WORD and not any(c.isspace() for c in w)}


def save_lexicon(words: dict[str, set[str]], path: str | Path) -> None:
    lines = (f"{w}\t{','.join(sorted(k)) or '-'}\n" for w, k in sorted(words.items()))
    Path(path).write_text("".join(lines), encoding="utf-8")


def read_lexicon(path: str | Path) -> dict[str, set[str]]:
    """A lexicon.txt of `save_lexicon`; a malformed line is an error naming it."""
    words: dict[str, set[str]] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        word, tab, kinds = line.partition("\t")
        names = set() if kinds == "-" else set(kinds.split(","))
        if not tab or not word or not names <= set(CATEGORIES[1:]):
            raise ValueError(f"{path}:{n}: expected WORD<tab>CATEGORIES ({','.join(CATEGORIES[1:])} or -), "
                             f"got {line!r}")
        words[word] = names
    return words


class Matcher:
    """The lexicon in token-id space: a word is the string of chr(id) of its characters, so a row of ids
    is matched by slicing one string. Words with a character outside the vocabulary are left out."""

    def __init__(self, words: dict[str, set[str]], char_id, unk_id: int):
        self.bits: dict[str, int] = {}
        self.prefixes: set[str] = set()
        for word, kinds in words.items():
            ids = [char_id(c) for c in word]
            if unk_id in ids:
                continue
            key = "".join(map(chr, ids))
            # bit g of `bits`: the word is of category g (bit 0 = "word": every entry)
            self.bits[key] = self.bits.get(key, 0) | 1 | sum(1 << CATEGORIES.index(k) for k in kinds)
            self.prefixes.update(key[:j] for j in range(1, len(key)))
        self.longest = max(map(len, self.bits), default=0)

    def __deepcopy__(self, memo) -> "Matcher":  # read-only: a copied model shares it
        return self

    def spans(self, row: list[int]) -> list[tuple[int, int, int]]:
        """(i, j, bits) for every lexicon word at tokens [i, j) of `row`."""
        s, out = "".join(map(chr, row)), []
        for i in range(len(s)):
            for j in range(i + 1, min(len(s), i + self.longest) + 1):
                key = s[i:j]
                bits = self.bits.get(key)
                if bits:
                    out.append((i, j, bits))
                if key not in self.prefixes:
                    break
        return out

    def features(self, ids: Tensor) -> Tensor:
        """f [b, n, 16] float: f[b, c, 4g + r] = 1 iff a word of category g covers token c with role r."""
        b, n = ids.shape
        G, R = len(CATEGORIES), len(ROLES)
        hot = []  # flat indices ((row·n + c)·G + g)·R + r of the ones
        for row, tokens in enumerate(ids.tolist()):
            for i, j, bits in self.spans(tokens):
                # (token, role) pairs of the word: S alone, else B, M…, E
                roles = [(i, 3)] if j - i == 1 else [(i, 0), *((c, 1) for c in range(i + 1, j - 1)), (j - 1, 2)]
                hot.extend(((row * n + c) * G + g) * R + r for c, r in roles for g in _SET[bits])
        f = torch.zeros(b * n * G * R)
        f[torch.tensor(hot, dtype=torch.long)] = 1
        return f.view(b, n, FEATURES).to(ids.device)


class LexiconEmbedding(nn.Embedding):
    """E[ids] + P f(ids) + W [B(c_{i-1} c_i) ; B(c_i c_{i+1})]: the token embedding it replaces (same weight,
    same state-dict key) plus the projected lexicon features (when given a matcher) and the bigram
    embeddings of bigrams.py (when given them). P and W start at zero."""

    def __init__(self, embedding: nn.Embedding, matcher: Matcher | None = None,
                 bigram: BigramEmbedding | None = None):
        super().__init__(embedding.num_embeddings, embedding.embedding_dim, padding_idx=embedding.padding_idx,
                         _weight=embedding.weight.data, _freeze=not embedding.weight.requires_grad)
        self.matcher = matcher
        if matcher is not None:
            self.lexicon = nn.Linear(FEATURES, embedding.embedding_dim, bias=False)
            nn.init.zeros_(self.lexicon.weight)
        self.bigram = bigram

    def new_parameters(self) -> list[nn.Parameter]:
        """The parameters it adds to the embedding it replaced (P, B, W)."""
        return [p for name, p in self.named_parameters() if name != "weight"]

    def forward(self, ids: Tensor) -> Tensor:
        e = super().forward(ids)  # E[ids]
        if self.matcher is not None:
            e = e + self.lexicon(self.matcher.features(ids).to(self.weight.dtype))  # + P f(ids)
        if self.bigram is not None:
            e = e + self.bigram(ids)  # + W [B(c_{i-1} c_i) ; B(c_i c_{i+1})]
        return e


def token_embedding(encoder: nn.Module) -> tuple[nn.Module, str]:
    """(the module holding the encoder's token embedding, its attribute name)."""
    if hasattr(encoder, "roformer"):  # encoders.py's RoFormerEncoder
        return encoder.roformer.embeddings, "token"
    if hasattr(encoder, "embed"):  # model.py's TinyEncoder
        return encoder, "embed"
    if hasattr(encoder, "model") and hasattr(encoder.model, "get_input_embeddings"):  # HFEncoder
        emb = encoder.model.get_input_embeddings()
        for module in encoder.model.modules():
            for name, child in module.named_children():
                if child is emb:
                    return module, name
    raise ValueError(f"encoder.lexicon: no token embedding found in {type(encoder).__name__}")


def require_char_tokenizer(tokenizer, setting: str) -> None:
    if not hasattr(tokenizer, "char_id"):
        raise ValueError(f"{setting} needs a character tokenizer (one token a character); the encoder's is "
                         f"{type(tokenizer).__name__}: drop {setting}")


def attach_features(encoder: nn.Module, tokenizer, words: dict[str, set[str]] | None = None,
                    bigrams: BigramTable | None = None, bigram_dim: int = 0) -> nn.Module:
    """`encoder` with its token embedding replaced by a LexiconEmbedding over the lexicon `words` and/or
    bigram embeddings of size `bigram_dim` over the table `bigrams` (in place)."""
    require_char_tokenizer(tokenizer, "encoder.lexicon" if words is not None else "encoder.bigrams")
    owner, name = token_embedding(encoder)
    emb = getattr(owner, name)
    if isinstance(emb, LexiconEmbedding):
        raise ValueError("encoder.lexicon: the encoder already has lexicon features")
    matcher = Matcher(words, tokenizer.char_id, tokenizer.unk_id) if words is not None else None
    bigram = BigramEmbedding(bigrams, bigram_dim, emb.embedding_dim) if bigrams is not None else None
    setattr(owner, name, LexiconEmbedding(emb, matcher, bigram))
    return encoder


def attach_lexicon(encoder: nn.Module, words: dict[str, set[str]], tokenizer) -> nn.Module:
    """`encoder` with its token embedding replaced by a LexiconEmbedding over `words` (in place)."""
    return attach_features(encoder, tokenizer, words)


def has_lexicon(model: nn.Module) -> bool:
    return any(isinstance(m, LexiconEmbedding) for m in model.modules())


__all__ = ["CATEGORIES", "LEXICON_FILE", "LexiconEmbedding", "Matcher", "attach_features", "attach_lexicon",
           "build_lexicon", "has_lexicon", "read_lexicon", "require_char_tokenizer", "save_lexicon"]
