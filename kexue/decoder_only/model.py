"""One harness for the three architectures of post 9529, the mask as data.

kexue.fm/archives/9529 puts them in one picture: the input is the "encoder" part, the output the
"decoder" part, and the models differ only in who sees whom and which weights are shared:

    decoder   (GPT)    one stack, causal over input and output              mask: causal_mask
    prefix    (UniLM)  one stack, bidirectional over the input, causal      mask: prefix_mask(n, |input| + 1)
                       over the output, the same weights
    encdec    (T5)     a bidirectional encoder stack and a causal decoder stack with cross-attention:
                       separate weights, about 2× the parameters at the same depth and width

A decoder-only or prefix-LM example is one sequence `input [SEP] output [EOS]`; position t predicts
token t+1, and the loss is taken on the output part only (the positions from [SEP] on), as in the
post's experiment. The encoder-decoder reads `input` in the encoder and `[SEP] output` in the
decoder. Blocks are pre-norm: x ← x + Attn(RMSNorm(x)) (+ CrossAttn(RMSNorm(x), memory)) +
FFN(RMSNorm(x)), with RoPE on self-attention, GELU FFN, no biases, and the output projection tied
to the (shared) token embedding.

Generation is greedy. `generate(..., cache=True)` keeps each layer's K, V (a KV cache): the
prefix `input [SEP]` runs once under its mask (bidirectional inside it for the prefix-LM: the
output never changes what the input sees), then each new token attends to the cache (cache.py:
buffers allocated once, written in place, and a lean one-token step). `cache=False` re-runs the
whole sequence under the mask for every token: the reference the cache must equal.

Where we depart: the post gives no architecture beyond "same model, different mask" (its GPT and
UniLM are 1B models); the block is kexue's usual one (kexue/nn), sized by `ModelConfig`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.decoder_only.cache import DecodeStep, KVCache, LayerKV, cached_self_attention
from kexue.nn.attention import CrossAttention, MultiHeadAttention, causal_mask, padding_mask, prefix_mask
from kexue.nn.norm import RMSNorm

Arch = Literal["decoder", "prefix", "encdec"]
ARCHS: tuple[str, ...] = ("decoder", "prefix", "encdec")


@dataclass
class ModelConfig:
    arch: str = "decoder"  # decoder | prefix | encdec
    hidden: int = 64
    layers: int = 2  # blocks per stack (the encoder-decoder has two stacks)
    heads: int = 4
    head_size: int | None = None  # hidden / heads by default
    ffn_mult: int = 4  # FFN width = ffn_mult · hidden
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"ModelConfig.arch={self.arch!r}: choose one of {', '.join(ARCHS)}")
        for name in ("hidden", "layers", "heads", "ffn_mult"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"ModelConfig.{name}={getattr(self, name)!r}: must be a positive integer")
        hs = self.head_size or (self.hidden // self.heads)
        if self.head_size is None and self.hidden % self.heads:
            raise ValueError(f"ModelConfig.hidden={self.hidden} is not divisible by heads={self.heads}")
        if hs % 2:
            raise ValueError(f"ModelConfig: head size {hs} must be even (RoPE rotates pairs)")


class Block(nn.Module):
    """Pre-norm block: self-attention (RoPE), optional cross-attention, FFN; all residual."""

    def __init__(self, cfg: ModelConfig, cross: bool = False):
        super().__init__()
        h = cfg.hidden
        self.norm1 = RMSNorm(h, eps=1e-6)
        self.attn = MultiHeadAttention(h, cfg.heads, cfg.head_size, bias=False, rope=True, dropout=cfg.dropout)
        self.cross = CrossAttention(h, cfg.heads, cfg.head_size, bias=False, dropout=cfg.dropout) if cross else None
        self.norm_cross = RMSNorm(h, eps=1e-6) if cross else None
        self.norm2 = RMSNorm(h, eps=1e-6)
        self.ffn = nn.Sequential(nn.Linear(h, cfg.ffn_mult * h, bias=False), nn.GELU(),
                                 nn.Linear(cfg.ffn_mult * h, h, bias=False))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor | None, offset: int = 0, cache: LayerKV | None = None,
                memory_kv: tuple[Tensor, Tensor] | None = None, memory_mask: Tensor | None = None) -> Tensor:
        y = self.norm1(x)
        # x ← x + SelfAttn(RMSNorm(x))
        x = x + self.drop(self.attn(y, mask, offset) if cache is None else cached_self_attention(
            self.attn, y, mask, offset, cache))
        if self.cross is not None:
            # x ← x + CrossAttn(RMSNorm(x), memory)
            x = x + self.drop(self.cross(self.norm_cross(x), kv=memory_kv, mask=memory_mask))
        # x ← x + FFN(RMSNorm(x))
        return x + self.drop(self.ffn(self.norm2(x)))


class Seq2SeqModel(nn.Module):
    """decoder / prefix: one stack over `input [SEP] output`; encdec: encoder over input, decoder over
    `[SEP] output`. `hidden_states` gives the last layer (normed); `logits` projects on the tied embedding."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, n_output: int | None = None):
        super().__init__()
        # the softmax runs over the first n_output ids (the output vocabulary), all by default
        self.cfg, self.vocab_size, self.n_output = cfg, vocab_size, n_output or vocab_size
        self.embed = nn.Embedding(vocab_size, cfg.hidden)
        nn.init.normal_(self.embed.weight, std=cfg.hidden ** -0.5)
        cross = cfg.arch == "encdec"
        self.blocks = nn.ModuleList(Block(cfg, cross=cross) for _ in range(cfg.layers))
        self.encoder = nn.ModuleList(Block(cfg) for _ in range(cfg.layers)) if cross else None
        self.norm = RMSNorm(cfg.hidden, eps=1e-6)
        self.enc_norm = RMSNorm(cfg.hidden, eps=1e-6) if cross else None

    # --- training forward ---

    def mask(self, n: int, prefix_len: Tensor | None = None) -> Tensor:
        """The self-attention mask of the single stack (decoder, prefix) or the decoder stack (encdec)."""
        if self.cfg.arch == "prefix":
            if prefix_len is None:
                raise ValueError("the prefix-LM needs prefix_len [b] (the length of `input [SEP]`)")
            return prefix_mask(n, prefix_len)
        return causal_mask(n)

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder output [b, m, hidden] and its key padding mask [b, 1, 1, m] (encdec only)."""
        key_mask = padding_mask(src_len, src.shape[1])
        x = self.embed(src)
        for block in self.encoder:
            # bidirectional over the real input positions
            x = block(x, key_mask)
        return self.enc_norm(x), key_mask

    def hidden_states(self, ids: Tensor, prefix_len: Tensor | None = None, src: Tensor | None = None,
                      src_len: Tensor | None = None) -> Tensor:
        """ids [b, n] → [b, n, hidden]; encdec also takes the encoder's src [b, m] and src_len [b]."""
        n = ids.shape[1]
        mask = self.mask(n, prefix_len).to(ids.device)
        memory_kv, memory_mask = [None] * len(self.blocks), None
        if self.cfg.arch == "encdec":
            if src is None or src_len is None:
                raise ValueError("the encoder-decoder needs src [b, m] and src_len [b]")
            memory, memory_mask = self.encode(src, src_len)
            memory_kv = [block.cross.memory_kv(memory) for block in self.blocks]
        x = self.embed(ids)
        for block, kv in zip(self.blocks, memory_kv):
            x = block(x, mask, memory_kv=kv, memory_mask=memory_mask)
        return self.norm(x)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """The training forward: (mean loss, per-token losses, hits) of the cross-entropy on the output part
        only. The logits are computed there alone (the vocabulary projection of the input is wasted work)."""
        h = self.hidden_states(batch["ids"], batch.get("prefix_len"), batch.get("src"), batch.get("src_len"))
        labels = batch["labels"]
        keep = labels >= 0
        logits = self.logits(h[keep])
        target = labels[keep]
        losses = F.cross_entropy(logits, target, reduction="none")
        return losses.mean(), losses, logits.argmax(-1) == target

    def logits(self, h: Tensor) -> Tensor:
        # logits = h E_outᵀ (tied embedding, output rows only)
        return h @ self.embed.weight[:self.n_output].T

    # --- generation ---

    @torch.no_grad()
    def generate(self, src: Tensor, max_new: int, sep_id: int, eos_id: int, cache: bool = True) -> Tensor:
        """Greedy decoding of the output for src [b, m] (every row a real input of length m, no padding);
        returns [b, max_new] token ids, positions after an [EOS] filled with [EOS]. Runs in eval mode
        (no dropout) and restores the model's mode."""
        was = self.training
        self.eval()
        try:
            return self._generate(src, max_new, sep_id, eos_id, cache)
        finally:
            self.train(was)

    def _generate(self, src: Tensor, max_new: int, sep_id: int, eos_id: int, cache: bool) -> Tensor:
        b, m = src.shape
        sep = torch.full((b, 1), sep_id, dtype=src.dtype, device=src.device)
        out = torch.full((b, max_new), eos_id, dtype=src.dtype, device=src.device)
        done = torch.zeros(b, dtype=torch.bool, device=src.device)
        if self.cfg.arch == "encdec":
            memory, memory_mask = self.encode(src, torch.full((b,), m, device=src.device))
            memory_kv = [block.cross.memory_kv(memory) for block in self.blocks]
            seq, start = sep, 0
        else:
            memory_kv, memory_mask = [None] * len(self.blocks), None
            seq, start = torch.cat((src, sep), 1), m + 1
        if cache:
            # the prefix (`input [SEP]`, or encdec's [SEP]) once through the blocks, under its mask
            n_max = seq.shape[1] + max_new
            attn = self.blocks[0].attn
            kv = KVCache(len(self.blocks), b, attn.heads, n_max, attn.head_size, self.embed.weight.dtype,
                         src.device)
            x, mask = self.embed(seq), self._step_mask(seq.shape[1], 0, start, src.device)
            for block, mem, c in zip(self.blocks, memory_kv, kv):
                x = block(x, mask, cache=c, memory_kv=mem, memory_mask=memory_mask)
            logits, step = self.logits(self.norm(x[:, -1])), DecodeStep(self, kv, memory_kv, n_max)
        for t in range(max_new):
            if not cache:
                n = seq.shape[1]
                prefix = torch.full((b,), start, device=src.device) if self.cfg.arch == "prefix" else None
                mask, x = self.mask(n, prefix).to(src.device), self.embed(seq)
                for block, mem in zip(self.blocks, memory_kv):
                    x = block(x, mask, memory_kv=mem, memory_mask=memory_mask)
                logits = self.logits(self.norm(x[:, -1]))
            token = logits.argmax(-1)
            token = torch.where(done, torch.full_like(token, eos_id), token)
            out[:, t] = token
            done |= token == eos_id
            if t + 1 == max_new or done.all():
                break
            if cache:
                # the new token at position seq_len + t: one lean step through every layer's cache
                logits = step(token, seq.shape[1] + t)
            else:
                seq = torch.cat((seq, token[:, None]), 1)
        return out

    def _step_mask(self, n: int, fed: int, start: int, device: torch.device) -> Tensor | None:
        """Mask of the new queries fed..n−1 over the keys 0..n−1 of a cached step."""
        if fed > 0:
            return None  # new output tokens only: each sees everything before it
        if self.cfg.arch == "prefix":
            return prefix_mask(n, start, device)  # the first pass is the prefix itself (or encdec's [SEP])
        return causal_mask(n, device)


