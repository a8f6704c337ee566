"""Strict import of RoFormerV2 checkpoints in the HF format of JunnYu's `roformer` package, export back
to it, and loading of kexue RoFormerV2 checkpoints.

kexue.fm/archives/8998 released bert4keras checkpoints; JunnYu/RoFormer_pytorch (pip `roformer` ≥ 0.4)
converts them to an HF-format folder: config.json (`norm_type="rms_norm"`, `use_bias=false`,
`hidden_act="relu"`), pytorch_model.bin or model.safetensors, vocab.txt. Loading such a folder into HF
`RoFormerModel` (v1) succeeds silently and gives nonsense (RoFormer_pytorch #48), so here every step is
checked: the config must describe a RoFormerV2, every tensor must map to exactly one of ours with the
right shape, nothing may be left over. Two tensors are not learned and are checked instead of dropped:
`encoder.embed_positions.weight` (the sinusoid table, when present, must be RoPE's with base 10000) and
`cls.predictions.decoder.weight` (the MLM head, when present, must equal the token embedding: tied).

`export_hf` is the inverse of the import: model.safetensors with every tensor JunnYu's
RoFormerForMaskedLM holds (the RoPE sinusoid table of `max_position_embeddings` positions and the tied
MLM head included, so no loader has to make them up), config.json with the RoFormerV2 fields above, the
tokenizer (vocab.txt, and tokenizer.json + tokenizer_config.json, which give the training tokenizer's
ids), and the model as remote code (`hf_remote/modeling_roformer_v2.py`, named by config.json's
`auto_map`). Two loaders read the folder with nothing missing and the same outputs:
transformers ≥ 5 as `AutoModelForMaskedLM.from_pretrained(DIR, trust_remote_code=True)` (its built-in
RoFormer is v1, so `model_type` is `roformer_v2`: without the remote code transformers refuses the
folder instead of loading it wrongly), and JunnYu's `roformer` 0.4.3 (with transformers < 4.52) as
`roformer.RoFormerForMaskedLM.from_pretrained(DIR)`.

A kexue RoFormerV2 folder: model.safetensors, config.json (`{"model": {...RoFormerV2Config...},
"tokenizer": "char"|"wordpiece"}`, or a pretraining run's `{"run": {"model": ..., ...}}`), vocab.txt.
Weights are read with safetensors or `torch.load(weights_only=True)`; no pickle is executed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from kexue.config import from_dict, to_dict
from kexue.data.hf_tokenizer import CONFIG_FILE, TOKENIZER_FILE, export_tokenizer, folder_tokenizer, read_json_object
from kexue.roformer.config import RoFormerV2Config
from kexue.roformer.model import RoFormerV2
from kexue.train.checkpoint import load_model, read_safetensors, save_model, write_json

# ours ← theirs, for layer i (after the optional "roformer." prefix is removed)
LAYER_MAP = {
    "attention.q.weight": "encoder.layer.{i}.attention.self.query.weight",
    "attention.k.weight": "encoder.layer.{i}.attention.self.key.weight",
    "attention.v.weight": "encoder.layer.{i}.attention.self.value.weight",
    "attention.o.weight": "encoder.layer.{i}.attention.output.dense.weight",
    "ffn.inner.weight": "encoder.layer.{i}.intermediate.dense.weight",
    "ffn.outer.weight": "encoder.layer.{i}.output.dense.weight",
}
EMBEDDING_MAP = {
    "embeddings.token.weight": "embeddings.word_embeddings.weight",
    "embeddings.segment.weight": "embeddings.token_type_embeddings.weight",
}
SINUSOID = "encoder.embed_positions.weight"
# the RoFormerV2 model for transformers, shipped with an export as remote code
REMOTE_CODE = Path(__file__).parent / "hf_remote" / "modeling_roformer_v2.py"
AUTO_MAP = {"AutoConfig": "modeling_roformer_v2.RoFormerV2Config",
            "AutoModel": "modeling_roformer_v2.RoFormerV2Model",
            "AutoModelForMaskedLM": "modeling_roformer_v2.RoFormerV2ForMaskedLM"}
MLM_HEAD = "cls.predictions.decoder.weight"
# what a RoFormerV2 config.json must say, and why
REQUIRED = {"norm_type": ("rms_norm", "RoFormerV2 uses RMSNorm without gain; 'layer_norm' is RoFormer v1"),
            "use_bias": (False, "RoFormerV2 has no bias; use_bias=true is RoFormer v1"),
            "hidden_act": ("relu", "RoFormerV2's FFN is ReLU"),
            "rotary_value": (False, "RoFormerV2 rotates q and k only")}


def config_from_hf(hf: dict[str, Any], where: str = "config.json") -> RoFormerV2Config:
    """The RoFormerV2Config of an HF `roformer` config dict; refuses anything that is not a RoFormerV2."""
    for key, (want, why) in REQUIRED.items():
        got = hf.get(key, "(absent)")
        if got != want:
            raise ValueError(f"{where}: {key} is {got!r}, expected {want!r}: {why}; not a RoFormerV2 checkpoint")
    missing = [k for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                           "intermediate_size") if k not in hf]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    if hf.get("embedding_size") not in (None, hf["hidden_size"]):
        raise ValueError(f"{where}: embedding_size {hf['embedding_size']} differs from hidden_size "
                         f"{hf['hidden_size']}; the embedding projection is not supported")
    return RoFormerV2Config(
        vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"], num_layers=hf["num_hidden_layers"],
        num_heads=hf["num_attention_heads"], intermediate_size=hf["intermediate_size"],
        segment_vocab_size=hf.get("type_vocab_size", 2), dropout=hf.get("hidden_dropout_prob", 0.1),
        attention_dropout=hf.get("attention_probs_dropout_prob", 0.1), eps=hf.get("layer_norm_eps", 1e-12),
        pad_id=hf.get("pad_token_id", 0)).check()


def read_hf_weights(folder: Path) -> tuple[dict[str, Tensor], Path]:
    """The tensors of model.safetensors or pytorch_model.bin in `folder` (no pickle executed)."""
    st, pt = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st.is_file():
        return read_safetensors(st)[0], st
    if pt.is_file():
        try:
            tensors = torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as e:  # an unpickling error names what it refused; pass it on with the file
            raise ValueError(f"{pt}: not a plain tensor file ({type(e).__name__}: {e})") from None
        if not isinstance(tensors, dict):
            raise ValueError(f"{pt}: expected a dict of tensors, got {type(tensors).__name__}")
        return tensors, pt
    if (folder / "pytorch_model.bin.index.json").is_file() or (folder / "model.safetensors.index.json").is_file():
        raise ValueError(f"{folder}: sharded checkpoints are not supported; save it unsharded")
    raise FileNotFoundError(f"{folder}: neither model.safetensors nor pytorch_model.bin")


def hf_to_kexue(tensors: dict[str, Tensor], cfg: RoFormerV2Config, where: str = "checkpoint") -> dict[str, Tensor]:
    """Map an HF RoFormerV2 state dict to ours, strictly: every tensor used once, every shape right."""
    prefixed = any(k.startswith("roformer.") for k in tensors)
    theirs = {(k.removeprefix("roformer.") if prefixed else k): v for k, v in tensors.items()}
    mapping = dict(EMBEDDING_MAP)
    for i in range(cfg.num_layers):
        mapping.update({f"layers.{i}.{ours}": t.format(i=i) for ours, t in LAYER_MAP.items()})
    expected = {k: v.shape for k, v in RoFormerV2(cfg, init=False).state_dict().items()}
    out, problems = {}, []
    for ours, name in mapping.items():
        if name not in theirs:
            problems.append(f"missing tensor {name}")
            continue
        t = theirs[name]
        if t.shape != expected[ours]:
            problems.append(f"mis-shaped tensor {name} (file {list(t.shape)}, model {list(expected[ours])})")
        out[ours] = t.float().contiguous()
    used = set(mapping.values())
    for name in sorted(set(theirs) - used):
        if name == SINUSOID:
            problems += _check_sinusoid(theirs[name], cfg.head_size)
        elif name == MLM_HEAD:
            token = theirs.get(EMBEDDING_MAP["embeddings.token.weight"])
            if token is None or theirs[name].shape != token.shape or not torch.equal(theirs[name], token):
                problems.append(f"{name} is not tied to the token embedding; an untied MLM head is not RoFormerV2's")
        else:
            problems.append(f"unexpected tensor {'roformer.' if prefixed and not name.startswith('cls.') else ''}"
                            f"{name}")
    if problems:
        raise ValueError(f"{where}: does not map onto RoFormerV2: {'; '.join(problems)}")
    return out


def import_hf(src: str | Path, out_dir: str | Path) -> Path:
    """Convert an HF RoFormerV2 folder into a kexue folder (model.safetensors, config.json, vocab.txt)."""
    src, out_dir = Path(src), Path(out_dir)
    config_file = src / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{src}: no config.json; pass the folder JunnYu's roformer save_pretrained wrote")
    cfg = config_from_hf(json.loads(config_file.read_text(encoding="utf-8")), str(config_file))
    tensors, file = read_hf_weights(src)
    state = hf_to_kexue(tensors, cfg, str(file))
    model = RoFormerV2(cfg, init=False)
    model.load_state_dict(state, strict=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, out_dir / "model.safetensors", {"source": str(src)})
    # the checkpoint's own tokenizer, as it reads text: no NFKC of ours, its own lowercasing
    files = [f for f in ("vocab.txt", TOKENIZER_FILE, CONFIG_FILE, "special_tokens_map.json") if (src / f).is_file()]
    for f in files:
        shutil.copyfile(src / f, out_dir / f)
    kind = "hf" if TOKENIZER_FILE in files else "wordpiece"
    lowercase = bool(read_json_object(src / CONFIG_FILE).get("do_lower_case", True))
    write_json(out_dir / "config.json", {"model": to_dict(cfg), "tokenizer": kind, "lowercase": lowercase,
                                         "nfkc": False, "source": str(src)})
    return out_dir


def kexue_to_hf(state: dict[str, Tensor], cfg: RoFormerV2Config, max_positions: int) -> dict[str, Tensor]:
    """Our state dict under JunnYu's names, plus the sinusoid table and the (tied) MLM head."""
    from kexue.nn.rope import rope_tables
    theirs = {"roformer." + t: state[k] for k, t in EMBEDDING_MAP.items()}
    for i in range(cfg.num_layers):
        theirs.update({"roformer." + t.format(i=i): state[f"layers.{i}.{k}"] for k, t in LAYER_MAP.items()})
    cos, sin = rope_tables(max_positions, cfg.head_size, 10000.0)
    # the table HF keeps for RoPE: row m = [sin(mθ_k) | cos(mθ_k)], θ_k = 10000^(−2k/d)
    theirs["roformer." + SINUSOID] = torch.cat([sin, cos], dim=1)
    theirs[MLM_HEAD] = state["embeddings.token.weight"].clone()  # tied: the same values, stored twice
    return {k: v.detach().float().contiguous() for k, v in theirs.items()}


