"""Test helpers that watch the runs a command trains through the Trainer's public step callbacks
(kexue/train/callbacks.py): a real signal after optimizer step k, the steps taken, bit-identity."""
import os
import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from kexue.train import register_step_callback
from kexue.train.callbacks import StepCallbackHandle
from tests.runs import assert_same_run


def signal_after(step: int, signum: int = signal.SIGINT, trainer: int = 0) -> StepCallbackHandle:
    """Until the returned handle is removed (`with signal_after(k): ...`), the `trainer`-th Trainer to
    train (0: the first) gets `signum` when its step `step` is done, before that step's record and
    checkpoint, where a real signal is most likely to arrive."""
    seen: list = []  # the Trainers themselves, not their ids: a finished one freed could lend its id

    def step_then_signal(t, done: int, loss) -> None:
        if not any(s is t for s in seen):
            seen.append(t)
        if done == step and next(i for i, s in enumerate(seen) if s is t) == trainer:
            os.kill(os.getpid(), signum)  # the handler only sets a flag; the Trainer stops after this step

    return register_step_callback(step_then_signal)


@contextmanager
def steps_taken() -> Iterator[list[int]]:
    """Inside the block, the index t (0, 1, ...) of every optimizer step any Trainer takes, in order."""
    taken: list[int] = []
    with register_step_callback(lambda trainer, step, loss: taken.append(step - 1)):
        yield taken


def random_step(steps: int) -> int:
    """A step strictly inside the run, 1 ≤ k < steps, different from test run to test run."""
    return random.SystemRandom().randrange(1, steps)


def assert_identical(whole, cut, steps: list[int]) -> None:
    """Bit for bit: every metric of metrics.jsonl but `seconds`, and every weight."""
    assert_same_run(whole, cut, steps, rel=0, abs=0, w_rtol=0, w_atol=0)
