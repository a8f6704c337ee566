"""The autophagous loop engine, shared by every model family.

kexue.fm/archives/9687 and Alemohammad et al. 2023, Sec. 2. Generation t fits a model G_t from scratch
on its training set D_t, then samples the next generation's synthetic data with bias λ:
- `synthetic` (fully synthetic): D_1 = n_ini real points; D_t = n_s points of G_{t−1}.
- `augment` (synthetic augmentation): the same fixed real set (G_1's n_ini points) every generation
  plus n_s points of G_{t−1}; with `accumulate` the synthetic pool keeps every earlier generation's
  samples too (the paper's StyleGAN variant).
- `fresh` (fresh data): n_r new real points every generation plus n_s synthetic points, split evenly
  over the K previous models (the paper's App. G; K = 1 is the main text).

A family (`GaussianFamily`, `GMMFamily`, `DiffusionFamily`) supplies real(n, rng), synth(model, n, rng),
pool(parts), fit(data) and measure(model, t); data and models are dicts of tensors. Every row of the
batch axis is one loop: the rows are λ-major, row = i_λ · seeds + seed. One numpy Generator drives
all randomness, so a run is a pure function of its settings and `seed`.

Every generation appends one line per λ to `metrics.jsonl` (per-seed lists; the logger `log` names, if
any, gets each metric's median per λ) and, every
`checkpoint_every` generations, atomically rewrites `state.safetensors` (the last K models, the fixed
real set, the pool, the generator's state); `resume=True` continues from it, drops metric lines past
it, and ends with exactly the numbers of an unbroken run. With a folder and `interruptible` (what
`kexue mad run` asks for), SIGINT/SIGTERM only set a flag:
the generation in progress finishes, the state is written and `LoopInterrupted` ("interrupted at
generation t; continue with --resume", exit 130/143 under the CLI) is raised; a second signal stops at
once (the last checkpoint stays whole). A signal caught by a family's own trainer (the diffusion family)
ends the loop the same way, at the last checkpoint.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from kexue.config import to_dict
from kexue.runs.settings import read_settings, write_settings
from kexue.train.interrupt import StopSignals, TrainingInterrupted
from kexue.train.loggers import Logger, NoLogger, make_logger



@dataclass
class LoopConfig:
    loop: str = "fresh"  # synthetic | augment | fresh
    lams: tuple[float, ...] = (1.0, 0.8)  # sampling biases λ ∈ (0, 1]; the paper's Gaussian fresh loop
    generations: int = 50  # the paper's Gaussian fresh loop runs about 50
    seeds: int = 10  # independent loops per λ
    n_ini: int = 100  # real points of G_1 (the fixed real set of `augment`)
    n_r: int = 100  # fresh real points per generation (`fresh`)
    n_s: int = 900  # synthetic points per generation
    accumulate: bool = False  # `augment`: keep every past generation's synthetic points in the pool
    K: int = 1  # `fresh`: the synthetic points come from the K previous models
    seed: int = 0

    def check(self, min_points: int, min_ini: int | None = None) -> None:
        """One ValueError naming the first bad setting; `min_points` is the family's minimum set size
        per generation, `min_ini` G_1's (default the same)."""
        min_ini = min_points if min_ini is None else min_ini
        kind = get_loop(self.loop)
        if not self.lams:
            raise ValueError("lams: give at least one λ, e.g. --lam 1,0.8")
        for lam in self.lams:
            if not 0 < lam <= 1:
                raise ValueError(f"lam = {lam:g}: the sampling bias λ must lie in (0, 1] (1 = unbiased)")
        for name in ("generations", "seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: must be ≥ 1")
        if self.n_ini < min_ini:
            raise ValueError(f"n_ini = {self.n_ini}: G_1 needs at least {min_ini} real points")
        if not kind.real_after_first and self.n_s < min_points:
            raise ValueError(f"n_s = {self.n_s}: the fully synthetic loop fits each model on n_s points, "
                             f"which needs n_s ≥ {min_points}")
        if kind.keeps_real and self.n_r != self.n_ini:
            raise ValueError(f"n_r = {self.n_r}: in the augment loop the fixed real set is G_1's n_ini = "
                             f"{self.n_ini} points; set n_r = n_ini")
        if kind.fresh_real and self.n_r < 1:
            raise ValueError(f"n_r = {self.n_r}: the fresh loop needs n_r ≥ 1 real points per generation "
                             "(n_r = 0 is the synthetic loop)")
        if kind.real_after_first and self.n_r + self.n_s < min_ini:
            raise ValueError(f"n_r + n_s = {self.n_r + self.n_s}: each generation needs at least {min_ini} points")
        if self.n_s < 0 or self.n_r < 0:
            raise ValueError(f"n_s = {self.n_s}, n_r = {self.n_r}: counts must be ≥ 0")
        if self.K < 1 or (self.K > 1 and not kind.fresh_real):
            raise ValueError(f"K = {self.K}: K ≥ 1, and K > 1 only in the fresh loop")
        if self.n_s < self.K and self.n_s > 0:
            raise ValueError(f"n_s = {self.n_s} < K = {self.K}: each of the K previous models gives at least one point")

    @property
    def kind(self) -> Loop:
        """The Loop named by `loop` (its rule for the next generation's data)."""
        return get_loop(self.loop)

    def lam_rows(self) -> Tensor:
        """λ of every row of the batch, λ-major: [len(lams) · seeds]."""
        return torch.tensor(self.lams, dtype=torch.float64).repeat_interleave(self.seeds)


