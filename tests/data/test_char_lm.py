"""People's Daily as character-LM data (kexue/data/char_lm.py): the stretches and the windows."""
import pytest
import torch

from kexue.data import peoples_daily_text
from kexue.data.char_lm import char_corpus, windows


def test_windows_for_an_lm_lose_no_transition_and_plain_rows_cut_the_sequence():
    ids = torch.arange(101)
    w = windows(ids, 11, 10)  # n = 10 inputs and 10 targets per window
    assert w.shape == (10, 11) and torch.equal(w[1], torch.arange(10, 21))
    pairs = {(int(a), int(b)) for row in w for a, b in zip(row[:-1], row[1:])}
    assert pairs == {(i, i + 1) for i in range(100)}  # every transition of the sequence, once
    assert torch.equal(windows(torch.arange(130), 64), torch.arange(128).view(2, 64))
    with pytest.raises(ValueError, match="fewer than one window"):
        windows(torch.arange(5), 6)


def test_the_held_out_stretch_follows_the_training_stretch():
    tok, train, held = char_corpus(2000, 500, 300)
    text = "".join(peoples_daily_text(unit="paragraph"))
    assert train.shape == (2000,) and held.shape == (500,) and tok.vocab_size <= 300
    assert torch.equal(held, torch.tensor(tok.encode(text[2000:2500], add_special=False)))
    with pytest.raises(ValueError, match="exceeds the corpus"):
        char_corpus(len(text), 1, 300)
