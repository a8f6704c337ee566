"""Post 8998's residual warm-up against no warm-up and ReZero, pretrained the same way.

kexue.fm/archives/8998: training Post-Norm from scratch is hard, so RoFormerV2 uses

    x_{t+1} = Norm(x_t + α F(x_t)),   α fixed, 0 at the start and raised linearly to 1,

"like ReZero, except that ReZero's α is trainable and it drops the Norm; in our experiments ours ends
better than ReZero". The three schemes compared here, on the same model, data, seed and steps:

    ramp     α_t = min(1, t / ramp)                    (pretrain.py's `alpha_ramp`)
    none     α = 1 throughout                          (the plain Post-Norm RoFormerV2)
    rezero   x_{t+1} = x_t + α_l F(x_t), α_l trainable from 0, one per block and branch, no Norm

Where we depart: ReZero (Bachlechner et al. 2020) has one α per layer; we give attention and FFN their
own, as RoFormerV2's block has two residual branches. The post gives no ramp length; the preset names one.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from kexue.data.unigram import unigram_loss
from kexue.roformer.config import RoFormerV2Config
from kexue.roformer.mlm import MLMDataset, collate, encode_words, mlm_loss
from kexue.roformer.model import RoFormerV2
from kexue.roformer.pretrain import PretrainConfig, _mlm_eval, build_tokenizer, pretrain, read_corpus
from kexue.train import Trainer

Scheme = Literal["ramp", "none", "rezero"]
SCHEMES: tuple[str, ...] = ("ramp", "none", "rezero")


class ReZeroRoFormerV2(RoFormerV2):
    """RoFormerV2 with ReZero residuals: no Norm in the blocks, a trainable α per branch starting at 0."""

    def __init__(self, cfg: RoFormerV2Config | None = None, init: bool = True):
        super().__init__(cfg, init)
        for layer in self.layers:  # ReZero drops the Norm (RoFormerV2's has no parameters to lose)
            layer.attention_norm, layer.ffn_norm = nn.Identity(), nn.Identity()
        self.rezero_alpha = nn.Parameter(torch.zeros(self.cfg.num_layers, 2))

    def forward(self, ids: Tensor, segment_ids: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        attn_mask = self.attention_mask(ids, mask)
        h = self.embeddings(ids, segment_ids)
        for layer, alpha in zip(self.layers, self.rezero_alpha):
            # x ← x + α_attn · Drop(MHA(x))
            h = h + alpha[0] * layer.dropout(layer.attention(h, attn_mask))
            # x ← x + α_ffn · Drop(FFN(x))
            h = h + alpha[1] * layer.dropout(layer.ffn(h))
        return h


def pretrain_scheme(cfg: PretrainConfig, scheme: Scheme, ramp: int, out_dir: str | Path,
                    progress: bool = False) -> dict[str, Any]:
    """Pretrain with one residual scheme; the Trainer's summary with held-out `eval/mlm_loss`."""
    if scheme == "ramp":
        if ramp < 1:
            raise ValueError(f"pretrain_scheme: the ramp scheme needs ramp ≥ 1 steps, got {ramp}")
        return pretrain(replace(cfg, alpha_ramp=ramp), out_dir, progress=progress)
    if scheme == "none":
        return pretrain(replace(cfg, alpha_ramp=0), out_dir, progress=progress)
    if scheme != "rezero":
        raise ValueError(f"pretrain_scheme: scheme={scheme!r} is not one of {', '.join(SCHEMES)}")
    # pretrain.py's pipeline with the ReZero model: same corpus, tokenizer, masking, held-out set, seed
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    words = read_corpus(cfg.corpus, cfg.max_texts)
    tokenizer = build_tokenizer(cfg, words, out_dir)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id))
    word_ids = [encode_words(ws, tokenizer) for ws in words]
    train = MLMDataset(word_ids[:-cfg.eval_texts], tokenizer, cfg.max_len, cfg.masking)
    held_out = MLMDataset(word_ids[-cfg.eval_texts:], tokenizer, cfg.max_len, cfg.masking,
                          generator=torch.Generator().manual_seed(12345))
    eval_batches = [collate([held_out[j] for j in range(i, min(i + 32, len(held_out)))], tokenizer.pad_id)
                    for i in range(0, len(held_out), 32)]
    torch.manual_seed(cfg.train.seed)
    model = ReZeroRoFormerV2(cfg.model)
    trainer = Trainer(model, cfg.train, train, mlm_loss, out_dir, collate_fn=lambda b: collate(b, tokenizer.pad_id),
                      eval_fn=_mlm_eval(eval_batches), run_config=cfg, progress=progress,
                      count_tokens=lambda b: int(b["mask"].sum()))
    summary = trainer.fit()
    summary["params"] = model.num_params()
    return summary


def unigram_mlm_loss(cfg: PretrainConfig) -> float:
    """The floor an MLM must beat: −mean log p(c) of the held-out texts' characters under the training
    texts' character frequencies (add-one), nats per character (a masked target is a character)."""
    words = read_corpus(cfg.corpus, cfg.max_texts)
    texts = ["".join(w) for w in words]
    train = "".join(texts[:-cfg.eval_texts])
    # V = the training characters and one more for every character it never saw
    return unigram_loss(train, "".join(texts[-cfg.eval_texts:]), len(set(train)) + 1)
