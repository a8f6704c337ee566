"""The sharded sampler: disjoint shards of one global batch, deterministic, resumable mid-epoch."""
import itertools

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.train import ShardedBatchSampler


def micro_batches(n, batch, world, rank, accum, seed, start, steps):
    return list(ShardedBatchSampler(n, batch, world, rank, accum, seed, start=start, steps=steps))


@given(world=st.integers(1, 4), accum=st.integers(1, 3), micro=st.integers(1, 4), spare=st.integers(0, 20),
       seed=st.integers(0, 1000))
@settings(max_examples=60, deadline=None)
def test_ranks_and_micro_steps_split_one_global_batch(world, accum, micro, spare, seed):
    batch = world * accum * micro
    n = 2 * batch + spare % batch  # two steps per epoch and a dropped tail
    steps = 5
    alone = micro_batches(n, batch, 1, 0, 1, seed, 0, steps)  # one process, no accumulation
    shards = [micro_batches(n, batch, world, r, accum, seed, 0, steps) for r in range(world)]
    for t in range(steps):
        parts = [shards[r][t * accum + a] for a in range(accum) for r in range(world)]
        assert all(len(p) == micro for p in parts)
        # the union over ranks and micro-steps, in chunk order a·W + r, is the single-process batch
        assert list(itertools.chain(*parts)) == alone[t]
    # within an epoch every example is seen at most once
    for epoch in range(2):
        seen = list(itertools.chain(*alone[2 * epoch: 2 * epoch + 2]))
        assert len(seen) == len(set(seen)) == 2 * batch


def test_deterministic_and_resumable_mid_epoch():
    full = micro_batches(50, 8, 2, 1, 2, seed=3, start=0, steps=20)
    assert full == micro_batches(50, 8, 2, 1, 2, seed=3, start=0, steps=20)
    assert full != micro_batches(50, 8, 2, 1, 2, seed=4, start=0, steps=20)
    for start in (1, 6, 7, 13):  # 6 steps per epoch: mid-epoch, at a boundary, later epochs
        assert micro_batches(50, 8, 2, 1, 2, seed=3, start=start, steps=20) == full[start * 2:]


def test_epoch_order_is_a_seeded_permutation():
    s = ShardedBatchSampler(10, 5, 1, 0, 1, seed=9)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(9 + 1)).tolist()
    assert list(itertools.islice(iter(s), 2, 4)) == [expected[:5], expected[5:]]
