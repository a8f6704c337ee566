"""The KV cache of greedy generation (kexue.fm/archives/9529): preallocated buffers and a lean one-token step.

A decoder-only (or prefix-LM) model that has read `input [SEP] y_1 … y_{t−1}` keeps every layer's
keys and values; the next token only adds its own row. `KVCache` holds them in buffers
[b, heads, n_max, head_size] allocated once for the whole generation and written in place (no
torch.cat growing the cache a token at a time). The prefix runs once through the model's own Blocks
(`LayerKV` is what `Block(cache=...)` writes into); each later token runs `DecodeStep`, the same
formulas as the Blocks written out on tensors fetched once:

    x ← x + W_o · softmax(q Kᵀ/√d) V        q, k = RoPE_t(y W_q), RoPE_t(y W_k), v = y W_v, y = RMSNorm(x)
    x ← x + W_o' · softmax(q' K_memᵀ/√d) V_mem      (encoder-decoder: cross-attention on the memory)
    x ← x + W_2 GELU(W_1 RMSNorm(x))

with q, k, v from one matmul on the stacked [W_q; W_k; W_v], the rotation e^{i t θ_k} of position t
read from a table built once, no mask (the new token sees every cached position: after the prefix,
decoder-only and prefix-LM agree), and no nn.Module dispatch. What this saves is per-token Python
and allocation overhead, which at batch 1 is most of a small model's time.

Where we depart: nothing of the post (which names no cache); the step is inference only (no dropout,
no autograd), and equal to the uncached forward up to floating-point rounding of the fused q, k, v
matmul (tests/decoder_only/test_model.py checks hidden states to 1e-12 in float64 and tokens exactly).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kexue.nn.rope import rope_tables


class LayerKV:
    """One layer's K, V buffers [b, heads, n_max, head_size]; positions 0..length−1 are filled."""

    def __init__(self, k: Tensor, v: Tensor):
        self.k, self.v, self.length = k, v, 0

    def write(self, k: Tensor, v: Tensor, offset: int) -> tuple[Tensor, Tensor]:
        """Store k, v [b, heads, n, head_size] at positions offset..offset+n−1; return all keys and values
        0..offset+n−1 (views of the buffers)."""
        end = offset + k.shape[2]
        if end > self.k.shape[2]:
            raise ValueError(f"KV cache holds {self.k.shape[2]} positions, asked to write up to {end}")
        self.k[:, :, offset:end] = k
        self.v[:, :, offset:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


class KVCache:
    """Every layer's LayerKV, allocated once for n_max positions."""

    def __init__(self, layers: int, b: int, heads: int, n_max: int, head_size: int, dtype: torch.dtype,
                 device: torch.device | str | None = None):
        k = torch.empty(layers, b, heads, n_max, head_size, dtype=dtype, device=device)
        v = torch.empty_like(k)
        self.layers = [LayerKV(k[i], v[i]) for i in range(layers)]

    def __getitem__(self, i: int) -> LayerKV:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)


def cached_self_attention(mha, x: Tensor, mask: Tensor | None, offset: int, cache: LayerKV) -> Tensor:
    """MultiHeadAttention's formula for new positions offset..offset+n−1 of x [b, n, hidden], their keys and
    values written into `cache` and attended together with the earlier ones."""
    from kexue.nn.attention import attention

    b, n, _ = x.shape
    q, k, v = (proj(x).view(b, n, mha.heads, mha.head_size).transpose(1, 2) for proj in (mha.q, mha.k, mha.v))
    if mha.rope is not None:
        q, k = mha.rope(q, offset), mha.rope(k, offset)
    k, v = cache.write(k, v, offset)
    out = attention(q, k, v, mask)
    return mha.o(out.transpose(1, 2).reshape(b, n, mha.heads * mha.head_size))


