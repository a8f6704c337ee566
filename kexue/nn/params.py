"""The size of a model: how many numbers its parameters hold.

Every post that matches models by size counts this way (kexue.fm/archives/9554 matches the LRU, the
SLRU and attention at 4H² + O(H); 9529 matches the decoder-only and encoder-decoder models): all the
parameters, trainable or frozen, each tensor once however many modules share it (a tied embedding
and output head count once).
"""
from torch import nn


def count_parameters(module: nn.Module) -> int:
    """Σ numel over the distinct parameters of `module`, frozen ones included."""
    return sum(p.numel() for p in module.parameters())
