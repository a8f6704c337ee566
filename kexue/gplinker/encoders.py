"""Pretrained encoders for GPLinker: a kexue RoFormerV2 folder, or any local HF checkpoint folder.

kexue.fm/archives/8926 and 8888 put GlobalPointer heads on a pretrained BERT / RoFormer; `--encoder
PATH` does the same. PATH is one of
- a kexue RoFormerV2 folder (`kexue roformer pretrain` / `kexue roformer import`): config.json with a
  RoFormerV2Config, model.safetensors, vocab.txt — loaded with `load_pretrained` / `load_tokenizer`;
- an HF RoFormerV2 folder in JunnYu's format (config.json with norm_type="rms_norm"): imported in
  memory exactly as `kexue roformer import` does (HF's own RoFormerModel is v1 and would load it wrongly);
- any other HF folder (BERT, RoBERTa-wwm, T5's encoder, ...) through `transformers`' AutoModel, read
  with `local_files_only=True`. Its tokenizer is its own `tokenizer.json` (WordPiece, BPE or Unigram,
  as `save_pretrained` of today's transformers writes it; `kexue/data/hf_tokenizer.py`), or for an
  older folder with only vocab.txt, BERT's WordPiece over it (lowercase as its tokenizer_config.json
  says, no NFKC, as BERT). Both give character offsets, and no normalisation of ours is added: the ids
  are the checkpoint's own tokenizer's. An encoder-decoder (T5) gives its encoder stack; a decoder-only
  (causal) model is refused, since GPLinker's spans need every token to see the whole sentence.

The run folder keeps what rebuilds the encoder with no access to PATH: the encoder's config in
gplinker.json (`EncoderConfig.model`), its weights inside the run's model.safetensors, its tokenizer
(vocab.txt, and tokenizer.json with tokenizer_config.json for a checkpoint that has one).

Where we depart: an HF model's pooler is removed (GPLinker reads token states only, and unused
parameters would stall DDP), so a checkpoint's pooler tensors are left unread; a pretraining
checkpoint's heads (`cls.*`) are left unread too. Any other tensor of the model that the checkpoint
lacks or mis-shapes is an error that names it.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from kexue.config import to_dict
from kexue.data import CharTokenizer, WordPieceTokenizer
from kexue.data.hf_tokenizer import HFTokenizer, folder_tokenizer, read_json_object
from kexue.gplinker.model import EncoderConfig, TinyEncoder

Tokenizer = CharTokenizer | WordPieceTokenizer | HFTokenizer
# encoder-decoder model types → the transformers class of their encoder stack
ENCODER_STACKS = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}


class RoFormerEncoder(nn.Module):
    """kexue's RoFormerV2 behind the GPLinker `Encoder` face: (ids, mask) → h [b, n, H]."""

    def __init__(self, roformer: nn.Module):
        super().__init__()
        self.roformer, self.hidden_size = roformer, roformer.cfg.hidden_size

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.roformer(ids, mask=mask.bool())


