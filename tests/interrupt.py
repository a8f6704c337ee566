"""Test helper: send a real signal to this process right after optimizer step k of any Trainer run."""
import os
import random
import signal

from kexue.train.loop import Trainer

from tests.runs import assert_same_run


def signal_after(monkeypatch, step: int, signum: int = signal.SIGINT, trainer: int = 0) -> None:
    """From now on (until monkeypatch undoes it) the `trainer`-th Trainer to train (0: the first) gets
    `signum` when its step `step` is done."""
    original = Trainer._train_step
    seen: list[Trainer] = []  # the Trainers themselves, not their ids: a finished one freed could lend its id

    def step_then_signal(self, t):
        out = original(self, t)
        if not any(s is self for s in seen):
            seen.append(self)
        if t + 1 == step and next(i for i, s in enumerate(seen) if s is self) == trainer:
            os.kill(os.getpid(), signum)  # the handler only sets a flag; the Trainer stops after this step
        return out

    monkeypatch.setattr(Trainer, "_train_step", step_then_signal)


def random_step(steps: int) -> int:
    """A step strictly inside the run, 1 ≤ k < steps, different from test run to test run."""
    return random.SystemRandom().randrange(1, steps)


def assert_identical(whole, cut, steps: list[int]) -> None:
    """Bit for bit: every metric of metrics.jsonl but `seconds`, and every weight."""
    assert_same_run(whole, cut, steps, rel=0, abs=0, w_rtol=0, w_atol=0)