def export_hf(src: str | Path, out_dir: str | Path, max_positions: int = 512, ema: bool = False) -> Path:
    """Write a kexue RoFormerV2 folder (pretrain, finetune's encoder or import output) in the HF format of
    JunnYu's `roformer` (RoFormerForMaskedLM); `import_hf` of the result gives the same model back."""
    from safetensors.torch import save_file
    src, out_dir = Path(src), Path(out_dir)
    cfg, data = read_config(src)
    model = load_pretrained(src, ema=ema)
    hf = {"architectures": ["RoFormerV2ForMaskedLM"], "model_type": "roformer_v2", "auto_map": AUTO_MAP,
          "vocab_size": cfg.vocab_size,
          "hidden_size": cfg.hidden_size, "embedding_size": cfg.hidden_size, "num_hidden_layers": cfg.num_layers,
          "num_attention_heads": cfg.num_heads, "intermediate_size": cfg.intermediate_size,
          "type_vocab_size": cfg.segment_vocab_size, "hidden_dropout_prob": cfg.dropout,
          "attention_probs_dropout_prob": cfg.attention_dropout, "layer_norm_eps": cfg.eps,
          "pad_token_id": cfg.pad_id, "max_position_embeddings": max_positions, "initializer_range": 0.02,
          "rotary_value": False, **{k: want for k, (want, _) in REQUIRED.items()}}
    tensors = kexue_to_hf(model.state_dict(), cfg, max_positions)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt", "source": str(src)})
    write_json(out_dir / "config.json", hf)
    shutil.copyfile(REMOTE_CODE, out_dir / REMOTE_CODE.name)
    if (src / "vocab.txt").is_file():
        shutil.copyfile(src / "vocab.txt", out_dir / "vocab.txt")
        export_tokenizer(load_tokenizer(src), out_dir)
    return out_dir


