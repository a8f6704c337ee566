"""GPLinker's forward as a graph: torch.export with a dynamic length, and jit.trace, keep the padding mask.

A padded batch must give, row by row, the logits of each row run alone and unpadded. The RoFormerV2 encoder
takes no attention mask for an unpadded batch in eager mode (its fast path); before kexue/nn/tracing.py a
jit.trace on an unpadded example froze that branch, and the traced graph dropped the mask of every later
(padded) batch, silently.
"""
import pytest
import torch

from kexue.config import to_dict
from kexue.gplinker.encoders import RoFormerEncoder
from kexue.gplinker.model import EventModel, HeadConfig
from kexue.gplinker.onnx_export import traceable
from kexue.roformer import RoFormerV2, RoFormerV2Config

MAX_LEN = 64


def roformer_gplinker(seed: int = 0) -> torch.nn.Module:
    """A tiny events GPLinker on a RoFormerV2 encoder (the encoder with the mask branch), eval mode."""
    torch.manual_seed(seed)
    cfg = RoFormerV2Config(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    assert to_dict(cfg)  # a plain config, as a run stores it
    return EventModel(RoFormerEncoder(RoFormerV2(cfg)), 5, HeadConfig(head_size=8)).eval()


def batch(lengths: list[int], n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (len(lengths), n), generator=g)
    for b, k in enumerate(lengths):
        ids[b, k:] = 0
    return ids, ids != 0


def assert_rows_as_alone(run, ids: torch.Tensor, mask: torch.Tensor) -> None:
    """Each row of run(ids, mask) equals run(row alone, unpadded) on the row's own cells."""
    with torch.no_grad():
        padded = run(ids, mask)
        for b in range(ids.shape[0]):
            k = int(mask[b].sum())
            alone = run(ids[b:b + 1, :k], mask[b:b + 1, :k])
            for p, a in zip(padded, alone):
                torch.testing.assert_close(p[b:b + 1, :, :k, :k], a, rtol=0, atol=1e-5)


def test_eager_padded_rows_equal_unpadded_rows():
    model = roformer_gplinker()
    assert_rows_as_alone(model, *batch([9, 5, 2], 9))


def test_jit_trace_on_an_unpadded_example_keeps_the_padding_mask():
    model = traceable(roformer_gplinker(), MAX_LEN)
    example = batch([7, 7], 7)  # no padding: the eager fast path takes no mask
    with torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False)
    assert_rows_as_alone(traced, *batch([7, 4, 2], 7, seed=3))


@pytest.mark.slow
def test_torch_export_with_a_dynamic_length_keeps_the_padding_mask():
    # torch.export of the whole model takes a few CPU seconds (the reason this test is slow-marked)
    model = traceable(roformer_gplinker(), MAX_LEN)
    n = torch.export.Dim("n", max=MAX_LEN)
    b = torch.export.Dim("batch")
    program = torch.export.export(model, batch([6, 6], 6), dynamic_shapes=({0: b, 1: n}, {0: b, 1: n}))
    run = program.module()
    for lengths, width in (([3, 2], 3), ([20, 11, 4], 20), ([MAX_LEN, 30], MAX_LEN)):
        ids, mask = batch(lengths, width, seed=width)
        with torch.no_grad():
            for got, want in zip(run(ids, mask), model(ids, mask)):
                torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        assert_rows_as_alone(run, ids, mask)


def test_frozen_rope_is_the_rope_of_eager_mode_within_float_rounding():
    model = roformer_gplinker()
    ids, mask = batch([12, 8], 12)
    with torch.no_grad():
        before = model(ids, mask)
        after = traceable(model, MAX_LEN)(ids, mask)
    # a few float32 ulps of the logits (|s| ≈ 2: ulp 2.4e-7); on an AVX-512 CPU one cell of 1440 differed by
    # 1.19e-6 = 5 ulps, past an absolute 1e-6 alone: the tolerance is relative too
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
