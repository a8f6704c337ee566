"""Character-bigram embeddings for Chinese NER: each character also reads the two character pairs it is in.

Not in the posts (kexue.fm/archives/8373 puts GlobalPointer on a BERT whose attention has learnt which
characters go together from billions of them); this is for the encoder kexue pretrains on a laptop. Every
character-level Chinese NER baseline since Zhang & Yang 2018 (Lattice LSTM, their char + bichar model)
adds the embedding of the bigram c_i c_{i+1} to the character's; we add both bigrams around c_i:

    e_i = E[c_i] + W [B[c_{i-1} c_i] ; B[c_i c_{i+1}]]

B holds one row per bigram seen ≥ MIN_COUNT times in the training texts, and row 0 (kept zero) for every
other pair (a bigram the training text lacks would never be trained), one with [UNK], and the sentence's
ends. W starts at zero, so a pretrained encoder begins as it was. Where we depart from Zhang & Yang: their
bigram vectors were pretrained (word2vec on Gigaword); no such vectors exist offline, so B learns from the
labelled sentences alone, at the heads' rate (train.py's encoder_head_groups).

The table is counted on the training texts when a run is built and kept in the run as bigrams.txt (two
tokens a line, tab-separated, in row order), so predict and serve need nothing but the run folder. A
lookup is vectorised: a pair (a, b) of token ids is the key a·V + b, found in the sorted keys by binary
search (torch.searchsorted). Measured on MSRA (143,308 pairs seen twice, 32 dims): a fine-tuning step of
msra-bigrams takes 0.200 CPU-s against 0.174 for msra-lexicon, and test F1 is 0.904 against 0.881 (3 seeds,
benchmarks/gplinker_pretrained.py).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from torch import Tensor, nn

BIGRAMS_FILE = "bigrams.txt"
MIN_COUNT = 2  # a pair seen once in the training text is a name's memory, not a bigram's meaning
INIT_STD = 0.1  # B's rows at the start (W is zero, so they change nothing until W has learnt)


def count_bigrams(texts: list[str], tokenizer, min_count: int = MIN_COUNT) -> list[tuple[int, int]]:
    """The token-id pairs (a, b) of adjacent characters seen ≥ min_count times in `texts`, without [UNK]."""
    counts: Counter = Counter()
    for text in texts:
        ids = [tokenizer.char_id(c) for c in text]
        counts.update(zip(ids, ids[1:]))
    unk = tokenizer.unk_id
    return [pair for pair, n in counts.items() if n >= min_count and unk not in pair]


def save_bigrams(table: "BigramTable", tokenizer, path: str | Path) -> None:
    lines = (f"{tokenizer.id_to_token(a)}\t{tokenizer.id_to_token(b)}\n" for a, b in table.pairs())
    Path(path).write_text("".join(lines), encoding="utf-8")


def read_bigrams(path: str | Path, tokenizer) -> list[tuple[int, int]]:
    """The pairs of a bigrams.txt of `save_bigrams`; a malformed line or a token the vocabulary lacks is an
    error naming it."""
    pairs = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        tokens = line.split("\t")
        ids = [tokenizer.token_to_id(t) if t else None for t in tokens]
        if len(tokens) != 2 or None in ids:
            raise ValueError(f"{path}:{n}: expected two tokens of the run's vocab.txt, tab-separated; got {line!r}")
        pairs.append((ids[0], ids[1]))
    return pairs


class BigramTable:
    """Token-id pairs → rows 1…K of B (sorted by key a·V + b); any other pair → row 0."""

    def __init__(self, pairs: list[tuple[int, int]], vocab_size: int):
        self.V = vocab_size
        self.keys = torch.tensor(sorted({a * vocab_size + b for a, b in pairs}), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.keys)

    def __deepcopy__(self, memo) -> "BigramTable":  # read-only: a copied model shares it
        return self

    def pairs(self) -> list[tuple[int, int]]:
        return [(k // self.V, k % self.V) for k in self.keys.tolist()]

    def rows(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """(left, right) [b, n]: the rows of B for c_{i-1} c_i and for c_i c_{i+1} (0 past either end)."""
        key = ids[:, :-1].cpu() * self.V + ids[:, 1:].cpu()  # key of c_i c_{i+1}, i < n - 1
        pos = torch.searchsorted(self.keys, key).clamp(max=max(len(self.keys) - 1, 0))
        found = self.keys[pos] == key if len(self.keys) else torch.zeros_like(key, dtype=torch.bool)
        pair = torch.where(found, pos + 1, 0)
        zero = torch.zeros(ids.shape[0], 1, dtype=torch.long)
        return torch.cat([zero, pair], 1).to(ids.device), torch.cat([pair, zero], 1).to(ids.device)


class BigramEmbedding(nn.Module):
    """W [B[c_{i-1} c_i] ; B[c_i c_{i+1}]] for every token: [b, n] ids → [b, n, H]."""

    def __init__(self, table: BigramTable, dim: int, hidden: int):
        super().__init__()
        self.table = table
        self.B = nn.Embedding(len(table) + 1, dim, padding_idx=0)
        nn.init.normal_(self.B.weight, std=INIT_STD)
        with torch.no_grad():
            self.B.weight[0].zero_()
        self.W = nn.Linear(2 * dim, hidden, bias=False)
        nn.init.zeros_(self.W.weight)

    def forward(self, ids: Tensor) -> Tensor:
        left, right = self.table.rows(ids)
        # W [B[c_{i-1} c_i] ; B[c_i c_{i+1}]]
        return self.W(torch.cat([self.B(left), self.B(right)], -1))


__all__ = ["BIGRAMS_FILE", "BigramEmbedding", "BigramTable", "count_bigrams", "read_bigrams", "save_bigrams"]
