"""Step callbacks: the public point where code outside the Trainer sees each optimizer step.

A step callback is `fn(trainer, step, loss)`, called right after optimizer step `step` (1, 2, ...: the
steps done so far, `trainer.step`), before that step's metrics record, evaluation, checkpoint and the
Trainer's `on_step` hook, as Hugging Face's `TrainerCallback.on_step_end` is. `loss` is the step's mean
loss over this rank's micro-batches, a detached 0-dim float64 tensor on the device (`float(loss)` waits for the
device; the Trainer itself does not). A callback may raise to stop the run there (nothing of that step is
saved), or send a signal (SIGINT, SIGTERM), after which the Trainer checkpoints the step and stops as it
does for a real one (kexue/train/interrupt.py).

Two ways to give them:
- `Trainer(..., callbacks=[fn, ...])` for a Trainer you build;
- `register_step_callback(fn)` for every Trainer of the process that steps while it is registered: for
  the runs a command builds itself (a profiler, a progress watcher, a test that interrupts a run at step
  k), as `torch.nn.modules.module.register_module_forward_hook` does for modules. It returns a handle
  whose `remove()` (or the end of a `with` block) unregisters it. The registry is the training loop's one
  process-wide state; it holds nothing between runs but what was registered.

Callbacks do not touch the random state or the data order: the same run with or without them gives the
same numbers, and a resumed run continues bit for bit.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

    from kexue.train.loop import Trainer

StepCallback = Callable[["Trainer", int, "Tensor"], Any]  # (trainer, step, loss) after optimizer step `step`

_REGISTERED: list[StepCallback] = []  # register_step_callback's, in the order registered


class StepCallbackHandle:
    """The handle of a registered step callback: `remove()` it, or use it as a context manager."""

    def __init__(self, fn: StepCallback):
        self.fn = fn

    def remove(self) -> None:
        """Unregister the callback (a second remove does nothing)."""
        for i, f in enumerate(_REGISTERED):
            if f is self.fn:
                del _REGISTERED[i]
                return

    def __enter__(self) -> StepCallbackHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register_step_callback(fn: StepCallback) -> StepCallbackHandle:
    """Call `fn(trainer, step, loss)` after every optimizer step of every Trainer in this process, after the
    Trainer's own `callbacks`, until the returned handle is removed."""
    _REGISTERED.extend(checked_callbacks([fn]))
    return StepCallbackHandle(fn)


def checked_callbacks(fns) -> list[StepCallback]:
    """The callbacks as a list; a TypeError naming the first that is not a function."""
    fns = list(fns)
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"a step callback is a function (trainer, step, loss); got {type(fn).__name__}")
    return fns


def step_callbacks(own: list[StepCallback]) -> list[StepCallback]:
    """The callbacks a Trainer calls after a step: its own, then the registered ones (as registered now)."""
    return [*own, *_REGISTERED]
