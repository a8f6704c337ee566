"""The seq2seq tasks of post 9529's comparison: a People's Daily sentence in, its pinyin (or its words
in reverse order) out.

kexue.fm/archives/9529 compares GPT and UniLM "on the same input → output data", the loss on the
output only; it names no task. Ours needs the whole input to be read: the reading of a polyphone
depends on its word (长城 chang cheng, 长大 zhang da), and a word's later characters decide the
earlier ones' readings, which is where bidirectional attention over the input could help if it
helps at all.

Data: People's Daily 1998 (kexue/data/peoples_daily.py, segmented by hand) and pinyin with tones
(kexue/data/pinyin.py, pypinyin's dictionaries): word by word, the word's reading in the phrase
table when listed, else each character's; one token per syllable and tone number (zhong1 guo2; the
neutral tone 5), so the model must get the tone too, and the toneless syllable is still the token
less its digit. `tones=False` is the earlier toneless task on snownlp's table (a listed word's
reading, else each character's most used one). Characters without pinyin (punctuation, digits, Latin
letters) are in the input but give no syllable. Sentences of min_len to max_len characters,
de-duplicated, are shuffled with a fixed seed and split by sentence into held-out (the first n_test
with an output) and train (the next n_train), so no held-out sentence is trained on.

`task="reverse"`: the output is the sentence with its words (the hand segmentation) in reverse
order, each word's characters kept in order (今天 天气 好 → 好 天气 今天): the first output token
depends on the end of the input, a second task where reading the input both ways could help.

Where we depart: the post names no task. About 1,100 syllable-tone tokens occur in 12,000 sentences
(400 toneless ones). The vocabulary is one table for both sides (the decoder-only model reads and
writes one stream): [PAD] [SEP] [EOS] [UNK], the syllables, then the training split's characters
(most frequent first, at most max_chars; the rest read as [UNK]). The first `vocab.n_output` ids
(specials and syllables) are the output vocabulary: the models' softmax runs over those alone. For
"reverse" the output is characters: every id is an output id.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

from kexue.data.unigram import unigram_loss as unigram_floor

PAD, SEP, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("[PAD]", "[SEP]", "[EOS]", "[UNK]")
IGNORE = -100  # label of a position outside the output part
TASKS: tuple[str, ...] = ("pinyin", "reverse")


@dataclass
class TaskConfig:
    task: str = "pinyin"
    min_len: int = 6  # input characters per sentence, inclusive
    max_len: int = 24
    n_train: int = 8000  # training sentences (at most)
    n_test: int = 300  # held-out sentences
    max_chars: int = 3000  # input vocabulary: the most frequent characters of the training split
    split_seed: int = 0  # the train / held-out split (fixed across model seeds)
    tones: bool = True  # pinyin with tone numbers (pypinyin); False: toneless (snownlp's table)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"TaskConfig.task={self.task!r}: choose one of {', '.join(TASKS)}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"TaskConfig: need 1 ≤ min_len ≤ max_len, got {self.min_len}, {self.max_len}")
        for name in ("n_train", "n_test", "max_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"TaskConfig.{name}={getattr(self, name)!r}: must be a positive integer")


@dataclass
class Vocab:
    tokens: list[str]
    n_output: int = 0  # ids 0..n_output−1 are what the models may write (specials and syllables)

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, items: list[str]) -> list[int]:
        return [self.index.get(t, UNK) for t in items]

    def decode(self, ids: list[int]) -> list[str]:
        return [self.tokens[i] for i in ids]


class Pairs(Dataset):
    """(input ids, output ids) pairs, neither with specials."""

    def __init__(self, pairs: list[tuple[list[int], list[int]]], texts: list[str]):
        self.pairs, self.texts = pairs, texts

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.pairs[i]


def sentence_pinyin(words: tuple[str, ...], table: dict[str, list[str]], word_table: dict[str, list[str]]
                    ) -> list[str]:
    """The syllables of a segmented sentence: a listed word's reading, else each character's first."""
    out: list[str] = []
    for word in words:
        if len(word) > 1 and word in word_table:
            out.extend(word_table[word])
        else:
            out.extend(table[ch][0] for ch in word if ch in table)
    return out


def build_task(cfg: TaskConfig) -> tuple[Pairs, Pairs, Vocab]:
    """Train and held-out pairs and the shared vocabulary."""
    from kexue.data.peoples_daily import load_peoples_daily
    from kexue.data.pinyin import load_pinyin_table, load_pinyin_words, tone_pinyin

    toneless = cfg.task == "pinyin" and not cfg.tones
    table, word_table = (load_pinyin_table(), load_pinyin_words()) if toneless else ({}, {})

    def output(words: tuple[str, ...]) -> list[str]:
        if cfg.task == "reverse":
            return list("".join(reversed(words)))
        return sentence_pinyin(words, table, word_table) if toneless else tone_pinyin(words)

    seen, candidates = set(), []
    for s in load_peoples_daily():
        if cfg.min_len <= len(s.text) <= cfg.max_len and s.text not in seen:
            seen.add(s.text)
            candidates.append(s)
    random.Random(cfg.split_seed).shuffle(candidates)
    items = []  # the outputs of as many sentences as the split takes (pinyin costs ~1 ms a sentence)
    for s in candidates:
        if len(items) == cfg.n_test + cfg.n_train:
            break
        out = output(s.words)
        if out:
            items.append((s.text, out))
    if len(items) < cfg.n_test + 1:
        raise ValueError(f"TaskConfig: only {len(items)} sentences of {cfg.min_len}–{cfg.max_len} characters; "
                         f"lower n_test={cfg.n_test} or widen the lengths")
    test_items, train_items = items[:cfg.n_test], items[cfg.n_test:]
    chars = Counter(ch for text, _ in train_items for ch in text)
    if cfg.task == "reverse":  # characters both ways: every id may be written
        tokens = list(SPECIALS) + [c for c, _ in chars.most_common(cfg.max_chars)]
        vocab = Vocab(tokens, n_output=len(tokens))
    else:
        syllables = sorted({s for _, syl in items for s in syl})
        tokens = list(SPECIALS) + syllables + [c for c, _ in chars.most_common(cfg.max_chars)]
        vocab = Vocab(tokens, n_output=len(SPECIALS) + len(syllables))

    def encode(rows: list[tuple[str, list[str]]]) -> Pairs:
        return Pairs([(vocab.encode(list(text)), vocab.encode(syl)) for text, syl in rows], [t for t, _ in rows])

    return encode(train_items), encode(test_items), vocab


def collate(arch: str):
    """The batch builder of an architecture: lists of (input, output) → padded tensors.

    decoder / prefix: ids = input [SEP] output (right-padded), labels = the next token on the output part
    (from the [SEP] position on), IGNORE elsewhere; prefix_len = |input| + 1.
    encdec: src = input (padded), src_len; ids = [SEP] output, labels = output [EOS].
    """
    def fn(rows: list[tuple[list[int], list[int]]]) -> dict[str, Tensor]:
        b = len(rows)
        if arch == "encdec":
            m = max(len(s) for s, _ in rows)
            n = max(len(t) for _, t in rows) + 1
            src = torch.full((b, m), PAD, dtype=torch.long)
            ids = torch.full((b, n), PAD, dtype=torch.long)
            labels = torch.full((b, n), IGNORE, dtype=torch.long)
            for i, (s, t) in enumerate(rows):
                src[i, :len(s)] = torch.tensor(s)
                ids[i, :len(t) + 1] = torch.tensor([SEP] + t)
                labels[i, :len(t) + 1] = torch.tensor(t + [EOS])
            return {"src": src, "src_len": torch.tensor([len(s) for s, _ in rows]), "ids": ids, "labels": labels}
        n = max(len(s) + len(t) + 1 for s, t in rows)  # input [SEP] output [EOS], less the last token
        ids = torch.full((b, n), PAD, dtype=torch.long)
        labels = torch.full((b, n), IGNORE, dtype=torch.long)
        for i, (s, t) in enumerate(rows):
            seq = s + [SEP] + t + [EOS]
            ids[i, :len(seq) - 1] = torch.tensor(seq[:-1])
            # position t predicts seq[t + 1]: the output part starts at the [SEP] position len(s)
            labels[i, len(s):len(seq) - 1] = torch.tensor(seq[len(s) + 1:])
        return {"ids": ids, "labels": labels, "prefix_len": torch.tensor([len(s) + 1 for s, _ in rows])}

    return fn


def count_tokens(batch: dict[str, Tensor]) -> int:
    """Real (non-pad) tokens the model reads in a batch: input and output."""
    n = int((batch["ids"] != PAD).sum())
    return n + (int(batch["src_len"].sum()) if "src_len" in batch else 0)


def unigram_loss(train: Pairs, test: Pairs, vocab_size: int) -> float:
    """The floor: cross-entropy (nats) of the held-out output tokens (and [EOS]) under the training split's
    output unigram frequencies, add-one smoothed over the output vocabulary (vocab_size = vocab.n_output;
    `kexue/data/unigram.py`)."""
    outputs = lambda split: (tok for _, t in split.pairs for tok in t + [EOS])
    return unigram_floor(outputs(train), outputs(test), vocab_size)