class Family(Protocol):
    name: str
    min_points: int  # the fewest points of a fully synthetic generation (min_ini, optional: of G_1 and a
    #                  generation with real data, when fewer suffice)

    def real(self, n: int, rng: np.random.Generator) -> dict[str, Tensor]: ...
    def synth(self, model: dict[str, Tensor], n: int, rng: np.random.Generator) -> dict[str, Tensor]: ...
    def pool(self, parts: list[dict[str, Tensor]]) -> dict[str, Tensor]: ...
    def fit(self, data: dict[str, Tensor]) -> dict[str, Tensor]: ...
    def measure(self, model: dict[str, Tensor], generation: int) -> dict[str, Tensor]: ...


@dataclass
class LoopResult:
    """history[name] is [generations, B] (NaN where not measured); rows are λ-major."""

    cfg: LoopConfig
    history: dict[str, np.ndarray]
    models: list[dict[str, Tensor]]  # the last K models

    def per_lam(self, name: str, lam: float) -> np.ndarray:
        """[generations, seeds] of one metric at one λ."""
        i = self.cfg.lams.index(lam)
        return self.history[name][:, i * self.cfg.seeds:(i + 1) * self.cfg.seeds]


def run_loop(family: Family, cfg: LoopConfig, out_dir: str | Path | None = None, resume: bool = False,
             checkpoint_every: int = 1, extra_config: dict[str, Any] | None = None,
             on_generation: Callable[[int, dict[str, np.ndarray]], None] | None = None,
             interruptible: bool = False, log: str = "jsonl") -> LoopResult:
    """Run `cfg.generations` generations of the loop on `family`; see the module docstring (`interruptible`:
    the stop-at-a-generation handling of SIGINT/SIGTERM, for a command that can be resumed; `log`: a logger
    of kexue/train/loggers.py that gets each generation's median per λ besides metrics.jsonl)."""
    cfg.check(family.min_points, getattr(family, "min_ini", None))
    rng = np.random.default_rng(cfg.seed)
    out = Path(out_dir) if out_dir is not None else None
    config = {"loop": to_dict(cfg), "family": family.name, **(extra_config or {})}
    t, models, real_fixed, pool, lines = _begin(out, config, resume, rng)
    history = _history_from_lines(lines, cfg)
    saved = t
    logger = make_logger(log, out, out is not None, t if t else None, config) if out is not None else NoLogger()
    with StopSignals(active=interruptible and out is not None) as stop:
        try:
            while t < cfg.generations:
                t += 1
                try:
                    if t == 1:
                        data = family.real(cfg.n_ini, rng)
                        if cfg.kind.keeps_real:
                            real_fixed = data
                    else:
                        data, pool = cfg.kind.next_data(family, cfg, models, real_fixed, pool, rng)
                    model = family.fit(data)
                except TrainingInterrupted as e:  # a family's trainer caught the signal: stop at the last checkpoint
                    if isinstance(e, LoopInterrupted) or not stop.active:
                        raise
                    raise LoopInterrupted(saved, e.signum, out) from None
                models = (models + [model])[-cfg.K:]
                measured = {k: np.asarray(v, dtype=float) for k, v in family.measure(model, t).items()}
                lines += _lines(t, measured, cfg)
                for name, v in measured.items():
                    history.setdefault(name, np.full((cfg.generations, len(v)), np.nan))[t - 1] = v
                if out is not None:
                    _record(out, lines[-len(cfg.lams):], logger)
                    if t % checkpoint_every == 0 or t == cfg.generations or stop.signum:
                        _save_state(out / "state.safetensors", t, models, real_fixed, pool, rng)
                        saved = t
                if on_generation:
                    on_generation(t, measured)
                if stop.signum and t < cfg.generations:
                    raise LoopInterrupted(t, stop.signum, out)
        finally:
            logger.close()
    return LoopResult(cfg, history, models)


