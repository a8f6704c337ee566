"""Checkpoints: atomic writes, strict loading, and the trainer's state as plain data.

A run directory holds
  model.safetensors   the weights (what `load_model(model, run_dir)` reads)
  ema.safetensors     the EMA shadow θ̄, when EMA is on (`load_model(model, run_dir, ema=True)`)
  config.json         the resolved settings of the run
  trainer_state.pt    optimizer, step, EMA shadow, and per rank: RNG states, data position, metric window
  metrics.jsonl       one JSON object per logged step (written by the Trainer)

Every file is written to a temporary file beside it, flushed to disk and moved into place with
`os.replace`, so a reader sees the old file or the new one, never half of one. A checkpoint writes all
its temporary files first and then renames them in a row (trainer_state.pt last); the weights carry
their step in the safetensors metadata, and a resume checks it against trainer_state.pt.

Tensors that share memory (tied weights, e.g. an LM head tied to the embeddings) are stored once;
the other names are kept as aliases in the file's metadata and restored on load.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "trainer_state.pt"
METRICS_FILE = "metrics.jsonl"
TEMP_MARK = ".tmp-"  # temporary files are named .<name>.tmp-<pid>


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on any error it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def remove_stale_temps(directory: str | Path) -> None:
    """Delete temporary files left by a process that was killed while writing."""
    for p in Path(directory).glob(f".*{TEMP_MARK}*"):
        p.unlink(missing_ok=True)


def save_model(model: nn.Module | dict[str, Tensor], path: str | Path,
               metadata: dict[str, str] | None = None) -> Path:
    """Write the model's state dict (or a state dict) to `path` as safetensors, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        _write_safetensors(model, tmp, metadata)
    return path


def load_model(model: nn.Module, path: str | Path, *, ema: bool = False) -> nn.Module:
    """Load weights strictly into `model` from a run directory or a .safetensors file.

    A missing, unexpected or mis-shaped tensor is a ValueError that names each of them and the file.
    """
    file = resolve_weights(path, ema=ema)
    tensors, _ = read_safetensors(file)
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    misshaped = [f"{k} (file {list(tensors[k].shape)}, model {list(v.shape)})"
                 for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or misshaped:
        problems = []
        if missing:
            problems.append(f"missing tensor(s) {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected tensor(s) {', '.join(unexpected)}")
        if misshaped:
            problems.append(f"mis-shaped tensor(s) {', '.join(misshaped)}")
        raise ValueError(f"{file}: does not fit {type(model).__name__}: {'; '.join(problems)} "
                         "(was it saved from another model or config?)")
    model.load_state_dict(tensors, strict=True)
    return model


def resolve_weights(path: str | Path, *, ema: bool = False) -> Path:
    """The .safetensors file meant by `path`: the file itself, or model/ema.safetensors of a run dir."""
    path = Path(path)
    if path.is_dir():
        file = path / (EMA_FILE if ema else MODEL_FILE)
        if not file.exists():
            if ema and (path / MODEL_FILE).exists():
                raise FileNotFoundError(f"{path}: no {EMA_FILE}; this run trained without EMA "
                                        "(TrainConfig.ema=None); load it with ema=False")
            raise FileNotFoundError(f"{path}: no {file.name}; is this a kexue run directory?")
        return file
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or run directory")
    return path


def read_safetensors(file: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """All tensors of a safetensors file (aliases restored) and its metadata, on the CPU."""
    with safe_open(str(file), framework="pt", device="cpu") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for alias, source in json.loads(metadata.get("aliases", "{}")).items():
        tensors[alias] = tensors[source]
    return tensors, metadata


def save_checkpoint(out_dir: Path, model: nn.Module, state: dict[str, Any],
                    ema_shadow: dict[str, Tensor] | None, config: dict[str, Any]) -> None:
    """Write the files of one checkpoint: temporaries first, then the renames (trainer_state.pt last)."""
    step = {"step": str(state["step"])}
    with ExitStack() as stack:  # exits in reverse: the file entered first is renamed last
        state_tmp = stack.enter_context(atomic_path(out_dir / STATE_FILE))
        config_tmp = stack.enter_context(atomic_path(out_dir / CONFIG_FILE))
        if ema_shadow is not None:
            ema_tmp = stack.enter_context(atomic_path(out_dir / EMA_FILE))
            _write_safetensors(ema_shadow, ema_tmp, step)
        model_tmp = stack.enter_context(atomic_path(out_dir / MODEL_FILE))
        _write_safetensors(model, model_tmp, step)
        config_tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        torch.save(state, state_tmp)


def checkpoint_step(out_dir: Path) -> int | None:
    """The step of a run's model.safetensors, from the file's own metadata (None without one)."""
    with safe_open(str(Path(out_dir) / MODEL_FILE), framework="pt", device="cpu") as f:
        step = (f.metadata() or {}).get("step")
    return None if step is None else int(step)


def load_trainer_state(out_dir: Path) -> dict[str, Any]:
    """trainer_state.pt, read without executing pickle, after checking the weights are of its step."""
    state = torch.load(out_dir / STATE_FILE, map_location="cpu", weights_only=True)
    with safe_open(str(out_dir / MODEL_FILE), framework="pt", device="cpu") as f:
        weights_step = (f.metadata() or {}).get("step")
    if weights_step != str(state["step"]):
        raise ValueError(f"{out_dir / MODEL_FILE} is from step {weights_step} but {STATE_FILE} from step "
                         f"{state['step']}: the run died while checkpointing; restart without resume")
    return state


def _write_safetensors(source: nn.Module | dict[str, Tensor], file: Path,
                       metadata: dict[str, str] | None = None) -> None:
    state = source.state_dict() if isinstance(source, nn.Module) else source
    tensors: dict[str, Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, t in state.items():
        key = (t.device, t.data_ptr(), t.dtype, tuple(t.shape), t.stride())
        if t.numel() and key in seen:
            aliases[name] = seen[key]  # the same memory under a second name (tied weights)
            continue
        seen[key] = name
        tensors[name] = t.detach().to("cpu", copy=True).contiguous()
    meta = dict(metadata or {})
    if aliases:
        meta["aliases"] = json.dumps(aliases)
    file.write_bytes(safetensors_bytes(tensors, metadata=meta))
