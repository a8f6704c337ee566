"""The stream of micro-batches a rank trains on, positioned at any step so that a run can resume.

Map-style datasets (with `__len__` and `__getitem__`): epoch e visits the examples in the order of a
permutation drawn from a generator seeded with `seed + e`, the same on every rank. Step s of the epoch
takes the global batch perm[s·B : (s+1)·B] and cuts it into world_size × grad_accum equal chunks;
rank r at micro-step a gets chunk a·world_size + r. Every rank and every accumulation step therefore
sees a disjoint part of the same global batch, and the union is what one process with grad_accum=1
would see. The tail of an epoch shorter than B is dropped. The order depends only on (seed, epoch,
step), so resuming mid-epoch needs nothing but the step. A dataset with `epoch_order(epoch)` (every index
once, e.g. train/length_batches.py's batches of like lengths one after another) gives that order instead
of the permutation; the cutting and the resume are the same.

Iterables (an `IterableDataset` or any re-iterable object): each rank is expected to yield its own
shard (the Trainer does not split an iterable between ranks); they are cut into micro-batches of
batch_size / (world_size × grad_accum) examples, a short last micro-batch is dropped, and when one is
exhausted `iter()` is called again for the next epoch (after `set_epoch(epoch)` where it has one). On
resume the micro-batches already consumed in the current epoch are drawn again and discarded, which
continues exactly where the run stopped when the iterable is deterministic given its epoch.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, default_collate


class ShardedBatchSampler(Sampler[list[int]]):
    """Index lists of one rank's micro-batches, from optimizer step `start` to step `steps`."""

    def __init__(self, n: int, batch_size: int, world_size: int, rank: int, grad_accum: int, seed: int,
                 start: int = 0, steps: int | None = None, order: Callable[[int], Sequence[int]] | None = None):
        if batch_size > n:
            raise ValueError(f"TrainConfig.batch_size={batch_size} exceeds the {n} examples of the dataset")
        chunks = world_size * grad_accum
        if batch_size % chunks:
            raise ValueError(f"TrainConfig.batch_size={batch_size} is not divisible by world_size × grad_accum"
                             f" = {world_size} × {grad_accum}; pick a multiple of {chunks}")
        self.n, self.batch_size, self.world_size, self.rank = n, batch_size, world_size, rank
        self.grad_accum, self.seed, self.start, self.steps, self.order = grad_accum, seed, start, steps, order
        self.micro = batch_size // chunks
        self.steps_per_epoch = n // batch_size

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, step within the epoch) of optimizer step `step`."""
        return divmod(step, self.steps_per_epoch)

    def permutation(self, epoch: int) -> torch.Tensor:
        if self.order is not None:  # the dataset's own order (LengthBuckets: batches of like lengths)
            return torch.as_tensor(self.order(epoch), dtype=torch.long)
        g = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start
        epoch, _ = self.position(step)
        perm = self.permutation(epoch)
        while self.steps is None or step < self.steps:
            e, s = self.position(step)
            if e != epoch:
                epoch, perm = e, self.permutation(e)
            batch = perm[s * self.batch_size:(s + 1) * self.batch_size]
            for a in range(self.grad_accum):
                chunk = a * self.world_size + self.rank
                yield batch[chunk * self.micro:(chunk + 1) * self.micro].tolist()
            step += 1

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("ShardedBatchSampler without `steps` is endless")
        return max(0, self.steps - self.start) * self.grad_accum


class MicroBatches:
    """Micro-batches of one rank, starting at optimizer step `start`; `position()` for the checkpoint."""

    def __init__(self, data: Dataset | Iterable, *, batch_size: int, world_size: int, rank: int,
                 grad_accum: int, seed: int, steps: int, start: int = 0,
                 data_position: Mapping[str, int] | None = None, collate_fn: Callable | None = None,
                 num_workers: int = 0, pin_memory: bool = False):
        collate = collate_fn or default_collate
        # DataLoader draws its workers' base seed from this generator, not from the global RNG,
        # so that building the stream at a resume does not shift the training random numbers.
        gen = torch.Generator().manual_seed(seed)
        self._step = start
        self.grad_accum = grad_accum
        self.sampler: ShardedBatchSampler | None = None
        if is_map_style(data):
            self.sampler = ShardedBatchSampler(len(data), batch_size, world_size, rank, grad_accum, seed,
                                               start, steps, order=getattr(data, "epoch_order", None))
            loader = DataLoader(data, batch_sampler=self.sampler, collate_fn=collate,
                                num_workers=num_workers, pin_memory=pin_memory, generator=gen)
            self._it: Iterator = iter(loader)
            return
        if not isinstance(data, Iterable):
            raise TypeError(f"train_data: a {type(data).__name__} is neither a map-style Dataset "
                            "(__len__ and __getitem__) nor an iterable")
        chunks = world_size * grad_accum
        if batch_size % chunks:
            raise ValueError(f"TrainConfig.batch_size={batch_size} is not divisible by world_size × grad_accum"
                             f" = {world_size} × {grad_accum}; pick a multiple of {chunks}")
        dataset = data if isinstance(data, IterableDataset) else _Reiterable(data)
        self._data = data
        self._loader = DataLoader(dataset, batch_size=batch_size // chunks, drop_last=True,
                                  collate_fn=collate, num_workers=num_workers, pin_memory=pin_memory,
                                  generator=gen)
        self.epoch = int(data_position["epoch"]) if data_position else 0
        self.batch = 0
        self._start_epoch()
        # fast-forward to where the run stopped
        for _ in range(int(data_position["batch"]) if data_position else 0):
            next(self)

    def __iter__(self) -> MicroBatches:
        return self

    def __next__(self) -> Any:
        if self.sampler is not None:
            return next(self._it)
        try:
            out = next(self._it)
        except StopIteration:
            if self.batch == 0:
                raise ValueError(f"train_data ({type(self._data).__name__}) yielded no full micro-batch "
                                 f"in epoch {self.epoch}; an iterable must yield again each time iter() "
                                 "is called (a generator cannot)") from None
            self.epoch += 1
            self._start_epoch()
            return next(self)
        self.batch += 1
        return out

    def position(self, step: int) -> dict[str, int]:
        """Where the data stands after `step` optimizer steps: epoch and batch within it."""
        if self.sampler is not None:
            epoch, batch = self.sampler.position(step)
            return {"epoch": epoch, "batch": batch}
        return {"epoch": self.epoch, "batch": self.batch}

    def _start_epoch(self) -> None:
        if hasattr(self._data, "set_epoch"):
            self._data.set_epoch(self.epoch)
        self.batch = 0
        self._it = iter(self._loader)


def is_map_style(data: Any) -> bool:
    return (not isinstance(data, IterableDataset) and hasattr(data, "__len__")
            and hasattr(data, "__getitem__"))


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside tuples, lists and dicts to `device`, keeping the containers' types."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


class _Reiterable(IterableDataset):
    """A plain iterable seen as an IterableDataset, so that DataLoader can batch it."""

    def __init__(self, data: Iterable):
        self.data = data

    def __iter__(self) -> Iterator:
        return iter(self.data)
