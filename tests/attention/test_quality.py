"""The quality experiment's pieces: BERT masking statistics, causality, the losses (the end-to-end run is in test_cli)."""
import math

import pytest
import torch

from kexue.attention.model import TinyConfig, TinyTransformer
from kexue.attention.quality import mask_tokens, mlm_loss
from kexue.train.lm import next_token_loss


class _Tok:
    mask_id, vocab_size = 4, 100


def test_masking_statistics_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 100, (400, 250), generator=g)
    inputs, targets = mask_tokens(ids, _Tok(), 0.15, generator=g)
    selected = targets != -100
    n = selected.sum().item()
    assert n / ids.numel() == pytest.approx(0.15, abs=0.003)
    masked = (inputs == 4) & selected
    kept = (inputs == ids) & selected
    # a random replacement can hit the same id by chance: 1/95 of the 10 %
    assert masked.sum().item() / n == pytest.approx(0.80, abs=0.01)
    assert kept.sum().item() / n == pytest.approx(0.10 + 0.10 / 95, abs=0.01)
    assert torch.equal(inputs[~selected], ids[~selected])  # unselected positions are untouched
    assert torch.equal(targets[selected], ids[selected])


@pytest.mark.parametrize("attention", ["softmax", "elu"])
def test_causal_lm_does_not_see_the_future(attention):
    torch.manual_seed(0)
    model = TinyTransformer(TinyConfig(vocab=50, hidden=32, heads=2, layers=2, max_len=16,
                                       attention=attention, causal=True)).eval()
    ids = torch.randint(0, 50, (1, 16))
    changed = ids.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 50
    a, b = model(ids), model(changed)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-5)
    assert not torch.allclose(a[0, 10:], b[0, 10:], atol=1e-5)


def test_uniform_model_has_log_vocab_loss():
    model = TinyTransformer(TinyConfig(vocab=64, hidden=16, heads=2, layers=1, max_len=8))
    with torch.no_grad():
        model.tok.weight.zero_()  # tied head: every logit is 0
    ids = torch.randint(0, 64, (3, 8))
    assert next_token_loss(model, ids).item() == pytest.approx(math.log(64), rel=1e-5)
    targets = torch.full_like(ids, -100)
    targets[:, 2] = ids[:, 2]
    assert mlm_loss(model, ids, targets).item() == pytest.approx(math.log(64), rel=1e-5)
