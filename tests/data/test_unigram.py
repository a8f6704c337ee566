"""The unigram floor (kexue/data/unigram.py): the one function the five language-model floors call."""
import math

import pytest
import torch

from kexue.data.unigram import unigram_loss


def test_unigram_floor_is_the_add_one_cross_entropy_by_hand():
    # training a a b, V = 4: p(a) = 3/7, p(b) = 2/7, p(c) = 1/7
    expected = -(math.log(3 / 7) + math.log(1 / 7) + math.log(3 / 7)) / 3
    assert unigram_loss("aab", "aca", 4) == pytest.approx(expected)


def test_ids_tensors_and_characters_give_the_same_floor():
    chars = "人民日报人民" * 3
    index = {c: i for i, c in enumerate(sorted(set(chars)))}
    ids = torch.tensor([index[c] for c in chars])
    held_chars, held_ids = "日人报", torch.tensor([index[c] for c in "日人报"])
    assert unigram_loss(ids, held_ids, 10) == pytest.approx(unigram_loss(chars, held_chars, 10))
    assert unigram_loss(ids.tolist(), held_ids.tolist(), 10) == pytest.approx(unigram_loss(ids, held_ids, 10))


def test_uniform_training_gives_log_v_and_more_data_moves_the_floor_towards_the_entropy():
    # every token of V seen equally often: p = 1/V for each, whatever the count
    assert unigram_loss(list(range(5)) * 7, [0, 3], 5) == pytest.approx(math.log(5))
    # a 3:1 source, many samples: the floor tends to its entropy H = −(¾ log ¾ + ¼ log ¼)
    g = torch.Generator().manual_seed(0)
    draw = lambda n: (torch.rand(n, generator=g) < 0.25).long()
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert unigram_loss(draw(200_000), draw(50_000), 2) == pytest.approx(h, abs=0.01)


def test_an_empty_held_out_split_is_named():
    with pytest.raises(ValueError, match="held-out split has no tokens"):
        unigram_loss("ab", "", 3)
