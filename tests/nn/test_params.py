"""count_parameters (kexue/nn/params.py): a model's size as the posts count it."""
from torch import nn

from kexue.nn.params import count_parameters


def test_counts_every_parameter_once_frozen_and_tied_included():
    emb = nn.Embedding(10, 4)  # 40
    head = nn.Linear(4, 10, bias=True)  # 40 + 10
    model = nn.ModuleDict({"emb": emb, "head": head, "norm": nn.LayerNorm(4)})  # LayerNorm: 4 + 4
    assert count_parameters(model) == 40 + 50 + 8
    head.weight = emb.weight  # tied: the [10, 4] table is one tensor, counted once
    assert count_parameters(model) == 40 + 10 + 8
    model["norm"].requires_grad_(False)  # frozen parameters are still the model's size
    assert count_parameters(model) == 40 + 10 + 8
