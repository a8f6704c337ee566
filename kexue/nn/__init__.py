"""Layers used by two or more topics, each exact to its post (see each module's docstring).

    from kexue.nn import RoPE, RMSNorm, MultiHeadAttention, LinearAttention, GlobalPointer, LRU
"""
from kexue.nn.attention import (CrossAttention, MultiHeadAttention, backward_mask, bidirectional_mask, causal_mask,
                                combine, mixed_mask, padding_mask, prefix_mask)
from kexue.nn.global_pointer import EfficientGlobalPointer, GlobalPointer
from kexue.nn.linear_attention import LinearAttention, linear_attention
from kexue.nn.losses import (MultilabelCategoricalCrossentropy, global_pointer_crossentropy,
                             multilabel_categorical_crossentropy, soft_multilabel_categorical_crossentropy,
                             sparse_multilabel_categorical_crossentropy)
from kexue.nn.lru import LRU, SLRU
from kexue.nn.norm import RMSNorm
from kexue.nn.rope import RoPE, apply_rope
from kexue.nn.scan import linear_scan

__all__ = ["CrossAttention", "EfficientGlobalPointer", "GlobalPointer", "LRU", "LinearAttention", "MultiHeadAttention",
           "MultilabelCategoricalCrossentropy", "RMSNorm", "RoPE", "SLRU", "apply_rope", "backward_mask",
           "bidirectional_mask", "causal_mask", "combine", "global_pointer_crossentropy", "linear_attention",
           "linear_scan", "mixed_mask", "multilabel_categorical_crossentropy", "padding_mask", "prefix_mask",
           "soft_multilabel_categorical_crossentropy", "sparse_multilabel_categorical_crossentropy"]