class DecodeStep:
    """One new token through every block of `model` (a Seq2SeqModel in eval mode), reading and extending
    `cache`; `memory_kv` are the decoder blocks' cross-attention K, V (encoder-decoder) or Nones."""

    def __init__(self, model, cache: KVCache, memory_kv: list, n_max: int):
        blocks = model.blocks
        attn = blocks[0].attn
        self.heads, self.d = attn.heads, attn.head_size
        self.cache, self.embed = cache, model.embed.weight
        # the output rows of the tied embedding: logits = h E_outᵀ
        self.out_embed = model.embed.weight[:model.n_output]
        self.norm = (model.norm.gain, model.norm.eps)
        dtype = self.embed.dtype
        table = torch.float64 if dtype == torch.float64 else torch.float32
        self.rot = None
        if attn.rope is not None:
            cos, sin = rope_tables(n_max, self.d, attn.rope.base, self.embed.device, table)
            # e^{i t θ_k} per position t, as RoPE multiplies the pairs z_k = x_2k + i x_2k+1
            self.rot = torch.complex(cos.to(dtype), sin.to(dtype))
        self.layers = []
        for block, kv in zip(blocks, memory_kv):
            a = block.attn
            layer = {"g1": (block.norm1.gain, block.norm1.eps), "g2": (block.norm2.gain, block.norm2.eps),
                     # [W_q; W_k; W_v]: one matmul for the three projections
                     "wqkv": torch.cat((a.q.weight, a.k.weight, a.v.weight)), "wo": a.o.weight,
                     "w1": block.ffn[0].weight, "w2": block.ffn[2].weight, "cross": None}
            if block.cross is not None:
                layer["cross"] = (block.norm_cross.gain, block.norm_cross.eps, block.cross.q.weight,
                                  block.cross.o.weight, kv[0], kv[1])
            self.layers.append(layer)

    def __call__(self, token: Tensor, t: int) -> Tensor:
        """token [b] at position t → the logits [b, n_output] of the token after it."""
        b, h, d = token.shape[0], self.heads, self.d
        x = F.embedding(token[:, None], self.embed)  # [b, 1, hidden]
        for layer, kv in zip(self.layers, self.cache.layers):
            qkv = F.linear(_rms(x, *layer["g1"]), layer["wqkv"]).view(b, 3 * h, 1, d)
            qk, v = qkv[:, :2 * h], qkv[:, 2 * h:]
            if self.rot is not None:
                # (x_2k + i x_2k+1) · e^{i t θ_k} on q and k together
                z = torch.view_as_complex(qk.unflatten(-1, (-1, 2)).contiguous())
                qk = torch.view_as_real(z * self.rot[t]).flatten(-2)
            q, k = qk[:, :h], qk[:, h:]
            keys, values = kv.write(k, v, t)
            # softmax(q Kᵀ/√d) V over positions 0..t: nothing to mask
            out = F.scaled_dot_product_attention(q, keys, values)
            x = x + F.linear(out.view(b, 1, h * d), layer["wo"])
            if layer["cross"] is not None:
                g, eps, wq, wo, mk, mv = layer["cross"]
                qc = F.linear(_rms(x, g, eps), wq).view(b, 1, h, d).transpose(1, 2)
                # every memory position is real (generate takes unpadded inputs): no mask
                out = F.scaled_dot_product_attention(qc, mk, mv)
                x = x + F.linear(out.transpose(1, 2).reshape(b, 1, h * d), wo)
            # x ← x + W_2 GELU(W_1 RMSNorm(x))
            x = x + F.linear(F.gelu(F.linear(_rms(x, *layer["g2"]), layer["w1"])), layer["w2"])
        return F.linear(_rms(x[:, 0], *self.norm), self.out_embed)


def _rms(x: Tensor, gain: Tensor | None, eps: float) -> Tensor:
    # y = x / sqrt(mean(x²) + ε) · g   (RMSNorm's formula, float32/float64 inputs)
    y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    return y if gain is None else y * gain

