"""Checkpoints: one unit committed at once, checksummed weights, strict loading, state as plain data.

A run directory holds
  checkpoint          → ckpt-000040: a link to the folder of the last committed checkpoint, which holds
    model.safetensors   the weights (what `load_model(model, run_dir)` reads)
    ema.safetensors     the EMA shadow θ̄, when EMA is on (`load_model(model, run_dir, ema=True)`)
    trainer_state.pt    optimizer, step, EMA shadow, and per rank: RNG states, data position, metric window
  model.safetensors, ema.safetensors, trainer_state.pt   links to checkpoint/<the same name>, so that a
                      reader of run/model.safetensors (a script, an older kexue) finds the committed file
  config.json         the resolved settings of the run
  metrics.jsonl       one JSON object per logged step (written by the Trainer)
Folders of the older layout (the three files in the run directory itself) still load and resume; their
next checkpoint turns them into this one.

A checkpoint is committed as a whole (`save_checkpoint`): its files are written into a temporary folder
.ckpt-N.tmp-PID and synced, the folder is synced and renamed to ckpt-N, and the `checkpoint` link is
replaced atomically (a new link renamed over the old): that rename is the commit. Only then is the
previous checkpoint removed (with TrainConfig.keep_last = N: those older than the newest N).
A process killed at any moment leaves the previous checkpoint or the new
one, complete; what it left half-written is removed by the next save or resume (`remove_stale_temps`).
Single files (config.json, best.safetensors, ...) are written to a temporary file beside them, synced
and moved into place with `os.replace`, so a reader sees the old file or the new one, never half of one.

The weights files themselves (checksummed, tied tensors stored once, the same bytes for the same weights)
are kexue/train/weights.py.
"""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn

from kexue.train.weights import CheckpointError, first_line, read_safetensors, weights_bytes

MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "trainer_state.pt"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_LINK = "checkpoint"  # → ckpt-N, the committed checkpoint
CKPT_PREFIX = "ckpt-"
UNIT = (MODEL_FILE, EMA_FILE, STATE_FILE)  # the files of one checkpoint
TEMP_MARK = ".tmp-"  # temporary files and folders are named .<name>.tmp-<pid>


class DiskFullError(OSError):
    """No space left to write a file of a run (the last complete checkpoint is intact)."""


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
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        raise_if_disk_full(e, path.parent)
        raise


