"""Whole-word masking statistics (15 % of words; 80/10/10) with a fixed seed, and the MLM loss."""
import torch

from kexue.roformer import RoFormerV2, RoFormerV2Config
from kexue.roformer.mlm import IGNORE, MLMDataset, collate, mlm_loss, segment, whole_word_mask


def test_masking_statistics_are_the_posts():
    g = torch.Generator().manual_seed(0)
    vocab, mask_id = 1000, 4
    # 40 sequences of 100 words of 1–3 tokens; ids ≥ 5 so no word starts as [MASK]
    words_total, chosen = 0, [0, 0, 0, 0]
    for s in range(40):
        words = [[5 + (7 * s + 13 * w + k) % 900 for k in range(1 + w % 3)] for w in range(100)]
        ids, labels, choices = whole_word_mask(words, mask_id=mask_id, vocab_size=vocab, generator=g)
        words_total += len(words)
        for c in choices:
            chosen[c] += 1
        t = 0
        for word, c in zip(words, choices):
            span_ids, span_labels = ids[t:t + len(word)], labels[t:t + len(word)]
            t += len(word)
            # labels: the original tokens on selected words, IGNORE elsewhere; never a half-masked word
            assert span_labels == (word if c else [IGNORE] * len(word))
            if c == 1:
                assert span_ids == [mask_id] * len(word)
            if c in (0, 2):
                assert span_ids == word
            if c == 3:
                assert all(5 <= i < vocab for i in span_ids)
    selected = words_total - chosen[0]
    # 4000 words: selected ≈ 15 % (±3σ = 1.7 %), of those 80/10/10 (±3σ ≈ 5 %)
    assert abs(selected / words_total - 0.15) < 0.017
    assert abs(chosen[1] / selected - 0.8) < 0.05
    assert abs(chosen[2] / selected - 0.1) < 0.04
    assert abs(chosen[3] / selected - 0.1) < 0.04


def test_same_seed_same_masks():
    words = [[5 + i, 6 + i] for i in range(50)]
    a = whole_word_mask(words, mask_id=4, vocab_size=100, generator=torch.Generator().manual_seed(3))
    b = whole_word_mask(words, mask_id=4, vocab_size=100, generator=torch.Generator().manual_seed(3))
    assert a == b


def test_jieba_segments_into_words():
    words = segment("我们在北京大学学习自然语言处理")
    assert "".join(words) == "我们在北京大学学习自然语言处理"
    assert "北京大学" in words or "北京" in words


class _Tok:
    special_ids = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    pad_id, cls_id, sep_id, mask_id, vocab_size = 0, 2, 3, 4, 30


def test_dataset_collate_and_loss_on_selected_only():
    torch.manual_seed(0)
    data = MLMDataset([[[5, 6], [7], [8, 9, 10]], [[11], [12, 13]]], _Tok(), max_len=8)
    batch = collate([data[0], data[1]])
    assert batch["ids"][:, 0].tolist() == [2, 2] and batch["mask"].sum().item() == 8 + 5
    assert (batch["labels"][~batch["mask"]] == IGNORE).all()
    model = RoFormerV2(RoFormerV2Config(vocab_size=30, hidden_size=16, num_layers=1, num_heads=2,
                                        intermediate_size=32, dropout=0.0, attention_dropout=0.0))
    loss, metrics = mlm_loss(model, batch)
    sel = batch["labels"] != IGNORE
    logits = model.mlm_logits(model(batch["ids"], mask=batch["mask"]))
    expected = torch.nn.functional.cross_entropy(logits[sel], batch["labels"][sel])
    assert torch.allclose(loss, expected, atol=1e-6) and 0 <= metrics["mlm_acc"] <= 1


def test_lengths_are_what_a_batch_pads_to_without_reading_a_row():
    words = [[[5 + k] * (1 + (k + j) % 3) for j in range(k % 7 + 1)] for k in range(30)]
    data = MLMDataset(words, _Tok(), max_len=12)
    assert data.lengths() == [len(data[i]["ids"]) for i in range(len(data))]
    assert max(data.lengths()) <= 12
