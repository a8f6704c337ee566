"""RoFormerV2 for transformers, shipped beside a `kexue roformer export` folder as remote code.

kexue.fm/archives/8998. transformers has RoFormer v1 only (LayerNorm with γ and β, biases, GELU), which
loads a RoFormerV2 checkpoint with tensors missing and wrong outputs. This file is the V2 model itself,
self-contained (torch and transformers only), under the tensor names of JunnYu's `roformer` package, so
that the same model.safetensors serves both loaders:

    from transformers import AutoModel, AutoModelForMaskedLM
    model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True)

    h₀ = Norm(E_token[ids] + E_segment[segment_ids])            (no absolute positions)
    x  = Norm(x + MHA(x))      MHA: q, k rotated by RoPE (interleaved pairs, base 10000), v not
    x  = Norm(x + W₂ relu(W₁ x))
    logits = h E_tokenᵀ                                         (the MLM head is the tied embedding)
with Norm(x) = x / sqrt(mean(x²) + ε) (no γ, no β) and no bias anywhere. Padding (attention_mask = 0,
or ids == pad_token_id when no mask is given, as kexue and bert4keras do) is never attended to.
Dropout is left out: this is for inference and fine-tuning from the released weights.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput


class RoFormerV2Config(PretrainedConfig):
    model_type = "roformer_v2"

    def __init__(self, vocab_size=12000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, type_vocab_size=2, max_position_embeddings=512, layer_norm_eps=1e-12,
                 pad_token_id=0, rotary_base=10000.0, **kwargs):
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.num_hidden_layers, self.num_attention_heads = num_hidden_layers, num_attention_heads
        self.intermediate_size, self.type_vocab_size = intermediate_size, type_vocab_size
        self.max_position_embeddings, self.layer_norm_eps = max_position_embeddings, layer_norm_eps
        self.rotary_base = rotary_base


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    # Norm(x) = x / sqrt(mean(x²) + ε), statistics in float32
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Interleaved pairs (x_2k, x_2k+1) of x [b, h, n, d] rotated by m·θ_k (cos, sin [n, d/2])."""
    pairs = x.unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    # y_2k = x_2k cos − x_2k+1 sin ;  y_2k+1 = x_2k+1 cos + x_2k sin
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)


class Embeddings(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)


class SelfAttention(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)


class AttentionOutput(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)


class Attention(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.self, self.output = SelfAttention(cfg), AttentionOutput(cfg)
        self.heads = cfg.num_attention_heads
        self.head_size = cfg.hidden_size // cfg.num_attention_heads

    def forward(self, x, keep, cos, sin):
        b, n, _ = x.shape
        q, k, v = (p(x).view(b, n, self.heads, self.head_size).transpose(1, 2)
                   for p in (self.self.query, self.self.key, self.self.value))
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        # softmax(q kᵀ / √d) v over the real tokens
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size)
        scores = scores.masked_fill(~keep[:, None, None, :], torch.finfo(scores.dtype).min)
        out = scores.softmax(-1) @ v
        return self.output.dense(out.transpose(1, 2).reshape(b, n, -1))


class Dense(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out, bias=False)


class Layer(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.attention = Attention(cfg)
        self.intermediate = Dense(cfg.hidden_size, cfg.intermediate_size)
        self.output = Dense(cfg.intermediate_size, cfg.hidden_size)
        self.eps = cfg.layer_norm_eps

    def forward(self, x, keep, cos, sin):
        # x = Norm(x + MHA(x)) ;  x = Norm(x + W₂ relu(W₁ x))
        x = rms_norm(x + self.attention(x, keep, cos, sin), self.eps)
        return rms_norm(x + self.output.dense(F.relu(self.intermediate.dense(x))), self.eps)


class Encoder(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))
        d = cfg.hidden_size // cfg.num_attention_heads
        # JunnYu's layout of the sinusoid table, row m = [sin(mθ_k) | cos(mθ_k)], θ_k = base^(−2k/d)
        theta = cfg.rotary_base ** (-2.0 * torch.arange(d // 2, dtype=torch.float64) / d)
        angle = torch.arange(cfg.max_position_embeddings, dtype=torch.float64)[:, None] * theta
        self.embed_positions = nn.Embedding(cfg.max_position_embeddings, d)
        self.embed_positions.weight.data = torch.cat([angle.sin(), angle.cos()], 1).float()
        self.embed_positions.weight.requires_grad_(False)


class RoFormerV2PreTrainedModel(PreTrainedModel):
    config_class = RoFormerV2Config
    base_model_prefix = "roformer"

    def _init_weights(self, module):  # the released weights are loaded over this
        if isinstance(module, (nn.Linear, nn.Embedding)) and module is not getattr(
                getattr(self, "encoder", None), "embed_positions", None):
            module.weight.data.normal_(0.0, 0.02)


class RoFormerV2Model(RoFormerV2PreTrainedModel):
    def __init__(self, config: RoFormerV2Config):
        super().__init__(config)
        self.embeddings, self.encoder = Embeddings(config), Encoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
        n = input_ids.shape[1]
        keep = (input_ids != self.config.pad_token_id) if attention_mask is None else attention_mask.bool()
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        # h₀ = Norm(E_token[ids] + E_segment[segment_ids])
        h = self.embeddings.word_embeddings(input_ids) + self.embeddings.token_type_embeddings(token_type_ids)
        h = rms_norm(h, self.config.layer_norm_eps)
        table = self.encoder.embed_positions.weight[:n]
        sin, cos = table.chunk(2, dim=-1)
        for layer in self.encoder.layer:
            h = layer(h, keep, cos.to(h.dtype), sin.to(h.dtype))
        return BaseModelOutput(last_hidden_state=h)


class Predictions(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)


class Head(nn.Module):
    def __init__(self, cfg: RoFormerV2Config):
        super().__init__()
        self.predictions = Predictions(cfg)


class RoFormerV2ForMaskedLM(RoFormerV2PreTrainedModel):
    _tied_weights_keys = {"cls.predictions.decoder.weight": "roformer.embeddings.word_embeddings.weight"}

    def __init__(self, config: RoFormerV2Config):
        super().__init__(config)
        self.roformer, self.cls = RoFormerV2Model(config), Head(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        h = self.roformer(input_ids, attention_mask, token_type_ids).last_hidden_state
        # logits = h E_tokenᵀ (the tied embedding)
        logits = self.cls.predictions.decoder(h)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=(h,))
