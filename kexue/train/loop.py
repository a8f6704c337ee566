"""The one training loop every topic uses: `Trainer(model, cfg, data, loss_fn, out_dir).fit()`.

One optimizer step, for step t = 0, 1, ...:
  1. every parameter group gets lr_t = lr · lr_scale · factor(t)                  (schedule.py)
  2. grad_accum micro-steps: loss_fn(model, batch) under autocast (cfg.precision bf16 or fp16; amp = bf16),
     and backward of loss / grad_accum (times the gradient scaler's factor under fp16), so the gradient
     is that of the mean loss over the whole global batch; under DDP the ranks' gradients are averaged
     once, at the last micro-step
  3. the global gradient norm is clipped to cfg.clip, the optimizer steps, the EMA follows  (ema.py), and
     the step callbacks see the step (callbacks.py: the Trainer's `callbacks`, then the registered ones)
  4. at the log, eval and checkpoint steps: a metrics.jsonl record (window.py; also to cfg.log's logger,
     loggers.py), eval_fn on rank 0 (EMA weights swapped in when EMA is on: keys `eval_ema/...`, else
     `eval/...`) and on_eval, and a checkpoint committed as one unit (checkpoint.py) at ckpt_every steps,
     every ckpt_minutes, and at the end; a loss or weight that is not finite stops the run first
     (diverge.py: TrainingDiverged, exit 1), so diverged weights are never checkpointed.
  5. SIGINT or SIGTERM lets the step under way finish, writes a checkpoint and raises TrainingInterrupted
     naming the step (exit 130 / 143, "continue with --resume"); under torchrun all ranks stop together.
cfg.compile runs loss_fn on torch.compile(model) (checkpoints keep the plain names), cfg.deterministic
switches torch to deterministic algorithms for the run (rng.py), and the run's estimated time is said
after its first steps (estimate.py). While it trains, the process holds out_dir's lock (lock.py).
Resuming (`fit(resume=True)`) continues the run with the settings it was trained with (resume.py).

Choices that differ from common practice:
  - `fit()` seeds python, numpy and torch with cfg.seed + rank, so the same settings give the same
    numbers whatever ran before; the model itself is built (and initialised) by the caller.
  - eval_fn runs with the random state saved and restored around it, so evaluating more or less often
    does not change the training numbers.
  - The `lr` of a record is the base rate lr · factor(t) of the update that made step t + 1.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from kexue.config import to_dict
from kexue.train.batches import MicroBatches, to_device
from kexue.train.callbacks import StepCallback, checked_callbacks, step_callbacks
from kexue.train.checkpoint import (CONFIG_FILE, METRICS_FILE, MODEL_FILE, STATE_FILE, discard_checkpoint,
                                    has_checkpoint, remove_stale_temps, save_checkpoint, write_json)
from kexue.train.distributed import all_reduce_max, all_reduce_sum, barrier, gather_to_all, init_distributed
from kexue.train.diverge import DivergenceWatch, TrainingDiverged  # noqa: F401 (TrainingDiverged: re-exported)
from kexue.train.ema import EMA
from kexue.train.window import MetricWindow
from kexue.train.optim import build_optimizer
from kexue.train.progress import MetricsLog, StepProgress, print_summary
from kexue.train.restore import restore
from kexue.train.rng import deterministic, rng_state, seed_everything, set_rng_state
from kexue.train.estimate import RunEstimate
from kexue.train.interrupt import StopSignals, TrainingInterrupted
from kexue.train.lock import hold, release
from kexue.train.resume import allowed_on_resume, check_resume
from kexue.train.schedule import lr_factor
from kexue.train.settings import TrainConfig

LossFn = Callable[[nn.Module, Any], "Tensor | tuple[Tensor, dict[str, float]]"]


class Trainer:
    """Trains `model` on `train_data` with `loss_fn` for cfg.steps optimizer steps, writing to out_dir.

    train_data is a map-style Dataset, which the Trainer shuffles and shards over ranks itself, or an
    iterable (IterableDataset), of which each rank must yield its own shard (see batches.py); either
    gives examples that collate_fn (default: PyTorch's default_collate) turns into micro-batches.
    loss_fn(model, batch) gets the model (the DDP wrapper under torchrun: call it, it syncs gradients)
    and a batch already on the device, and returns the scalar loss, or (loss, {name: float}) whose
    extra metrics are logged beside it (every rank must return the same names). eval_fn(model) gets
    the unwrapped model on rank 0 and returns {name: float}. count_tokens(batch) -> int, when given,
    adds tokens/s to the summary. callbacks: fn(trainer, step, loss) right after each optimizer step,
    before its record (callbacks.py). on_step(trainer, step) runs once its record and checkpoint are
    written. on_eval(trainer, metrics) is called on rank 0 right after each eval_fn, with the metrics as
    logged (`eval/...` or `eval_ema/...`) and the evaluated weights (the EMA shadow when EMA is on) still
    in trainer.model, e.g. to keep the best of them; a dict it returns is added to that step's record.
    find_unused_parameters is passed to DDP (for models whose forward leaves some parameters out).
    may_change names run_config fields (dotted, e.g. "sample_every") that a resume may change besides
    TrainConfig's MAY_CHANGE_ON_RESUME. time_left(): seconds until the caller's clock cap stops the run.
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, train_data: Dataset | Iterable, loss_fn: LossFn,
                 out_dir: str | Path, *, collate_fn: Callable | None = None,
                 param_groups: Callable[[nn.Module], list[dict]] | None = None,
                 eval_fn: Callable[[nn.Module], dict[str, float]] | None = None, run_config: Any = None,
                 progress: bool = True, print_summary: bool = False, device: str | torch.device | None = None,
                 count_tokens: Callable[[Any], int] | None = None,
                 on_step: Callable[[Trainer, int], None] | None = None,
                 on_eval: Callable[[Trainer, dict[str, float]], dict[str, Any] | None] | None = None,
                 callbacks: Iterable[StepCallback] = (),
                 find_unused_parameters: bool = False, may_change: tuple[str, ...] = (),
                 time_left: Callable[[], float] | None = None):
        cfg.check()
        self.cfg = cfg
        # the device: the argument, else TrainConfig.device, else cuda:LOCAL_RANK or cpu
        self.rank, self.world_size, self.device = init_distributed(
            device if device is not None else None if cfg.device == "auto" else cfg.device)
        self._autocast = torch.bfloat16 if cfg.amp or cfg.precision == "bf16" else (
            torch.float16 if cfg.precision == "fp16" else None)
        if self._autocast is torch.bfloat16 and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"TrainConfig.amp=True: {torch.cuda.get_device_name(self.device)} has no bf16; "
                             "set precision=fp16 (or amp=false)")
        self.is_main = self.rank == 0
        self.out_dir = Path(out_dir)
        self.train_data, self.loss_fn, self.eval_fn = train_data, loss_fn, eval_fn
        self.collate_fn, self.count_tokens, self.on_step, self.on_eval = collate_fn, count_tokens, on_step, on_eval
        self.callbacks: list[StepCallback] = checked_callbacks(callbacks)
        if not (run_config is None or dataclasses.is_dataclass(run_config) or isinstance(run_config, dict)):
            raise TypeError(f"run_config must be a dataclass instance (or a dict), not {type(run_config).__name__}")
        self.run_config, self.progress, self.print_summary = run_config, progress, print_summary
        self._model = model.to(self.device)
        self._ddp: nn.Module | None = None
        if self.world_size > 1:
            self._ddp = DistributedDataParallel(
                self._model, device_ids=[self.device] if self.device.type == "cuda" else None,
                find_unused_parameters=find_unused_parameters)
        # train.compile: torch.compile of what loss_fn calls; checkpoints save self._model, the uncompiled
        # module, so tensor names stay plain (no `_orig_mod.`) and load into an uncompiled model
        forward = self._ddp if self._ddp is not None else self._model
        self._forward = torch.compile(forward) if cfg.compile else forward
        self.optimizer = build_optimizer(self._model, cfg, param_groups)
        self.ema = EMA(self._model, cfg.ema) if cfg.ema is not None else None
        # fp16: the loss is scaled by S before backward and the gradients by 1/S before the update
        self.scaler = torch.amp.GradScaler(self.device.type) if self._autocast is torch.float16 else None
        self.may_change, self.time_left = allowed_on_resume(may_change), time_left
        self.step = 0
        self._stream: MicroBatches | None = None
        self._window = MetricWindow(self.device)
        self._diverged = DivergenceWatch(self.device, self.world_size)
        self._last_record: dict[str, Any] = {}
        self._last_eval: dict[str, float] = {}
        self._elapsed_before = 0.0  # seconds spent by earlier sessions of a resumed run
        self._t0 = time.perf_counter()
        self._stop: StopSignals | None = None

    @property
    def model(self) -> nn.Module:
        """The unwrapped model (not the DDP wrapper)."""
        return self._model

    def fit(self, resume: bool | str = False) -> dict[str, Any]:
        """Train to cfg.steps (from the last checkpoint in out_dir when resume=True); return the summary.

        resume=True with no checkpoint in out_dir is a FileNotFoundError; resume="auto" then starts anew.

        The summary: final_loss (the mean loss of the last record's window), steps, seconds, out_dir,
        checkpoint, resumed_from, world_size, the last eval metrics, tokens_per_s (with count_tokens)
        and metrics (the last metrics.jsonl record).
        """
        cfg = self.cfg
        if resume not in (True, False, "auto"):
            raise ValueError(f"resume={resume!r}: must be True, False or 'auto'")
        if self.world_size > 1:  # ranks that differ in settings (or in resuming) would hang in a collective
            mine = json.dumps([self._config_dict(), bool(resume)], sort_keys=True, default=str)
            if len(set(gather_to_all(mine))) > 1:
                raise ValueError(f"{self.out_dir}: the torchrun ranks were given different settings (or resume "
                                 "flags); every rank must run the same command")
        if self.is_main:  # one writer per folder (lock.py); the command line may hold it already
            hold(self.out_dir)
        try:
            return self._fit(resume)
        finally:
            if self.is_main:
                release(self.out_dir)

    def _fit(self, resume: bool | str) -> dict[str, Any]:
        cfg = self.cfg
        start, position, resumed_from = self._begin(resume)
        log = MetricsLog(self.out_dir / METRICS_FILE, self.is_main, keep_until=resumed_from, logger=cfg.log,
                         config=self._config_dict())
        self._stream = MicroBatches(self.train_data, batch_size=cfg.batch_size, world_size=self.world_size,
                                    rank=self.rank, grad_accum=cfg.grad_accum, seed=cfg.seed, steps=cfg.steps,
                                    start=start, data_position=position, collate_fn=self.collate_fn,
                                    num_workers=cfg.num_workers, pin_memory=self.device.type == "cuda")
        bar = StepProgress(cfg.steps, start, self.is_main and self.progress)
        eta = RunEstimate(cfg.steps, start, self.device.type, time_left=self.time_left)
        self._t0 = self._last_save = time.perf_counter()
        tokens = 0
        self._model.train()
        try:
            with StopSignals() as self._stop, deterministic(cfg.deterministic):
                for t in range(start, cfg.steps):
                    lr, tokens_step, loss = self._train_step(t)
                    tokens += tokens_step
                    self.step = t + 1
                    for fn in step_callbacks(self.callbacks):
                        fn(self, self.step, loss)
                    for line in eta.tick(self.step):  # said with or without a bar (--no-progress)
                        bar.note(line) if bar.enabled else self.is_main and print(line, file=sys.stderr, flush=True)
                    self._after_step(lr, bar, log)
        finally:
            bar.close()
            log.close()
        return self._summary(resumed_from, tokens)

    def _begin(self, resume: bool | str) -> tuple[int, dict[str, int] | None, int | None]:
        """(first step, data position, resumed_from): restore the run in out_dir, or start a new one."""
        cfg = self.cfg
        if self.is_main:
            remove_stale_temps(self.out_dir)
        start, position, resumed_from = 0, None, None
        if resume and has_checkpoint(self.out_dir):
            check_resume(self.out_dir, cfg.steps, self._config_dict(), self.run_config is not None,
                         self.may_change)
            start, position = self._restore()
            resumed_from = start
        else:
            if resume is True:
                raise FileNotFoundError(f"{self.out_dir}: nothing to resume (no {STATE_FILE}); start without "
                                        "--resume, or with --resume auto")
            if self.is_main:  # a new run: a later resume must not pick up an earlier run's state
                discard_checkpoint(self.out_dir)
            seed_everything(cfg.seed + self.rank)
        if self.is_main:
            write_json(self.out_dir / CONFIG_FILE, self._config_dict())
        return start, position, resumed_from

    def _after_step(self, lr: float, bar: StepProgress, log: MetricsLog) -> None:
        """The record, evaluation, checkpoint, hooks and signals after optimizer step self.step."""
        cfg = self.cfg
        last = self.step == cfg.steps
        record: dict[str, Any] = {}
        logged = self.step % cfg.log_every == 0 or last
        evaluated = bool(cfg.eval_every and self.step % cfg.eval_every == 0) or last
        if logged:
            record.update(self._window.flush(lr, cfg.clip is not None))
        if evaluated:
            bar.phase("eval")
            began = time.perf_counter()
            record.update(self._evaluate())
            bar.phase(None)
            if self.eval_fn is not None and time.perf_counter() - began >= 2.0:  # a long phase
                bar.note(f"eval at step {self.step}: {time.perf_counter() - began:.1f} s")
        if record:
            record = {"step": self.step, **record, "seconds": round(self._seconds(), 3)}
            self._last_record = record
            log.write(record)
        saved = bool(cfg.ckpt_every and self.step % cfg.ckpt_every == 0) or last
        if logged or evaluated or saved:  # the same steps on every rank: it all-reduces
            self._stop_if_diverged(record, saving=saved)
        if saved:
            self.save()
        bar.update(self.step, lr, record.get("loss"))
        if self.on_step is not None:
            self.on_step(self, self.step)
        signum, clock_due = self._agree(self._stop.signum)
        if (signum or clock_due) and not saved:
            self._stop_if_diverged({}, saving=True)
            self.save()
        if signum and not last:
            raise TrainingInterrupted(self.step, signum, self.out_dir)

    @property
    def stop_requested(self) -> int:
        """The signal (SIGINT, SIGTERM) that asked this rank to stop, 0 if none: a long on_step hook (sampling
        grids) checks it between its own steps and returns early; the run then stops after this step."""
        return self._stop.signum if self._stop is not None else 0

    def save(self) -> None:
        """Write a checkpoint of the current step to out_dir (every rank must call it; rank 0 writes)."""
        position = self._stream.position(self.step) if self._stream is not None else {"epoch": 0, "batch": 0}
        # what differs between ranks: random state, data position, the not yet all-reduced metric sums
        ranks = gather_to_all({"rng": rng_state(), "data": position, "window": self._window.state()})
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            state = {"step": self.step, "world_size": self.world_size, "ranks": ranks,
                     "optimizer": self.optimizer.state_dict(),
                     "ema": self.ema.state_dict() if self.ema is not None else None,
                     "elapsed": self._seconds(), "last_record": self._last_record, "last_eval": self._last_eval}
            if self.scaler is not None:
                state["scaler"] = self.scaler.state_dict()
            save_checkpoint(self.out_dir, self._model, state, self.ema.state_dict() if self.ema else None,
                            self._config_dict(), keep_last=self.cfg.keep_last)
        self._last_save = time.perf_counter()
        barrier()  # no rank goes on (or exits) before the checkpoint is on disk

    def _stop_if_diverged(self, record: dict[str, Any], saving: bool) -> None:
        """TrainingDiverged (on every rank) when a loss so far or (before a checkpoint) a weight is not finite."""
        self._diverged.check(self.step, record, self._model.parameters() if saving else None, self.out_dir,
                             self.is_main, self.cfg.lr)

    def _agree(self, signum: int) -> tuple[int, bool]:
        """(signal, checkpoint by the clock due) as every rank sees them: the maximum over ranks."""
        minutes = self.cfg.ckpt_minutes
        due = bool(minutes) and time.perf_counter() - self._last_save >= 60.0 * minutes
        if self.world_size == 1:
            return signum, due
        signum_all, due_all = all_reduce_max([float(signum), float(due)], self.device)
        return int(signum_all), bool(due_all)

    # ---- one optimizer step ----

    def _train_step(self, t: int) -> tuple[float, int, Tensor]:
        """Optimizer step t: (the base rate it used, the tokens it counted, its mean loss on the device)."""
        cfg = self.cfg
        factor = lr_factor(cfg, t)
        for group in self.optimizer.param_groups:
            # lr_t = lr · lr_scale · factor(t)
            group["lr"] = cfg.lr * group["lr_scale"] * factor
        forward = self._forward
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        extras: dict[str, float] = {}
        tokens = 0
        for a in range(cfg.grad_accum):
            batch = to_device(next(self._stream), self.device)
            if self.count_tokens is not None:
                tokens += int(self.count_tokens(batch))
            sync = self._ddp is None or a == cfg.grad_accum - 1
            with nullcontext() if sync else self._ddp.no_sync():
                with torch.autocast(self.device.type, dtype=self._autocast or torch.bfloat16,
                                    enabled=self._autocast is not None):
                    out = self.loss_fn(forward, batch)
                loss, metrics = out if isinstance(out, tuple) else (out, {})
                if not isinstance(loss, Tensor) or loss.numel() != 1:
                    raise ValueError(f"loss_fn must return a scalar tensor (or (loss, metrics)); got "
                                     f"{type(loss).__name__} {getattr(loss, 'shape', '')}")
                # ∇ (1/A) Σ_a L_a : the gradient of the mean loss over the global batch
                scaled = loss / cfg.grad_accum
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            loss_sum += loss.detach().double().reshape(())
            for k, v in metrics.items():
                extras[k] = extras.get(k, 0.0) + float(v) / cfg.grad_accum
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # g ← g / S, so clipping sees the true norm
        grad_norm = torch.nn.utils.clip_grad_norm_(self._trainable, cfg.clip) if cfg.clip is not None else None
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skipped when a gradient is inf/NaN; S then shrinks
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self._model)
        loss_mean = loss_sum / cfg.grad_accum
        self._window.add(loss_mean, extras, grad_norm)
        self._diverged.observe(t + 1, loss_sum)  # the first step whose loss is not finite, on the device
        return cfg.lr * factor, tokens, loss_mean

    @property
    def _trainable(self) -> list[nn.Parameter]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    # ---- records ----

    def _evaluate(self) -> dict[str, Any]:
        if self.eval_fn is None or not self.is_main:
            return {}
        saved = rng_state()
        prefix = "eval_ema/" if self.ema is not None else "eval/"
        extra = None
        try:
            with self.ema.applied(self._model) if self.ema is not None else nullcontext():
                out = self.eval_fn(self._model)
                if not isinstance(out, dict):
                    raise TypeError(f"eval_fn must return a dict of name → float; got {type(out).__name__}")
                # a rate with nothing behind it (precision with nothing predicted) stays None: "n/a"
                self._last_eval = {prefix + k: None if v is None else float(v) for k, v in out.items()}
                if self.on_eval is not None:  # while the evaluated weights are still in the model
                    extra = self.on_eval(self, dict(self._last_eval))
        finally:
            set_rng_state(saved)
            self._model.train()
        return {**self._last_eval, **(extra or {})}

    def _seconds(self) -> float:
        return self._elapsed_before + time.perf_counter() - self._t0

    def _config_dict(self) -> dict[str, Any]:
        train = to_dict(self.cfg)
        if self.run_config is None:
            return train
        run = self.run_config if isinstance(self.run_config, dict) else to_dict(self.run_config)
        return {"run": run, "train": train}

    # ---- resume and summary ----

    def _restore(self) -> tuple[int, dict[str, int]]:
        return restore(self)

    def _summary(self, resumed_from: int | None, tokens: int) -> dict[str, Any]:
        session = time.perf_counter() - self._t0
        tokens = int(all_reduce_sum(float(tokens), self.device)) if self.count_tokens is not None else 0
        summary: dict[str, Any] = {
            "final_loss": self._last_record.get("loss"), "steps": self.step, "seconds": self._seconds(),
            "out_dir": str(self.out_dir), "checkpoint": str(self.out_dir / MODEL_FILE),
            "resumed_from": resumed_from, "world_size": self.world_size, "rank": self.rank, **self._last_eval,
            "metrics": dict(self._last_record)}
        if self.count_tokens is not None:
            summary["tokens_per_s"] = tokens / session if session > 0 else None
        if self.print_summary and self.is_main:
            print_summary(summary)
        return summary

