"""Dynamic micro-batching: requests that arrive within a few milliseconds share one forward pass.

Not from the posts (they predict offline, one script); this is what a GPLinker service needs so that
32 concurrent callers do not queue for 32 forward passes. The first request of a batch waits at most
`max_wait_s` (counted from its arrival) for others, until the batch holds `max_batch` texts; a
request is never split, and one larger than `max_batch` runs alone. The forward pass runs on one
worker thread (off the event loop; torch releases the GIL in its kernels), so the loop keeps reading
requests while the model works, and the next batch forms meanwhile. Each caller's future gets its own
slice of the results, or the exception of the pass. A caller that stopped waiting (its request timed
out) is dropped from a batch that has not started yet. With `enabled=False` every request is its own
forward pass, one at a time: the baseline of benchmarks/serve.py.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Item:
    texts: list[str]
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    forward_passes: int = 0
    requests: int = 0
    texts: int = 0
    largest_batch: int = 0  # texts in the largest forward pass
    dropped: int = 0  # requests that timed out before their pass started


class MicroBatcher:
    """`await batcher.submit(texts)` → `fn(texts)`'s results for those texts, batched with other callers'."""

    def __init__(self, fn: Callable[[list[str]], list[Any]], max_batch: int = 32, max_wait_s: float = 0.005,
                 enabled: bool = True, in_flight: Callable[[], int] | None = None):
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(f"MicroBatcher: max_batch={max_batch} must be ≥ 1 and max_wait_s={max_wait_s} ≥ 0")
        self.fn, self.max_batch, self.max_wait_s, self.enabled = fn, max_batch, max_wait_s, enabled
        # the server's count of requests it holds (queued here or still arriving): no one else to wait for
        # when the batch already has them all
        self.in_flight = in_flight
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._carry: _Item | None = None  # a request that did not fit the last batch: first of the next

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kexue-forward")
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Finish what is queued, then stop (the server calls this after its last request)."""
        if self._task is None:
            return
        while not self._queue.empty() or self._carry is not None:
            await asyncio.sleep(0.01)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._executor.shutdown(wait=True)
        self._task = None

    async def submit(self, texts: list[str]) -> list[Any]:
        if not self.running:
            raise RuntimeError("the micro-batcher is not running (the server is starting or stopping)")
        item = _Item(list(texts), asyncio.get_running_loop().create_future())
        await self._queue.put(item)
        return await item.future

    async def _next_batch(self) -> list[_Item]:
        first = self._carry or await self._queue.get()
        self._carry = None
        group, size = [first], len(first.texts)
        if not self.enabled:
            return group
        # wait for others until max_batch texts or max_wait after the first one arrived
        deadline = first.arrived + self.max_wait_s
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - time.monotonic()
                if left <= 0 or (self.in_flight is not None and self.in_flight() <= len(group)):
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except asyncio.TimeoutError:
                    break
            if size + len(item.texts) > self.max_batch:
                self._carry = item
                break
            group.append(item)
            size += len(item.texts)
        return group

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = await self._next_batch()
            live = [g for g in group if not g.future.done()]  # a caller that timed out cancelled its future
            self.stats.dropped += len(group) - len(live)
            if not live:
                continue
            texts = [t for g in live for t in g.texts]
            try:
                results = await loop.run_in_executor(self._executor, self.fn, texts)
            except Exception as e:  # the pass failed: every caller of the batch hears why
                for g in live:
                    if not g.future.done():
                        g.future.set_exception(e)
                continue
            self.stats.forward_passes += 1
            self.stats.requests += len(live)
            self.stats.texts += len(texts)
            self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
            at = 0
            for g in live:
                if not g.future.done():
                    g.future.set_result(results[at:at + len(g.texts)])
                at += len(g.texts)
