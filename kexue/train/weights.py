"""Weights files: safetensors bytes that are the same for the same weights, with tied tensors stored once
and a checksum of the tensors in the metadata, read back strictly checked.

Every safetensors file kexue writes carries, in its metadata, the SHA-256 of its tensors (names, dtypes,
shapes and bytes, in name order) under `tensors_sha256`; reading checks it, so a flipped bit is an error
naming the file, not a silently wrong model. Files without it (older runs, imported checkpoints) load.
Tensors that share memory (tied weights, e.g. an LM head tied to the embeddings) are stored once; the
other names are kept as aliases in the file's metadata and restored on load. Where the files go and how a
checkpoint is committed is kexue/train/checkpoint.py.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

CHECKSUM_KEY = "tensors_sha256"


class CheckpointError(ValueError):
    """A file of a run that cannot be used: damaged, cut short, or not what its name says."""


def read_safetensors(file: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """All tensors of a safetensors file (aliases restored) and its metadata, on the CPU; the tensors
    checked against the file's checksum where it has one. A damaged file is a CheckpointError."""
    try:
        with safe_open(str(file), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as e:
        raise CheckpointError(f"{file}: not a readable safetensors file ({first_line(e)}); it is damaged or "
                              "was cut short") from None
    if CHECKSUM_KEY in metadata and _tensors_sha256(tensors) != metadata[CHECKSUM_KEY]:
        raise CheckpointError(f"{file}: checksum mismatch: its tensors are not the ones that were saved (the "
                              "file is damaged); use a good copy, or retrain")
    for alias, source in json.loads(metadata.get("aliases", "{}")).items():
        tensors[alias] = tensors[source]
    return tensors, metadata


def first_line(error: BaseException) -> str:
    """The first line of an error's message, for a one-line error naming the file."""
    text = str(error).strip().splitlines()
    return text[0].rstrip(".") if text else type(error).__name__


def _tensors_sha256(tensors: dict[str, Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def weights_bytes(source: nn.Module | dict[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of a module's state dict (or a state dict), with aliases and the checksum."""
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
    meta[CHECKSUM_KEY] = _tensors_sha256(tensors)
    return _sorted_metadata(safetensors_bytes(tensors, metadata=meta))


def _sorted_metadata(data: bytes) -> bytes:
    """The file with its metadata keys in sorted order: safetensors writes them in a hash map's order,
    which differs from call to call, and the same weights must give the same bytes."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the tensor data stays 8-byte aligned, as safetensors writes it
    return len(text).to_bytes(8, "little") + text + data[8 + n:]
