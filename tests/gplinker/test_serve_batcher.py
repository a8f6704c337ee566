"""MicroBatcher in one process: which requests share a forward pass, and that each caller gets its own slice."""
import asyncio
import threading

import pytest

from kexue.gplinker.batcher import MicroBatcher


class Recorder:
    """A forward pass that records its batches and answers each text with (text, pass number)."""

    def __init__(self, gate: threading.Event | None = None):
        self.batches: list[list[str]] = []
        self.gate = gate

    def __call__(self, texts: list[str]) -> list:
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append(list(texts))
        return [(t, len(self.batches)) for t in texts]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def _concurrent(b: MicroBatcher, requests: list[list[str]]) -> list:
    await b.start()
    try:
        return await asyncio.gather(*(b.submit(r) for r in requests))
    finally:
        await b.stop()


def test_requests_within_the_wait_share_one_pass_and_each_gets_its_own_answers():
    fn = Recorder()
    requests = [[f"r{k}a", f"r{k}b"] if k % 2 else [f"r{k}"] for k in range(8)]
    replies = run(_concurrent(MicroBatcher(fn, max_batch=32, max_wait_s=0.05), requests))
    assert fn.batches == [[t for r in requests for t in r]]
    assert replies == [[(t, 1) for t in r] for r in requests]


def test_off_is_one_pass_per_request():
    fn = Recorder()
    requests = [[f"t{k}"] for k in range(6)]
    b = MicroBatcher(fn, max_batch=32, max_wait_s=0.05, enabled=False)
    replies = run(_concurrent(b, requests))
    assert fn.batches == requests and b.stats.forward_passes == 6
    assert [r[0][0] for r in replies] == [r[0] for r in requests]


def test_max_batch_bounds_a_pass_and_never_splits_a_request():
    fn = Recorder()
    requests = [["a"], ["b", "c"], ["d", "e", "f"], ["g"], ["h" + str(k) for k in range(6)], ["i"]]
    b = MicroBatcher(fn, max_batch=4, max_wait_s=0.05)
    replies = run(_concurrent(b, requests))
    assert [t for batch in fn.batches for t in batch] == [t for r in requests for t in r]  # order kept
    for batch in fn.batches:
        assert len(batch) <= 4 or batch == requests[4]  # a request over max_batch runs alone
    for r, reply in zip(requests, replies):
        assert [t for t, _ in reply] == r and len({p for _, p in reply}) == 1  # one request, one pass
    assert b.stats.largest_batch == 6 and b.stats.requests == len(requests)


def test_a_request_after_the_wait_goes_to_the_next_pass():
    fn = Recorder()

    async def main():
        b = MicroBatcher(fn, max_batch=32, max_wait_s=0.02)
        await b.start()
        first = asyncio.ensure_future(b.submit(["early"]))
        await asyncio.sleep(0.3)
        second = await b.submit(["late"])
        await b.stop()
        return await first, second

    assert run(main()) == ([("early", 1)], [("late", 2)])


def test_a_caller_that_gave_up_is_dropped_before_its_pass():
    gate = threading.Event()
    fn = Recorder(gate)

    async def main():
        b = MicroBatcher(fn, max_batch=32, max_wait_s=0.0)
        await b.start()
        busy = asyncio.ensure_future(b.submit(["busy"]))
        await asyncio.sleep(0.1)  # the first pass is running (held by the gate)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(b.submit(["gave up"]), 0.05)
        gate.set()
        assert await busy == [("busy", 1)]
        assert await b.submit(["next"]) == [("next", 2)]
        await b.stop()
        return b.stats

    stats = run(main())
    assert fn.batches == [["busy"], ["next"]] and stats.dropped == 1


def test_a_failed_pass_reaches_every_caller_of_its_batch():
    def broken(texts):
        raise RuntimeError(f"out of memory on {len(texts)} texts")

    async def main():
        b = MicroBatcher(broken, max_batch=32, max_wait_s=0.05)
        await b.start()
        out = await asyncio.gather(b.submit(["a"]), b.submit(["b", "c"]), return_exceptions=True)
        await b.stop()
        return out

    out = run(main())
    assert all(isinstance(e, RuntimeError) and "on 3 texts" in str(e) for e in out)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_batch=0"):
        MicroBatcher(Recorder(), max_batch=0)


def test_a_batch_holding_every_request_in_flight_does_not_wait():
    async def main(in_flight):
        fn = Recorder()
        b = MicroBatcher(fn, max_batch=32, max_wait_s=1.0, in_flight=in_flight)
        await b.start()
        first = asyncio.ensure_future(b.submit(["alone"]))
        await asyncio.sleep(0.2)
        second = await b.submit(["later"])
        out = await first, second
        await b.stop()
        return fn.batches, out

    # the server holds one request at a time: each runs at once, in its own pass
    assert run(main(lambda: 1)) == ([["alone"], ["later"]], ([("alone", 1)], [("later", 2)]))
    # told nothing (or that more are coming), the first waits up to max_wait_s and the second joins it
    assert run(main(None))[0] == [["alone", "later"]]
    assert run(main(lambda: 2))[0] == [["alone", "later"]]
