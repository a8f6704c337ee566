"""Whole-word masking for masked language modelling: one function for every topic that pretrains an MLM.

kexue.fm/archives/8998 and ZhuiyiTechnology/roformer-v2 `train_mlm.py`: the text is segmented into words;
each word is selected with probability 15 %; a selected word has all its tokens replaced by [MASK]
(80 %), kept (10 %) or replaced by random tokens (10 %); the loss is on the tokens of the selected words.
kexue/roformer/mlm.py (post 8998) and kexue/decoder_only/mlm.py (post 9529) both mask with this.

Two choices the post leaves open, made once here (the two topics' copies had made them differently):
- a sequence with no selected word (a 0.85^words event) gets one word selected, drawn uniformly, and
  that word is treated as any selected word (80/10/10). RoFormer's copy always took the first word and
  always masked it, which over-trains the first word of short texts; decoder_only's drew it uniformly.
- a random token is drawn uniformly from the ids that are not special (RoFormer's copy built that list
  per call; decoder_only's drew from 3..V−1, which is the same set for its specials 0, 1, 2).
Every draw comes from `generator` (None: torch's global one, which the Trainer seeds and saves).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

IGNORE = -100  # label of a position outside S, the selected tokens


@dataclass
class MaskingConfig:
    word_rate: float = 0.15   # P(a word is selected)
    mask_rate: float = 0.8    # of the selected words: all tokens → [MASK]
    keep_rate: float = 0.1    # kept as they are; the remaining 10 % → random tokens


def whole_word_mask(words: Sequence[Sequence[int]], *, mask_id: int, vocab_size: int,
                    special: Sequence[int] = (0, 1, 2, 3, 4), cfg: MaskingConfig | None = None,
                    generator: torch.Generator | None = None) -> tuple[list[int], list[int], list[int]]:
    """Mask a sequence given as words of token ids; returns (input ids, labels, choice per word).

    labels[t] is the original id where t belongs to a selected word, IGNORE elsewhere. The choice per
    word: 0 not selected, 1 [MASK], 2 kept, 3 random tokens (uniform over the ids not in `special`).
    """
    cfg = cfg or MaskingConfig()
    n = len(words)
    u = torch.rand(n, generator=generator).tolist()
    v = torch.rand(n, generator=generator).tolist()
    selected = [x < cfg.word_rate for x in u]
    if n and not any(selected):  # one word, uniformly, so that every sequence has a loss
        selected[int(torch.randint(n, (1,), generator=generator))] = True
    # of the selected: 80 % [MASK], 10 % kept, 10 % random
    choices = [0 if not s else 1 if r < cfg.mask_rate else 2 if r < cfg.mask_rate + cfg.keep_rate else 3
               for s, r in zip(selected, v)]
    skip = sorted(set(special))
    pool = vocab_size - len([s for s in skip if s < vocab_size])
    ids, labels = [], []
    for word, choice in zip(words, choices):
        for token in word:
            labels.append(token if choice else IGNORE)
            if choice == 1:
                ids.append(mask_id)
            elif choice == 3:
                ids.append(_nth_regular(int(torch.randint(pool, (1,), generator=generator)), skip))
            else:
                ids.append(token)
    return ids, labels, choices


def _nth_regular(r: int, special: list[int]) -> int:
    """The r-th id (from 0) that is not in the sorted list `special`."""
    for s in special:
        if r >= s:
            r += 1
    return r
