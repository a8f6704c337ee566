"""One loader shape for the models a user takes away: `save_pretrained(model, dir)`, `from_pretrained(dir)`.

    from kexue.pretrained import from_pretrained, save_pretrained
    model = from_pretrained("runs/roformer-pretrain/version_0")   # a training run's folder, or ...
    save_pretrained(model, "my-model")                            # ... a folder of its own
    model = from_pretrained("my-model", device="cuda")

Covered: RoFormerV2 (post 8998), the DDPM U-Nets UNetSu and UNetHo (posts 9119/9152) and the deep LRU
model DeepModel (post 9554). A saved folder holds model.safetensors and config.json
`{"kexue_model": <class>, "model": <its config dataclass>, "args": <other constructor arguments>}`
(a RoFormerV2 folder is also a kexue roformer folder: fill-mask, finetune --pretrained and export read it).
`from_pretrained` also reads a training run's folder as its command left it (`roformer pretrain` or
`import`, `diffusion train`, `lru train`): the model is rebuilt from config.json's settings. The weights
are strict-loaded (kexue.train.load_model): the EMA weights where the folder has them (ema=None), else
the raw ones; ema=True/False chooses. The model comes back in eval mode on `device`.
"""
from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

import kexue
from kexue.config import from_dict, to_dict
from kexue.train.checkpoint import EMA_FILE, checkpoint_dir, load_model, read_json, save_model, write_json

# class name → (module of the class, its config class) for the models save_pretrained writes
MODELS = {
    "RoFormerV2": ("kexue.roformer.model", "kexue.roformer.config", "RoFormerV2Config"),
    "UNetSu": ("kexue.diffusion.unet_su", "kexue.diffusion.unet_su", "UNetSuConfig"),
    "UNetHo": ("kexue.diffusion.unet_ho", "kexue.diffusion.unet_ho", "UNetHoConfig"),
    "DeepModel": ("kexue.lru.model", "kexue.lru.model", "ModelConfig"),
}


def save_pretrained(model: nn.Module, directory: str | Path, tokenizer: Any = None) -> Path:
    """Write `model` (one of MODELS) to `directory`: model.safetensors and config.json, and with a
    `tokenizer` (kexue's CharTokenizer or WordPieceTokenizer) its vocab.txt, tokenizer.json and
    tokenizer_config.json beside them, so that a RoFormerV2 folder works as `gplinker --encoder` and
    transformers' AutoTokenizer reads the same ids."""
    kind = type(model).__name__
    if kind not in MODELS:
        raise TypeError(f"save_pretrained: {kind} is not one of {', '.join(MODELS)}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: is a file; give a folder")
    directory.mkdir(parents=True, exist_ok=True)
    save_model(model, directory / "model.safetensors")
    config = {"kexue_model": kind, "kexue": kexue.__version__, "model": to_dict(model.cfg), "args": _args(model)}
    if tokenizer is not None:
        from kexue.data import CharTokenizer
        from kexue.data.hf_tokenizer import export_tokenizer

        tokenizer.save(directory / "vocab.txt")
        export_tokenizer(tokenizer, directory)
        config["tokenizer"] = "char" if isinstance(tokenizer, CharTokenizer) else "wordpiece"
    write_json(directory / "config.json", config)
    return directory


def from_pretrained(directory: str | Path, *, ema: bool | None = None, device: str = "cpu") -> nn.Module:
    """The model saved in `directory` (by save_pretrained, or a training run), strictly loaded."""
    directory = Path(directory)
    file = directory / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"{directory}: no config.json; give a folder of save_pretrained or of a kexue run")
    data = read_json(file)
    model = _build(data, file)
    use_ema = (checkpoint_dir(directory) / EMA_FILE).is_file() if ema is None else ema
    load_model(model, directory, ema=use_ema)
    return model.to(device).eval()


def _build(data: dict[str, Any], file: Path) -> nn.Module:
    if "kexue_model" in data:
        kind = data["kexue_model"]
        if kind not in MODELS:
            raise ValueError(f"{file}: kexue_model {kind!r} is not one of {', '.join(MODELS)}")
        module, cfg_module, cfg_name = MODELS[kind]
        cfg = from_dict(getattr(importlib.import_module(cfg_module), cfg_name), data["model"])
        return getattr(importlib.import_module(module), kind)(cfg, **data.get("args", {}))
    run = data.get("run") or {}
    if "tokenizer" in data or "tokenizer" in run:  # a roformer pretrain run or import folder
        from kexue.roformer.config import RoFormerV2Config
        from kexue.roformer.model import RoFormerV2
        return RoFormerV2(from_dict(RoFormerV2Config, data.get("model") or run["model"]), init=False)
    if "unet_su" in run:  # a diffusion train run
        from kexue.diffusion.train import DiffusionConfig, build_model
        return build_model(from_dict(DiffusionConfig, run))
    if "task" in run and "model" in run:  # an lru train run: the task gives the input and output sizes
        from kexue.lru.tasks import build_task
        from kexue.lru.train import RunConfig, build_model
        cfg = from_dict(RunConfig, run)
        _, _, spec = build_task(replace(cfg.task, n_train=1, n_test=1))
        return build_model(cfg, spec)
    raise ValueError(f"{file}: neither a save_pretrained folder (no 'kexue_model') nor a run of roformer pretrain, "
                     "diffusion train or lru train")


def _args(model: nn.Module) -> dict[str, Any]:
    """The constructor arguments besides the config (DeepModel's sizes of the task)."""
    if type(model).__name__ != "DeepModel":
        return {}
    encoder = model.encoder
    return {"d_output": model.decoder.out_features, "d_input": getattr(encoder, "in_features", 0),
            "vocab_size": model.vocab_size, "pooling": model.pooling}
