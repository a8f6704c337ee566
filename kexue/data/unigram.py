"""The unigram floor: the loss a model of text must beat before anything it learned counts.

Every topic that judges a language model (kexue.fm/archives/8610 attention, 9554 LRU, 9529 decoder-only,
8998 RoFormerV2) compares its held-out loss with the loss of the best context-free guess: the training
split's token frequencies. Add-one (Laplace) smoothing over the vocabulary keeps a token that training
never saw finite:

    p(x) = (n(x) + 1) / (N + V),   floor = −(1/M) Σ_{x ∈ held-out} log p(x)

in nats per predicted token, where n(x) counts x in the N training tokens, V is the size of the
vocabulary the model predicts over and M is the number of held-out tokens.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable


def unigram_loss(train: Iterable[Hashable], held_out: Iterable[Hashable], vocab_size: int) -> float:
    """−mean log p(x) of the held-out tokens under the training tokens' add-one smoothed frequencies.

    Tokens are anything hashable (ids, characters); a tensor of ids is read as its list of ints.
    `vocab_size` is V, the number of tokens the model chooses among."""
    counts = Counter(_items(train))
    total = sum(counts.values()) + vocab_size
    nll, m = 0.0, 0
    for x, n in Counter(_items(held_out)).items():
        # n · −log p(x), p(x) = (n(x) + 1) / (N + V)
        nll -= n * math.log((counts[x] + 1) / total)
        m += n
    if m == 0:
        raise ValueError("unigram_loss: the held-out split has no tokens")
    return nll / m


def _items(tokens: Iterable[Hashable]) -> Iterable[Hashable]:
    tolist = getattr(tokens, "tolist", None)  # a torch tensor or NumPy array of ids: its Python ints
    return tolist() if callable(tolist) and getattr(tokens, "ndim", 1) == 1 else tokens
