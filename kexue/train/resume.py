"""What a resumed run may change: the check that the run in a folder is the one these settings describe.

A resume continues the run with the settings it was trained with. `check_resume` compares the settings
of this session (the TrainConfig, and the caller's run_config beside it) with the run's config.json:
anything but TrainConfig's MAY_CHANGE_ON_RESUME (steps, log/eval/checkpoint frequency, workers, device,
log) and the fields a caller names (`may_change`, or `may_change_on_resume("sample_every")` around a
Trainer built deep inside a topic function) must be equal, and the run must not be past cfg.steps.
Both are ValueErrors naming the file and what to drop.
"""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kexue.train.checkpoint import CONFIG_FILE, checkpoint_step, read_json
from kexue.train.settings import MAY_CHANGE_ON_RESUME

_MAY_CHANGE: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("may_change", default=())


@contextmanager
def may_change_on_resume(*names: str) -> Iterator[None]:
    """Within the block, a resumed Trainer also lets these run_config fields differ (e.g. "sample_every"):
    for a caller that builds the Trainer deep inside a topic function."""
    token = _MAY_CHANGE.set(_MAY_CHANGE.get() + names)
    try:
        yield
    finally:
        _MAY_CHANGE.reset(token)


def allowed_on_resume(may_change: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The run_config fields a resume may change: the caller's and those of any enclosing
    `may_change_on_resume` block."""
    return tuple(may_change) + _MAY_CHANGE.get()


def check_resume(out_dir: Path, steps: int, config: dict[str, Any], has_run_config: bool,
                 may_change: tuple[str, ...] = ()) -> None:
    """The run in out_dir must be the one `config` (the Trainer's config.json dict) describes, and not
    past `steps`. has_run_config: config is {"run": ..., "train": ...}, else the TrainConfig itself."""
    step = checkpoint_step(out_dir)  # the weights' metadata: the optimizer state is read once, by the Trainer
    if step is not None and step > steps:
        raise ValueError(f"{out_dir}: the run is at step {step}, past train.steps={steps}; resume with "
                         f"train.steps ≥ {step}")
    file = out_dir / CONFIG_FILE
    if not file.is_file():
        return
    saved, now = flatten(read_json(file)), flatten(config)
    allowed = {f"train.{k}" for k in MAY_CHANGE_ON_RESUME} | {f"run.{k}" for k in may_change}
    if not has_run_config:  # config.json is the TrainConfig itself
        allowed |= set(MAY_CHANGE_ON_RESUME)
    differ = [k for k in now if k in saved and saved[k] != now[k]
              and not any(k == a or k.endswith("." + a) for a in allowed)]
    if differ:
        shown = "; ".join(f"{k} = {now[k]!r}, the run's {saved[k]!r}" for k in differ[:4])
        raise ValueError(f"{file}: resuming with settings the run was not trained with: {shown}; drop them "
                         f"(a resume keeps the run's settings; only {', '.join(MAY_CHANGE_ON_RESUME)}"
                         f"{''.join(', ' + k for k in may_change)} may change)")


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}: the settings of a config.json as dotted keys."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, dict) and v and k != "piecewise" else {key: v})
    return out