def _begin(out: Path | None, config: dict, resume: bool, rng: np.random.Generator) -> tuple:
    """(generation, models, fixed real set, pool, metric lines) to start from: the state in `out` on a
    resume (its settings must match but for what a resume may change), else nothing; writes the settings."""
    t, models, real_fixed, pool, lines = 0, [], None, None, []
    if out is None:
        return t, models, real_fixed, pool, lines
    out.mkdir(parents=True, exist_ok=True)
    if resume and (out / "state.safetensors").exists():
        saved = read_settings(out, whole=True)
        if _without_generations(saved) != _without_generations(json.loads(json.dumps(config))):
            raise ValueError(f"{out}/config.json: the run there has other settings than this one; "
                             "resume with the same settings or use a new --out")
        t, models, real_fixed, pool = _load_state(out / "state.safetensors", rng)
        lines = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines() if s.strip()]
        lines = [r for r in lines if r["generation"] <= t]
    write_settings(out, config.get("run"), **{k: v for k, v in config.items() if k != "run"})
    _write_lines(out / "metrics.jsonl", lines)
    return t, models, real_fixed, pool, lines


def _record(out: Path, new: list[dict], logger: Logger) -> None:
    """A generation's lines (one per λ) appended to metrics.jsonl; the logger gets its median over seeds of
    each metric per λ, as `metric/lam=λ` at step t."""
    with open(out / "metrics.jsonl", "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in new)
    record: dict[str, Any] = {"step": new[0]["generation"]}
    for r in new:
        record.update({f"{k}/lam={r['lam']:g}": float(np.median(v)) for k, v in r.items()
                       if k not in ("generation", "lam")})
    logger.write(record)


def has_state(out: Path) -> bool:
    """Whether `out` holds a loop's state to resume from (for kexue.runs.open_run)."""
    return (Path(out) / "state.safetensors").is_file()


class LoopInterrupted(TrainingInterrupted):
    """SIGINT/SIGTERM stopped a loop after `generation`, whose state is written; exit_code = 128 + signal."""

    def __init__(self, generation: int, signum: int, out_dir: Path | None):
        super().__init__(generation, signum, out_dir, unit="generation")
        self.generation = generation


def _without_generations(config: dict) -> dict:
    """A run may be resumed with more (or fewer) generations, another checkpoint frequency, device or logger
    (train.device, train.log, as a Trainer's run may); every other setting must match. A run of before
    `train` trained at fp32."""
    out = {**config, "loop": {k: v for k, v in config["loop"].items() if k != "generations"}}
    if isinstance(config.get("run"), dict):  # the full settings `kexue mad run --config` can read back
        run = config["run"]
        out["run"] = {**{k: v for k, v in run.items() if k != "checkpoint_every"},
                      "loop": {k: v for k, v in run.get("loop", {}).items() if k != "generations"},
                      "train": {"precision": (run.get("train") or {}).get("precision", "fp32")}}
    return out


def _synthetic_data(family: Family, cfg: LoopConfig, models: list, real_fixed, pool, rng):
    """Fully synthetic: D_t = n_s points of G_{t−1}."""
    return family.synth(models[-1], cfg.n_s, rng), pool


def _augment_data(family: Family, cfg: LoopConfig, models: list, real_fixed, pool, rng):
    """Synthetic augmentation: the fixed real set plus n_s points of G_{t−1} (or the accumulated pool)."""
    fresh = family.synth(models[-1], cfg.n_s, rng)
    if cfg.accumulate:
        pool = fresh if pool is None else family.pool([pool, fresh])
        return family.pool([real_fixed, pool]), pool
    return family.pool([real_fixed, fresh]), pool


def _fresh_data(family: Family, cfg: LoopConfig, models: list, real_fixed, pool, rng):
    """Fresh data: n_r new real points, n_s synthetic split over the last K models (the remainder to the newest)."""
    k = len(models)
    counts = [cfg.n_s // k] * k
    counts[-1] += cfg.n_s - sum(counts)
    parts = [family.real(cfg.n_r, rng)] + [family.synth(m, c, rng) for m, c in zip(models, counts) if c > 0]
    return family.pool(parts), pool


@dataclass(frozen=True)
class Loop:
    """What one of the three loops does differently: its rule for D_t (t ≥ 2) and the real data it uses
    after G_1 (`keeps_real`: augment's fixed real set, G_1's; `fresh_real`: fresh's n_r new points a
    generation, with the synthetic points from the K previous models). exact.py's moments read the same."""
    name: str
    next_data: Callable[..., tuple]  # (family, cfg, models, real_fixed, pool, rng) → (D_t, pool)
    keeps_real: bool = False
    fresh_real: bool = False

    @property
    def real_after_first(self) -> bool:
        """Whether generations after the first see real data (every loop but the fully synthetic one)."""
        return self.keeps_real or self.fresh_real


LOOPS = {"synthetic": Loop("synthetic", _synthetic_data), "augment": Loop("augment", _augment_data, keeps_real=True),
         "fresh": Loop("fresh", _fresh_data, fresh_real=True)}


def get_loop(name: str) -> Loop:
    """The loop called `name`; one line naming the choices otherwise."""
    if name not in LOOPS:
        raise ValueError(f"loop = {name!r}: choose one of {', '.join(LOOPS)}")
    return LOOPS[name]


def _lines(t: int, measured: dict[str, np.ndarray], cfg: LoopConfig) -> list[dict]:
    rows = []
    for i, lam in enumerate(cfg.lams):
        sl = slice(i * cfg.seeds, (i + 1) * cfg.seeds)
        rows.append({"generation": t, "lam": lam, **{k: [float(x) for x in v[sl]] for k, v in measured.items()}})
    return rows


def _history_from_lines(lines: list[dict], cfg: LoopConfig) -> dict[str, np.ndarray]:
    history: dict[str, np.ndarray] = {}
    for r in lines:
        i = cfg.lams.index(r["lam"])
        for k, v in r.items():
            if k in ("generation", "lam"):
                continue
            h = history.setdefault(k, np.full((cfg.generations, len(cfg.lams) * cfg.seeds), np.nan))
            h[r["generation"] - 1, i * cfg.seeds:(i + 1) * cfg.seeds] = v
    return history


def _write_lines(path: Path, lines: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in lines))
    os.replace(tmp, path)


def _save_state(path: Path, t: int, models: list, real_fixed, pool, rng: np.random.Generator) -> None:
    tensors = {f"model{i}.{k}": v.clone().contiguous() for i, m in enumerate(models) for k, v in m.items()}
    for prefix, d in (("real", real_fixed), ("pool", pool)):
        tensors.update({f"{prefix}.{k}": v.clone().contiguous() for k, v in (d or {}).items()})
    meta = {"generation": str(t), "models": str(len(models)), "rng": json.dumps(rng.bit_generator.state)}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)  # a run killed here keeps the previous state whole


def _load_state(path: Path, rng: np.random.Generator):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    rng.bit_generator.state = json.loads(meta["rng"])

    def group(prefix: str) -> dict[str, Tensor] | None:
        d = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        return d or None

    models = [group(f"model{i}") for i in range(int(meta["models"]))]
    return int(meta["generation"]), models, group("real"), group("pool")
