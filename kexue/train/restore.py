"""Restoring a Trainer from its run folder's committed checkpoint (a resume; see loop.py and checkpoint.py).

The weights are strict-loaded, then the optimizer, the gradient scaler and the EMA shadow; with the same
number of processes each rank gets its own random state and metric window back, so the run continues as
if it had never stopped; with another number the random numbers are reseeded (and will differ).
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from kexue.train.checkpoint import STATE_FILE, load_model, load_trainer_state
from kexue.train.ema import EMA
from kexue.train.rng import seed_everything, set_rng_state

if TYPE_CHECKING:
    from kexue.train.loop import Trainer


def restore(trainer: Trainer) -> tuple[int, dict[str, int]]:
    """Load the committed checkpoint of trainer.out_dir into the Trainer: weights, optimizer, scaler, EMA,
    this rank's random state and metric window; returns (step, this rank's data position)."""
    state = load_trainer_state(trainer.out_dir)
    load_model(trainer._model, trainer.out_dir)  # the committed checkpoint's weights (checkpoint.py)
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scaler is not None and state.get("scaler"):
        trainer.scaler.load_state_dict(state["scaler"])
    if trainer.ema is not None:
        if state["ema"] is None:
            warnings.warn(f"{trainer.out_dir / STATE_FILE}: the run had no EMA; the shadow starts at the "
                          f"weights of step {state['step']}", stacklevel=4)
            trainer.ema = EMA(trainer._model, trainer.cfg.ema)
        else:
            trainer.ema.load_state_dict(state["ema"], updates=state["step"])
    if state["world_size"] == trainer.world_size:
        mine = state["ranks"][trainer.rank]
        set_rng_state(mine["rng"])
        trainer._window.load(mine["window"])
    else:
        warnings.warn(f"{trainer.out_dir}: the run used {state['world_size']} process(es), this one "
                      f"{trainer.world_size}; random numbers are reseeded and will differ", stacklevel=4)
        seed_everything(trainer.cfg.seed + trainer.rank + 1_000_003 * state["step"])
        mine = state["ranks"][min(trainer.rank, len(state["ranks"]) - 1)]
    trainer._elapsed_before = state["elapsed"]
    trainer._last_record, trainer._last_eval = dict(state["last_record"]), dict(state["last_eval"])
    trainer.step = state["step"]
    return state["step"], mine["data"]
