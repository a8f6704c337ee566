"""Batches of similar lengths (kexue/train/length_batches.py): every row once an epoch, alike lengths in a
batch, and the Trainer's sampler reading them as its global batches (ranks, accumulation, a resume)."""
from types import SimpleNamespace

import pytest
import torch

from kexue.train.batches import ShardedBatchSampler
from kexue.train.length_batches import LengthBuckets


def rows_of(n: int) -> list:
    return [SimpleNamespace(text="字" * (1 + (k * 37) % 97)) for k in range(n)]


def test_every_row_once_in_batches_of_like_lengths():
    rows = rows_of(650)
    lengths = [len(r.text) for r in rows]
    data = LengthBuckets(rows, 8, lengths, seed=0, pool=10)
    first = data.batches(0)
    assert len(first) == 650 // 8 and all(len(b) == 8 for b in first)  # the last pool's 2 left over go last
    assert sorted(data.epoch_order(0)) == list(range(650)) and data.epoch_order(0)[:648] == sum(first, [])
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first) / len(first)
    shuffled = torch.randperm(640, generator=torch.Generator().manual_seed(0)).tolist()
    random_spread = sum(max(lengths[i] for i in shuffled[k:k + 8]) - min(lengths[i] for i in shuffled[k:k + 8])
                        for k in range(0, 640, 8)) / 80
    assert spread < random_spread / 4
    assert data.batches(0) == first and data.batches(1) != first  # deterministic given the epoch


def test_rows_are_read_only_when_trained_on():
    """A map-style dataset that draws a fresh mask on every read (MLMDataset) is ordered by the lengths
    given, never by reading its rows."""
    reads = []

    class Masked:
        def __len__(self):
            return 64

        def __getitem__(self, i):
            reads.append(i)
            return i

    data = LengthBuckets(Masked(), 8, [i % 9 for i in range(64)], pool=2)
    assert data.epoch_order(3) and reads == []
    assert data[5] == 5 and reads == [5]


@pytest.mark.parametrize("world, accum", [(1, 1), (2, 1), (1, 4), (2, 2)])
def test_the_sampler_reads_the_batches_and_cuts_them_as_any_batch(world, accum):
    """Global batch s of the Trainer's sampler is the epoch's batch s; the ranks' and accumulation steps'
    micro-batches together are that batch, in epoch 0 and after it, and from a resumed step."""
    rows = rows_of(100)
    data = LengthBuckets(rows, 8, [len(r.text) for r in rows], seed=3, pool=4)
    per_step = {}
    for rank in range(world):
        sampler = ShardedBatchSampler(len(data), 8, world, rank, accum, seed=0, start=5, steps=30,
                                      order=data.epoch_order)
        for k, micro in enumerate(sampler):
            per_step.setdefault(5 + k // accum, {})[(k % accum) * world + rank] = micro
    for step, chunks in per_step.items():
        epoch, s = divmod(step, 100 // 8)
        assert sum((chunks[c] for c in sorted(chunks)), []) == data.batches(epoch)[s]


def test_bad_sizes_are_refused():
    rows = rows_of(5)
    with pytest.raises(ValueError, match="batch_size=8 exceeds the 5"):
        LengthBuckets(rows, 8, [1] * 5)
    with pytest.raises(ValueError, match="4 lengths for 5 rows"):
        LengthBuckets(rows, 2, [1] * 4)
