"""kexue/gplinker/model.py: shift_logits moves every cell score by exactly the shift."""
import pytest
import torch

from kexue.gplinker.model import EncoderConfig, HeadConfig, NERModel, RelationModel, TinyEncoder, shift_logits


def test_shift_logits_adds_the_shift_to_every_cell_and_refuses_a_plain_global_pointer():
    torch.manual_seed(0)
    enc = TinyEncoder(EncoderConfig(vocab=30, hidden=16, heads=2, layers=1))
    model = RelationModel(enc, n_predicates=3, cfg=HeadConfig(head_size=8))
    ids, mask = torch.randint(1, 30, (2, 7)), torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0
    before = [t.clone() for t in model(ids, mask)]
    shift_logits(model, -1.25)
    after = model(ids, mask)
    for b, a in zip(before, after):
        real = torch.isfinite(b) & (b.abs() < 1e6)  # the cells not masked out
        assert real.any() and torch.allclose(a[real], b[real] - 1.25, atol=1e-5)
        assert torch.equal(a[~real], b[~real])  # masked cells stay masked
    with pytest.raises(ValueError, match="EfficientGlobalPointer"):
        shift_logits(NERModel(enc, 2, HeadConfig(pointer="gp", head_size=8)), -1.0)
