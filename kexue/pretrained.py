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
`import`, `diffusion train`, `lru train`): the run's command (run.json, kexue/runs/) names the model, and
its settings (config.json) rebuild it; a run older than run.json is told apart by its settings' keys. The weights
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
    from kexue.runs import read_run_folder, read_settings

    run = read_run_folder(file.parent)
    if run.command:  # a training run: its command (run.json) says which model its settings build
        if run.command not in RUN_MODELS:
            raise ValueError(f"{file.parent} is a `{run.command}` run; from_pretrained reads save_pretrained "
                             f"folders and runs of {', '.join(f'`{c}`' for c in RUN_MODELS)}")
        return RUN_MODELS[run.command](read_settings(file.parent))
    if "tokenizer" in data and "model" in data:  # a `kexue roformer import` folder
        return _roformer(data)
    settings = data.get("run") or {}  # a run of a kexue before run.json: its settings' keys tell which
    for command, keys in OLD_RUN_KEYS.items():
        if keys <= set(settings):
            return RUN_MODELS[command](settings)
    raise ValueError(f"{file}: neither a save_pretrained folder (no 'kexue_model') nor a run of roformer pretrain, "
                     "diffusion train or lru train")


def _roformer(settings: dict[str, Any]) -> nn.Module:
    from kexue.roformer.config import RoFormerV2Config
    from kexue.roformer.model import RoFormerV2
    return RoFormerV2(from_dict(RoFormerV2Config, settings["model"]), init=False)


def _diffusion(settings: dict[str, Any]) -> nn.Module:
    from kexue.diffusion.train import DiffusionConfig, build_model
    return build_model(from_dict(DiffusionConfig, settings))


def _lru(settings: dict[str, Any]) -> nn.Module:
    """The task gives the input and output sizes."""
    from kexue.lru.tasks import build_task
    from kexue.lru.train import RunConfig, build_model
    cfg = from_dict(RunConfig, settings)
    _, _, spec = build_task(replace(cfg.task, n_train=1, n_test=1))
    return build_model(cfg, spec)


# a training run's command → the model its settings (config.json's `run`) build
RUN_MODELS = {"kexue roformer pretrain": _roformer, "kexue diffusion train": _diffusion, "kexue lru train": _lru}
# runs written before run.json recorded the command: the keys of their settings that tell them apart
OLD_RUN_KEYS = {"kexue roformer pretrain": {"tokenizer", "model"}, "kexue diffusion train": {"unet_su"},
                "kexue lru train": {"task", "model"}}


def _args(model: nn.Module) -> dict[str, Any]:
    """The constructor arguments besides the config (DeepModel's sizes of the task)."""
    if type(model).__name__ != "DeepModel":
        return {}
    encoder = model.encoder
    return {"d_output": model.decoder.out_features, "d_input": getattr(encoder, "in_features", 0),
            "vocab_size": model.vocab_size, "pooling": model.pooling}
