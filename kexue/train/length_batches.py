"""Batches of similar lengths: less padding, so more sequences per second where compute is the cost (a CPU).

Not from the posts (bert4keras pads each batch to its longest text, the MLM to a fixed length). A batch pads to its longest sequence,
so a random batch of short texts with one long one is mostly padding: on kexue's msra-encoder corpus
(People's Daily + MSRA train, 43.8 tokens a text on average, 121 at the 99th percentile) a random batch
of 64 is 38 % real tokens, a batch cut from a length-sorted pool 97 %, and an MLM step 2.9× cheaper
(benchmarks/gplinker_pretrained.py --padding). GPLinker's from-scratch recipes
(gplinker/recipes.py) and the msra-encoder pretraining (roformer/pretrain.py) read their rows this way.

Each epoch shuffles the rows (seed + epoch), sorts each pool of `pool` batches by length, cuts it into
batches and shuffles the batches, so the order stays random across batches. `LengthBuckets` is a
map-style view of the rows whose `epoch_order(epoch)` the Trainer's sampler reads in place of its random
permutation (train/batches.py): the order is the batches one after another, so the sampler's global batch
s is the epoch's batch s, its ranks and accumulation steps cut it as any batch, and a resumed run skips
to its step without reading a row (reading one may draw a mask, which would shift the random numbers).
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset


class LengthBuckets(Dataset):
    """`rows` (anything indexable: a row is read only when it is trained on) with an epoch order in batches of
    `batch_size` whose `lengths[i]` are alike. A pool's short last batch goes to the end of the order, where
    the sampler drops an epoch's tail shorter than a batch."""

    def __init__(self, rows: Sequence, batch_size: int, lengths: Sequence[int], seed: int = 0, pool: int = 50):
        if batch_size > len(rows):
            raise ValueError(f"TrainConfig.batch_size={batch_size} exceeds the {len(rows)} training rows; "
                             "--set train.batch_size=N with N ≤ that")
        if len(lengths) != len(rows):
            raise ValueError(f"LengthBuckets: {len(lengths)} lengths for {len(rows)} rows")
        self.rows, self.lengths, self.batch_size, self.seed, self.pool = rows, lengths, batch_size, seed, pool

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Any:
        return self.rows[i]

    def batches(self, epoch: int) -> list[list[int]]:
        """The epoch's batches as row indices, in the order they are read."""
        return self._cut(epoch)[0]

    def epoch_order(self, epoch: int) -> list[int]:
        """Every row index once: the batches in order, then the pools' leftovers (fewer than a batch in all)."""
        batches, rest = self._cut(epoch)
        return [i for b in batches for i in b] + rest

    def _cut(self, epoch: int) -> tuple[list[list[int]], list[int]]:
        rng = random.Random(self.seed * 100_003 + epoch)
        order = list(range(len(self.rows)))
        rng.shuffle(order)
        size, out, rest = self.batch_size * self.pool, [], []
        for at in range(0, len(order), size):
            chunk = sorted(order[at:at + size], key=lambda i: self.lengths[i])
            whole = len(chunk) - len(chunk) % self.batch_size
            out += [chunk[k:k + self.batch_size] for k in range(0, whole, self.batch_size)]
            rest += chunk[whole:]
        rng.shuffle(out)
        return out, rest
