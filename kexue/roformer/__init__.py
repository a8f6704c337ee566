"""RoFormerV2 (kexue.fm/archives/8998): the encoder, its init (8620), whole-word MLM pretraining,
fine-tuning, fill-mask and strict import of JunnYu `roformer` checkpoints.

    from kexue.roformer import RoFormerV2, preset, load_pretrained
    model = RoFormerV2(preset("small"))      # 15,225,600 parameters, no bias, no norm parameter
    h = model(ids)                           # [b, n, 384]; ids == 0 are padding, masked out
    logits = model.mlm_logits(h)             # [b, n, 12000], tied to the token embedding
    model = load_pretrained("runs/roformer-imported")   # a `kexue roformer import` or pretrain folder

Training: kexue.roformer.pretrain.pretrain, kexue.roformer.finetune.finetune; fill-mask:
kexue.roformer.fill_mask.fill_mask.
"""
from typing import TYPE_CHECKING

from kexue.lazy import exports

if TYPE_CHECKING:  # the names, for type checkers and editors
    from kexue.roformer.checkpoint import import_hf, load_pretrained, load_tokenizer
    from kexue.roformer.config import PARAMS, SIZES, RoFormerV2Config, bert_variant, count_params, preset
    from kexue.roformer.init import init_std, init_weights, residual_alpha
    from kexue.roformer.model import RoFormerV2

__getattr__, __dir__ = exports(__name__, {
    "import_hf": "checkpoint",
    "load_pretrained": "checkpoint",
    "load_tokenizer": "checkpoint",
    "PARAMS": "config",
    "SIZES": "config",
    "RoFormerV2Config": "config",
    "bert_variant": "config",
    "count_params": "config",
    "preset": "config",
    "init_std": "init",
    "init_weights": "init",
    "residual_alpha": "init",
    "RoFormerV2": "model",
})

__all__ = ["PARAMS", "SIZES", "RoFormerV2", "RoFormerV2Config", "bert_variant", "count_params", "import_hf",
           "init_std", "init_weights", "load_pretrained", "load_tokenizer", "preset", "residual_alpha"]