class HFEncoder(nn.Module):
    """A `transformers` model behind the GPLinker `Encoder` face: its last hidden state."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # unused by GPLinker (see the module docstring)
        self.model, self.hidden_size = model, model.config.hidden_size

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state


def load_encoder(path: str | Path, base: EncoderConfig | None = None) -> tuple[EncoderConfig, nn.Module, Tokenizer]:
    """The encoder of the checkpoint folder `path` with its weights, its tokenizer, and the EncoderConfig
    (`base` with kind, model and tokenizer filled in) that `build_encoder` rebuilds it from."""
    base = base or EncoderConfig()
    folder = Path(path)
    if not folder.is_dir():
        folder = cached_model(str(path))
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"--encoder {path}: no config.json; not a kexue roformer or HF checkpoint folder")
    data = read_json_object(config_file)
    if "model" in data or "run" in data:
        return _kexue_roformer(folder, base)
    if data.get("norm_type") == "rms_norm":
        return _hf_roformer_v2(folder, data, base)
    if "model_type" in data:
        return _hf(folder, data, base)
    raise ValueError(f"{config_file}: neither a kexue roformer config ('model') nor an HF config ('model_type')")


def cached_model(model_id: str) -> Path:
    """The folder of `model_id` ("org/name") in the local Hugging Face cache, found offline; a missing one
    is one line that says where the folder should be."""
    where = ("give a kexue roformer folder or an HF checkpoint folder (config.json, weights, tokenizer.json or "
             "vocab.txt)")
    if model_id.count("/") != 1 or model_id.startswith((".", "/")):
        raise FileNotFoundError(f"--encoder {model_id}: no such folder; {where}")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        raise FileNotFoundError(f"--encoder {model_id}: no such folder, and a model id needs the hf extra to look "
                                "in the Hugging Face cache: pip install 'kexue[hf]'") from None
    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # huggingface_hub's errors for an id it has not cached (LocalEntryNotFoundError, ...)
        raise FileNotFoundError(
            f"--encoder {model_id}: no such folder, and not in the local Hugging Face cache ({HF_HUB_CACHE}); "
            f"nothing is downloaded: fetch it where there is a network (huggingface-cli download {model_id}) "
            f"and copy the cache or the folder here, or {where}") from None


def build_encoder(cfg: EncoderConfig, vocab_size: int) -> nn.Module:
    """The encoder `cfg` describes, freshly initialised; a pretrained one's weights come from the run's
    model.safetensors afterwards."""
    if cfg.kind == "tiny":
        return TinyEncoder(replace(cfg, vocab=vocab_size))
    if not cfg.model:
        raise ValueError(f"encoder.kind={cfg.kind} needs the checkpoint's config; train with --encoder PATH")
    if cfg.kind == "roformer":
        from kexue.config import from_dict
        from kexue.roformer import RoFormerV2, RoFormerV2Config
        return RoFormerEncoder(RoFormerV2(from_dict(RoFormerV2Config, cfg.model), init=False))
    if cfg.kind == "hf":
        transformers = _transformers()
        model_cfg = dict(cfg.model)
        kind = model_cfg.pop("model_type")
        config = transformers.AutoConfig.for_model(kind, **model_cfg)
        if kind in ENCODER_STACKS:  # an encoder-decoder: its encoder only, as load_encoder read it
            return HFEncoder(getattr(transformers, ENCODER_STACKS[kind])(config).float())
        return HFEncoder(transformers.AutoModel.from_config(config, dtype=torch.float32))
    raise ValueError(f"encoder.kind={cfg.kind!r}: expected tiny, roformer or hf")


def load_tokenizer(cfg: EncoderConfig, vocab: Path) -> Tokenizer:
    """The tokenizer a run saved as vocab.txt (and tokenizer.json), read as the encoder it was trained with
    reads it."""
    return folder_tokenizer(Path(vocab).parent, cfg.tokenizer, lowercase=cfg.lowercase, nfkc=cfg.nfkc)[0]


def _kexue_roformer(folder: Path, base: EncoderConfig) -> tuple[EncoderConfig, nn.Module, Tokenizer]:
    from kexue.roformer import load_pretrained, load_tokenizer as roformer_tokenizer
    model = load_pretrained(folder)
    tok = roformer_tokenizer(folder)
    _check_vocab(folder, tok.vocab_size, model.cfg.vocab_size)
    kind = "char" if isinstance(tok, CharTokenizer) else "hf" if isinstance(tok, HFTokenizer) else "wordpiece"
    cfg = replace(base, kind="roformer", source=str(folder), model=to_dict(model.cfg), tokenizer=kind,
                  lowercase=getattr(tok, "lowercase", True), nfkc=getattr(tok, "nfkc", True))
    return cfg, RoFormerEncoder(model), tok


def _hf_roformer_v2(folder: Path, data: dict, base: EncoderConfig) -> tuple[EncoderConfig, nn.Module, Tokenizer]:
    # the steps of kexue.roformer.import_hf, without writing a folder
    from kexue.roformer import RoFormerV2
    from kexue.roformer.checkpoint import config_from_hf, hf_to_kexue, read_hf_weights
    rcfg = config_from_hf(data, str(folder / "config.json"))
    tensors, file = read_hf_weights(folder)
    model = RoFormerV2(rcfg, init=False)
    model.load_state_dict(hf_to_kexue(tensors, rcfg, str(file)), strict=True)
    tok, kind, lowercase = folder_tokenizer(folder)
    _check_vocab(folder, tok.vocab_size, rcfg.vocab_size)
    cfg = replace(base, kind="roformer", source=str(folder), model=to_dict(rcfg), tokenizer=kind,
                  lowercase=lowercase, nfkc=False)
    return cfg, RoFormerEncoder(model.eval()), tok


def _hf(folder: Path, data: dict, base: EncoderConfig) -> tuple[EncoderConfig, nn.Module, Tokenizer]:
    transformers = _transformers()
    _refuse_decoder_only(folder, data, transformers)
    tok, kind, lowercase = folder_tokenizer(folder)
    stack = ENCODER_STACKS.get(data.get("model_type"))
    auto = getattr(transformers, stack) if stack else transformers.AutoModel
    try:
        model, info = auto.from_pretrained(folder, local_files_only=True, dtype=torch.float32,
                                           output_loading_info=True)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"--encoder {folder}: transformers cannot load it: {str(e).splitlines()[0]}") from None
    missing = sorted(k for k in info["missing_keys"] if not k.startswith("pooler."))
    bad = [*(f"missing tensor {k}" for k in missing), *(f"mis-shaped tensor {m}" for m in info["mismatched_keys"])]
    if bad:
        raise ValueError(f"--encoder {folder}: the checkpoint does not fit {type(model).__name__}: "
                         f"{'; '.join(map(str, bad))}")
    _check_vocab(folder, tok.vocab_size, model.config.vocab_size)
    model_cfg = json.loads(model.config.to_json_string())
    model_cfg.pop("_name_or_path", None)
    cfg = replace(base, kind="hf", source=str(folder), model=model_cfg, tokenizer=kind,
                  lowercase=lowercase, nfkc=False)
    return cfg, HFEncoder(model), tok


def _refuse_decoder_only(folder: Path, data: dict, transformers: Any) -> None:
    """A model that only has a causal form (GPT-2, LLaMA) sees no token to its right: refuse it."""
    from transformers.models.auto import modeling_auto as auto

    kind = data.get("model_type")
    causal, bidirectional = auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
    seq2seq = auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
    if kind in causal and kind not in bidirectional and kind not in seq2seq:
        raise ValueError(f"--encoder {folder}: {kind} is a decoder-only (causal) model; GPLinker needs a "
                         "bidirectional encoder (BERT, RoFormer, RoBERTa, T5's encoder)")


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ValueError("an HF checkpoint needs the transformers package: pip install transformers") from None
    return transformers


def _check_vocab(folder: Path, tokens: int, rows: int) -> None:
    if tokens > rows:
        raise ValueError(f"--encoder {folder}: vocab.txt has {tokens} tokens but the model's embedding has "
                         f"only {rows} rows; they are not from the same checkpoint")