@torch.no_grad()
def attention_qk(model: Seq2SeqModel, ids: Tensor, prefix_len: int | None = None) -> list[tuple[Tensor, Tensor]]:
    """The rotated q, k [heads, n, head_size] of every self-attention layer of the single stack (or the
    decoder stack, without its memory) on one sequence ids [n]: the trained Q, K of the rank study."""
    if model.cfg.arch == "encdec":
        raise ValueError("attention_qk reads the single stack of a decoder or prefix model")
    n = ids.shape[0]
    mask = model.mask(n, torch.tensor([prefix_len if prefix_len is not None else n]))
    return stack_qk(model.blocks, model.embed(ids[None]), [mask] * len(model.blocks))


@torch.no_grad()
def stack_qk(blocks: nn.ModuleList, x: Tensor, masks: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """Run x [1, n, hidden] through `blocks` under one mask each; every layer's rotated q, k [heads, n, d]."""
    n, out = x.shape[1], []
    for block, mask in zip(blocks, masks):
        y = block.norm1(x)
        mha = block.attn
        q, k = (proj(y).view(1, n, mha.heads, mha.head_size).transpose(1, 2) for proj in (mha.q, mha.k))
        if mha.rope is not None:
            q, k = mha.rope(q), mha.rope(k)
        out.append((q[0], k[0]))
        x = block(x, mask)
    return out


def parameter_count(cfg: ModelConfig, vocab_size: int, embedding: bool = True) -> int:
    """The parameters of Seq2SeqModel(cfg, vocab_size), in closed form; embedding=False leaves out the
    (tied) token embedding V·h: the Transformer weights, what the post's "parameters" count."""
    h, inner, f = cfg.hidden, cfg.heads * (cfg.head_size or cfg.hidden // cfg.heads), cfg.ffn_mult * cfg.hidden
    # a block: 2 norms (h each), attention 4·h·inner, FFN 2·h·f
    block = 2 * h + 4 * h * inner + 2 * h * f
    total = vocab_size * h * embedding + cfg.layers * block + h
    if cfg.arch == "encdec":
        # encoder blocks and norm; every decoder block adds a cross-attention and its norm
        total += cfg.layers * block + h + cfg.layers * (4 * h * inner + h)
    return total


def training_flops(cfg: ModelConfig, n_output: int, n_src: int, n_tgt: int) -> int:
    """Matmul FLOPs of one training step (forward + backward = 3 × forward) on one example with an input of
    n_src tokens and an output of n_tgt (+ [EOS]); attention counted dense (n_q · n_k for every head);
    n_output is the size of the output softmax."""
    h, inner, f = cfg.hidden, cfg.heads * (cfg.head_size or cfg.hidden // cfg.heads), cfg.ffn_mult * cfg.hidden
    labelled = n_tgt + 1  # the logits are computed on the output part only

    def stack(tokens: int, keys: int) -> int:
        # per layer: 2·(4·h·inner + 2·h·f) per token for the projections, 2·2·n_q·n_k·inner for QKᵀ and AV
        return cfg.layers * (2 * tokens * (4 * h * inner + 2 * h * f) + 4 * tokens * keys * inner)

    if cfg.arch == "encdec":
        dec = n_tgt + 1  # [SEP] output
        forward = stack(n_src, n_src) + stack(dec, dec)
        # cross-attention: Q, O on decoder tokens, K, V on the memory, QKᵀ and AV over dec × src
        forward += cfg.layers * (2 * dec * 2 * h * inner + 2 * n_src * 2 * h * inner + 4 * dec * n_src * inner)
    else:
        n = n_src + n_tgt + 1  # input [SEP] output, shifted by one
        forward = stack(n, n)
    forward += 2 * labelled * h * n_output
    return 3 * forward


MATCHES: tuple[str, ...] = ("params", "params_total", "flops")  # what match_width equalises


def match_width(base: ModelConfig, arch: str, vocab_size: int, by: Literal["params", "params_total", "flops"],
                n_src: int = 16, n_tgt: int = 16, n_output: int | None = None) -> ModelConfig:
    """`arch` at base's depth and heads, with the hidden size (a multiple of 2·heads) whose size is closest
    to base's: "params" the Transformer weights (the post's count, the tied embedding left out),
    "params_total" every parameter, embedding included, "flops" the training FLOPs per example of
    n_src → n_tgt."""
    if by not in MATCHES:
        raise ValueError(f"match {by!r}: choose one of {', '.join(MATCHES)}")

    def size(c: ModelConfig) -> int:
        if by in ("params", "params_total"):
            return parameter_count(c, vocab_size, embedding=by == "params_total")
        return training_flops(c, n_output or vocab_size, n_src, n_tgt)

    target = size(base)
    step = 2 * base.heads
    candidates = [replace(base, arch=arch, hidden=w, head_size=None) for w in range(step, 4 * base.hidden + 1, step)]
    return min(candidates, key=lambda c: (abs(math.log(size(c) / target)), c.hidden))


def output_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Cross-entropy on the output part only; returns (mean loss, per-token losses, hits) over the labelled
    positions. `model` is a Seq2SeqModel or its DDP wrapper (calling it runs Seq2SeqModel.forward)."""
    return model(batch)
