"""A DDPM run's U-Net as an ONNX graph ε_θ(x_t, t[, y]), with its schedule beside it.

kexue.fm/archives/9119 and 9152 give the model and its sampler; taking the network out of kexue is ours.
`export_run(run, out)` writes into the folder `out`:

| file | what |
|---|---|
| `unet.onnx` | inputs `x` float32 [batch, C, H, W] (x_t), `t` int64 [batch] in 1..T (Su's t), and for a class-conditional model `y` int64 [batch] (num_classes = ∅); output `eps` [batch, C, H, W]; batch dynamic, H = W = the run's image size |
| `diffusion-onnx.json` | which U-Net (su / ho2020), image size, channels, T, num_classes, the schedule's name and its β_t² for t = 1..T (what a sampler needs: kexue/diffusion/schedule.py builds α_t, ᾱ_t, β̄_t from them) |

Either U-Net (unet_su.py, unet_ho.py) exports; their value checks run eagerly only (kexue/nn/tracing.py).
Not written as a diffusers `UNet2DModel`: Su's net has additive skips, a learned t-embedding, no attention,
no biases and strided post-norm GroupNorm; Ho's (which diffusers' DDPM port follows in spirit) differs in
its down-sampling padding and block layout (see unet_ho.py); mapping either onto UNet2DModel's blocks would
change the function, not only the names.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kexue import __version__

MODEL_FILE = "unet.onnx"
MANIFEST = "diffusion-onnx.json"
FORMAT = "kexue-diffusion-onnx/1"
OPSET = 18


@dataclass
class Parity:
    batch_sizes: list[int]
    max_abs: float  # max |torch − onnxruntime| of ε over every checked input


def _inputs(model: nn.Module, batch: int, T: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random x_t, t in 1..T (and y with ∅ among the labels) for `model`."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    out = {"x": x, "t": torch.randint(1, T + 1, (batch,), generator=g)}
    if getattr(model, "num_classes", 0):
        out["y"] = torch.randint(0, model.num_classes + 1, (batch,), generator=g)
    return out


def export_unet(model: nn.Module, path: str | Path, T: int, dynamo: bool = False) -> Path:
    """`model(x, t[, y])` as ONNX at `path`, the batch dynamic."""
    path = Path(path)
    model.eval()
    example = _inputs(model, 2, T)
    names = list(example)
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter's deprecation and its notes on shape checks traced as constants (the
        # graph's H, W are the run's); torch.export's exporter's notes on its internals
        warnings.simplefilter("ignore", (torch.jit.TracerWarning, DeprecationWarning, FutureWarning, UserWarning))
        if dynamo:
            batch = torch.export.Dim("batch")
            torch.onnx.export(model, tuple(example.values()), str(path), dynamo=True, opset_version=OPSET,
                              input_names=names, output_names=["eps"], verbose=False,
                              dynamic_shapes=tuple({0: batch} for _ in names))
        else:
            torch.onnx.export(model, tuple(example.values()), str(path), dynamo=False, opset_version=OPSET,
                              input_names=names, output_names=["eps"],
                              dynamic_axes={name: {0: "batch"} for name in (*names, "eps")})
    return path


def export_run(run_dir: str | Path, out_dir: str | Path, raw: bool = False, dynamo: bool = False) -> dict[str, Any]:
    """The U-Net of a `kexue diffusion train` run (EMA weights, or the raw ones with `raw`) and its schedule
    as the folder `out_dir` (see the module docstring); returns the manifest written."""
    from kexue.diffusion.train import load_run
    model, schedule, cfg = load_run(run_dir, ema=not raw, device="cpu")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    export_unet(model, out / MODEL_FILE, schedule.T, dynamo)
    ucfg = model.cfg
    manifest = {
        "format": FORMAT, "model": cfg.model, "image_size": ucfg.image_size, "channels": ucfg.in_channels,
        "T": schedule.T, "num_classes": getattr(model, "num_classes", 0),
        "inputs": ["x", "t", *(["y"] if getattr(model, "num_classes", 0) else [])], "outputs": ["eps"],
        "schedule": {"name": schedule.name, "beta_sq": (schedule.beta[1:] ** 2).tolist()},
        "weights": "model.safetensors" if raw else "ema.safetensors", "run": str(Path(run_dir).resolve()),
        "kexue": __version__, "exporter": "dynamo" if dynamo else "torchscript", "opset": OPSET,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def check_parity(model: nn.Module, onnx_path: str | Path, T: int, batch_sizes: tuple[int, ...] = (1, 4),
                 seed: int = 0) -> Parity:
    """ε from torch against ε from onnxruntime on random x_t, t (and y) at each batch size."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for k, b in enumerate(batch_sizes):
        inputs = _inputs(model, b, T, seed + k)
        with torch.no_grad():
            want = model.eval()(*inputs.values()).numpy()
        got = session.run(None, {name: v.numpy() for name, v in inputs.items()})[0]
        worst = max(worst, float(np.abs(want - got).max()))
    return Parity(list(batch_sizes), worst)