def read_config(folder: str | Path) -> tuple[RoFormerV2Config, dict[str, Any]]:
    """The RoFormerV2Config of a kexue folder (imported or a pretraining run) and the whole config.json."""
    file = Path(folder) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"{folder}: no config.json; is this a kexue roformer folder?")
    data = json.loads(file.read_text(encoding="utf-8"))
    model = data.get("model") or (data.get("run") or {}).get("model")
    if not isinstance(model, dict):
        raise ValueError(f"{file}: no 'model' (or 'run.model') entry with a RoFormerV2Config")
    return from_dict(RoFormerV2Config, model).check(), data


def load_pretrained(folder: str | Path, ema: bool = False) -> RoFormerV2:
    """A RoFormerV2 with the weights of a kexue folder, strictly loaded, in eval mode."""
    cfg, _ = read_config(folder)
    model = RoFormerV2(cfg, init=False)
    load_model(model, folder, ema=ema)
    return model.eval()


def load_tokenizer(folder: str | Path):
    """The tokenizer saved beside a kexue RoFormerV2: char, WordPiece or a tokenizer.json, per config.json.

    A WordPiece vocabulary kexue pretrained was built with NFKC and lowercase, and is read so; one an
    HF checkpoint brought in (`import_hf`: config.json has its "source") is read as its own tokenizer
    reads it, with no NFKC of ours (kexue/data/hf_tokenizer.py)."""
    _, data = read_config(folder)
    kind = data.get("tokenizer") or (data.get("run") or {}).get("tokenizer", "char")
    return folder_tokenizer(folder, kind, lowercase=data.get("lowercase"), nfkc=data.get("nfkc", "source" not in data))[0]


def _check_sinusoid(table: Tensor, head_size: int) -> list[str]:
    """The HF sinusoid table must be [sin(mθ_k) | cos(mθ_k)], θ_k = 10000^(−2k/d), as RoPE uses."""
    from kexue.nn.rope import rope_tables
    if table.dim() != 2 or table.shape[1] != head_size:
        return [f"{SINUSOID} has shape {list(table.shape)}, expected [positions, {head_size}]"]
    cos, sin = rope_tables(table.shape[0], head_size, 10000.0)
    if not torch.allclose(table.float(), torch.cat([sin, cos], dim=1), atol=1e-4):
        return [f"{SINUSOID} is not the RoPE table with base 10000"]
    return []
