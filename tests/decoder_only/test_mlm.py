"""Mixed-direction vs bidirectional MLM (kexue/decoder_only/mlm.py): masks, no leak, whole-word masking."""
import pytest
import torch

from kexue.decoder_only.mlm import (IGNORE, MASK, MLMModel, MLMTaskConfig, collate, mlm_loss, whole_word_mask)
from kexue.decoder_only.model import ModelConfig


def _model(direction: str, layers: int = 2) -> MLMModel:
    torch.manual_seed(0)
    return MLMModel(ModelConfig(hidden=16, heads=4, layers=layers), 30, direction).double()


def _grad(model: MLMModel, ids: torch.Tensor, lengths: torch.Tensor, b: int, t: int) -> torch.Tensor:
    captured = []
    hook = model.embed.register_forward_hook(lambda mod, inp, out: captured.append(out))
    logits = model(ids, lengths)
    hook.remove()
    (g,) = torch.autograd.grad(logits[b, t].sum(), captured)
    return g.abs().sum(-1)


def test_masks_of_each_direction():
    lengths = torch.tensor([5, 3])
    mixed = _model("mixed").masks(5, lengths)[0]
    assert mixed.shape == (2, 4, 5, 5)
    tril, triu = torch.ones(5, 5, dtype=torch.bool).tril(), torch.ones(5, 5, dtype=torch.bool).triu()
    assert torch.equal(mixed[0, 0], tril) and torch.equal(mixed[0, 3], triu)
    assert not mixed[1, :, :, 3:].any()  # padded keys
    alt = _model("alternate").masks(5, lengths)
    assert torch.equal(alt[0][0, 0], tril) and torch.equal(alt[1][0, 0], triu)


@pytest.mark.parametrize("direction,layers,sees", [
    ("bidirectional", 1, "all"), ("mixed", 1, "all"), ("alternate", 2, "all"), ("alternate", 1, "past"),
])
def test_no_leak_and_whole_sequence_mixing(direction, layers, sees):
    model = _model(direction, layers)
    ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 0, 0]])
    lengths = torch.tensor([5, 3])
    for b, m in ((0, 5), (1, 3)):
        for t in range(m):
            g = _grad(model, ids, lengths, b, t)
            visible = range(m) if sees == "all" else range(t + 1)
            assert all(g[b, j] > 0 for j in visible)
            assert all(g[b, j] == 0 for j in range(5) if j not in visible)  # padding and, causal, the future
            assert (g[1 - b] == 0).all()


def test_whole_word_masking_rates_and_whole_words():
    cfg = MLMTaskConfig()
    g = torch.Generator().manual_seed(0)
    words = [[3 + i, 4 + i] for i in range(10)]  # ten two-character words
    picked = kinds = 0
    counts = {"mask": 0, "keep": 0, "random": 0}
    for _ in range(2000):
        ids, labels = whole_word_mask(words, 30, cfg, g)
        for w in range(10):
            a, b = labels[2 * w], labels[2 * w + 1]
            assert (a == IGNORE) == (b == IGNORE)  # a word is selected whole
            if a != IGNORE:
                picked += 1
                x = ids[2 * w]
                counts["mask" if x == MASK else "keep" if x == words[w][0] else "random"] += 1
        kinds += 10
    # 15 % of words (plus the forced pick when none was drawn: P = 0.85^10 ≈ 0.20 per sentence, +2 %)
    assert 0.15 < picked / kinds < 0.19
    # of the selected 80 / 10 / 10 (a random draw equal to the word's own character counts as kept)
    assert abs(counts["mask"] / picked - 0.8) < 0.03 and abs(counts["keep"] / picked - 0.1) < 0.03


def test_loss_is_on_the_selected_characters():
    model = _model("bidirectional")
    batch = collate([([5, MASK, 7], [IGNORE, 6, IGNORE]), ([8, 9], [8, IGNORE])])
    losses, hits = mlm_loss(model, batch)
    logits = model(batch["ids"], batch["lengths"])
    ref = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)
    assert losses.numel() == 2 and torch.allclose(losses.mean(), ref)


def test_bad_direction_is_named():
    with pytest.raises(ValueError, match="'sideways'"):
        MLMModel(ModelConfig(hidden=16, heads=4), 10, "sideways")
    with pytest.raises(ValueError, match="even number of heads"):
        MLMModel(ModelConfig(hidden=18, heads=3, head_size=6), 10, "mixed")


def test_attention_qk_is_what_the_bidirectional_mlm_computes():
    from kexue.decoder_only.mlm import attention_qk
    from kexue.decoder_only.rank import attention_matrix

    model = _model("bidirectional").eval()
    ids = list(range(3, 15))
    (q, k), _ = attention_qk(model, ids)
    mha, x = model.blocks[0].attn, torch.tensor(ids)[None]
    y = model.blocks[0].norm1(model.embed(x))
    v = mha.v(y).view(1, len(ids), mha.heads, mha.head_size).transpose(1, 2)[0]
    # A = softmax(QKᵀ/√d), no mask: the first block's attention output
    ref = mha.o((attention_matrix(q, k, "bidirectional") @ v).transpose(0, 1).reshape(1, len(ids), -1))
    assert torch.allclose(ref, mha(y, model.masks(len(ids), torch.tensor([len(ids)]))[0]), atol=1e-10)


def test_head_kinds_are_the_masks_each_direction_uses():
    from kexue.decoder_only.mlm import head_kinds

    assert head_kinds("mixed", 0, 4) == ["causal", "causal", "backward", "backward"]
    assert head_kinds("alternate", 1, 2) == ["backward", "backward"]
    assert head_kinds("bidirectional", 3, 2) == ["bidirectional"] * 2