def write_json(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> Any:
    """A JSON file of a run (config.json, run.json, gplinker.json, ...); a damaged one is a CheckpointError
    naming the file, the line and the cause."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno}); the file "
                              "is damaged or was cut short") from None
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: not UTF-8 text (byte {e.start}); the file is damaged") from None


def raise_if_disk_full(error: BaseException, directory: str | Path, what: str = "") -> None:
    """Raise a DiskFullError naming `directory` when `error` is the disk being full (ENOSPC, EDQUOT)."""
    if isinstance(error, OSError) and not isinstance(error, DiskFullError) \
            and error.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFullError(error.errno, f"no space left on {directory}{what}") from None


def checkpoint_dir(run_dir: str | Path) -> Path:
    """The folder that holds a run's committed checkpoint: the target of run_dir/checkpoint, or run_dir
    itself (the older layout, or a folder of save_pretrained / an import)."""
    run_dir = Path(run_dir)
    link = run_dir / CHECKPOINT_LINK
    if link.is_symlink():
        return run_dir / os.readlink(link)
    return link if link.is_dir() else run_dir


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether run_dir holds a committed checkpoint to resume from."""
    return (checkpoint_dir(run_dir) / STATE_FILE).is_file()


def discard_checkpoint(run_dir: str | Path) -> None:
    """Remove a run's checkpoint (its link, its folders, the links beside them; a new run in the folder)."""
    run_dir = Path(run_dir)
    for name in (CHECKPOINT_LINK, *UNIT):
        p = run_dir / name
        if p.is_symlink() or p.is_file():
            p.unlink()
    for p in run_dir.glob(f"{CKPT_PREFIX}*"):
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def remove_stale_temps(directory: str | Path) -> None:
    """Delete what a process killed while writing left: temporary files and folders, and checkpoint
    folders that were never committed (newer than the target of `checkpoint`; the older ones are the
    checkpoints `keep_last` keeps)."""
    directory = Path(directory)
    for p in directory.glob(f".*{TEMP_MARK}*"):
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
    link = directory / CHECKPOINT_LINK
    current = _order(os.readlink(link)) if link.is_symlink() else None
    for p in directory.glob(f"{CKPT_PREFIX}*"):
        if p.is_dir() and not p.is_symlink() and (current is None or _order(p.name) > current):
            shutil.rmtree(p)


def kept_checkpoints(run_dir: str | Path) -> list[Path]:
    """The committed checkpoint folders of a run, oldest first; the last is the target of `checkpoint`."""
    run_dir = Path(run_dir)
    link = run_dir / CHECKPOINT_LINK
    if not link.is_symlink():
        return []
    current = _order(os.readlink(link))
    folders = [p for p in run_dir.glob(f"{CKPT_PREFIX}*") if p.is_dir() and not p.is_symlink()
               and _order(p.name) <= current]
    return sorted(folders, key=lambda p: _order(p.name))


def _order(name: str) -> tuple[int, int]:
    """ckpt-000040 → (40, 0), ckpt-000040-1 → (40, 1) (the same step saved again), ckpt-copied → (−1, 0)."""
    parts = name[len(CKPT_PREFIX):].split("-")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return -1, 0


def save_model(model: nn.Module | dict[str, Tensor], path: str | Path,
               metadata: dict[str, str] | None = None) -> Path:
    """Write the model's state dict (or a state dict) to `path` as safetensors, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(weights_bytes(model, metadata))
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
    """The .safetensors file meant by `path`: the file itself, or model/ema.safetensors of a run dir's
    committed checkpoint."""
    path = Path(path)
    if path.is_dir():
        folder = checkpoint_dir(path)
        file = folder / (EMA_FILE if ema else MODEL_FILE)
        if not file.exists():
            if ema and (folder / MODEL_FILE).exists():
                raise FileNotFoundError(f"{path}: no {EMA_FILE}; this run trained without EMA "
                                        "(TrainConfig.ema=None); load it with ema=False")
            raise FileNotFoundError(f"{path}: no {file.name}; is this a kexue run directory?")
        return file
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or run directory")
    return path


def save_checkpoint(out_dir: Path, model: nn.Module, state: dict[str, Any],
                    ema_shadow: dict[str, Tensor] | None, config: dict[str, Any], keep_last: int = 1) -> Path:
    """Commit one checkpoint as a whole (see the module doc); returns its folder. Of the committed
    checkpoint folders, the newest `keep_last` stay (TrainConfig.keep_last), the older are removed."""
    out_dir = Path(out_dir)
    remove_stale_temps(out_dir)
    previous = _adopt_copied_checkpoint(out_dir)
    name = f"{CKPT_PREFIX}{state['step']:06d}"
    if previous is not None and _order(previous)[0] == state["step"]:  # the same step saved again:
        name += f"-{_order(previous)[1] + 1}"  # a second folder, then the first one goes
    tmp = out_dir / f".{name}{TEMP_MARK}{os.getpid()}"
    step = {"step": str(state["step"])}
    what = f" (writing the checkpoint of step {state['step']}; the last complete one is intact)"
    try:
        os.mkdir(tmp)
        _write_file(tmp / MODEL_FILE, weights_bytes(model, step))
        if ema_shadow is not None:
            _write_file(tmp / EMA_FILE, weights_bytes(ema_shadow, step))
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _write_file(tmp / STATE_FILE, buffer.getbuffer())
        _sync_dir(tmp)
        os.rename(tmp, out_dir / name)
        _sync_dir(out_dir)
        _link(out_dir / CHECKPOINT_LINK, name)  # the commit
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise_if_disk_full(e, out_dir, what)
        raise
    try:
        for file in UNIT:  # run/model.safetensors → checkpoint/model.safetensors, for every reader
            top, want = out_dir / file, f"{CHECKPOINT_LINK}/{file}"
            if not (out_dir / name / file).exists():
                if top.is_symlink() or top.is_file():
                    top.unlink()
            elif top.is_symlink() and os.readlink(top) == want:
                continue
            elif top.is_symlink() or top.exists():  # a file of the older layout: replaced at once
                _link(top, want)
            else:
                os.symlink(want, top)
        for old in kept_checkpoints(out_dir)[:-keep_last]:  # only after the commit
            shutil.rmtree(old, ignore_errors=True)
        write_json(out_dir / CONFIG_FILE, config)
    except OSError as e:
        raise_if_disk_full(e, out_dir, f" (after committing the checkpoint of step {state['step']})")
        raise
    return out_dir / name


def checkpoint_step(out_dir: Path) -> int | None:
    """The step of a run's committed weights, from the file's own metadata (None without one)."""
    file = checkpoint_dir(out_dir) / MODEL_FILE
    try:
        with safe_open(str(file), framework="pt", device="cpu") as f:
            step = (f.metadata() or {}).get("step")
    except SafetensorError as e:
        raise CheckpointError(f"{file}: not a readable safetensors file ({first_line(e)}); it is damaged or "
                              "was cut short") from None
    return None if step is None else int(step)


def load_trainer_state(out_dir: Path) -> dict[str, Any]:
    """trainer_state.pt of the committed checkpoint, read without executing pickle, after checking the
    weights are of its step."""
    folder = checkpoint_dir(out_dir)
    file = folder / STATE_FILE
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, ValueError) as e:  # torch's zip reader, or its restricted unpickler
        raise CheckpointError(f"{file}: cannot be read ({first_line(e)}); it is damaged or was cut short, so "
                              f"the run cannot continue from it (its weights may still load)") from None
    weights_step = checkpoint_step(out_dir)
    if weights_step != state["step"]:
        raise ValueError(f"{folder / MODEL_FILE} is from step {weights_step} but {STATE_FILE} from step "
                         f"{state['step']}: the run died while checkpointing; restart without resume")
    return state


def _adopt_copied_checkpoint(out_dir: Path) -> str | None:
    """The name of the committed checkpoint folder; a `checkpoint` that is a folder (a run copied without
    its links) is first renamed to ckpt-copied and linked."""
    link = out_dir / CHECKPOINT_LINK
    if link.is_symlink():
        return os.readlink(link)
    if not link.is_dir():
        return None
    os.rename(link, out_dir / f"{CKPT_PREFIX}copied")
    _link(link, f"{CKPT_PREFIX}copied")
    return f"{CKPT_PREFIX}copied"


def _link(path: Path, target: str) -> None:
    """Make `path` a symbolic link to `target` (relative), atomically: a new link renamed over it."""
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _write_file(path: Path, data: bytes | memoryview) -> None:
    """A new file with `data`, synced to disk before this returns."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(directory: Path) -> None:
    """Sync a folder, so the names created or renamed in it survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


