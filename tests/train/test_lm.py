"""train_and_score (kexue/train/lm.py): the character-LM runs of the attention study and the LRU."""
import math

import pytest
import torch
from torch import nn

from kexue.train import TrainConfig
from kexue.train.lm import next_token_loss, train_and_score

V = 7


class Bigram(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(V, V)

    def forward(self, ids):
        return self.table(ids)


def test_next_token_loss_of_a_uniform_model_is_log_v():
    m = Bigram()
    nn.init.zeros_(m.table.weight)
    assert next_token_loss(m, torch.randint(0, V, (3, 9))).item() == pytest.approx(math.log(V))


def test_a_cyclic_sequence_is_learned_and_scored_on_held_out_rows(tmp_path):
    torch.manual_seed(0)
    seq = torch.arange(400) % V  # x_{t+1} = x_t + 1 mod V: a bigram learns it exactly
    train, held = seq[:300].view(-1, 10), seq[300:].view(-1, 10)
    cfg = TrainConfig(steps=60, batch_size=8, lr=0.3, log_every=10, device="cpu")
    m = Bigram()
    r = train_and_score(m, cfg, train, (held,), tmp_path / "run", eval_batch=3)
    # the row-weighted mean over held-out batches of 3, 3, 3, 1 rows is the loss on all rows at once
    with torch.no_grad():
        assert r["eval_loss"] == pytest.approx(next_token_loss(m.eval(), held).item(), rel=1e-5)
    assert r["eval_loss"] < 0.1 * math.log(V)
    assert [s for s, _ in r["curve"]] == [10, 20, 30, 40, 50, 60] and r["curve"][-1][1] < r["curve"][0][1]


def test_a_separate_held_out_loss_scores_fixed_inputs_and_targets(tmp_path):
    torch.manual_seed(0)
    train = (torch.arange(200) % V).view(-1, 10)
    inputs, targets = torch.randint(0, V, (4, 6)), torch.randint(0, V, (4, 6))
    score = lambda m, x, y: nn.functional.cross_entropy(m(x).flatten(0, 1), y.flatten())
    m = Bigram()
    r = train_and_score(m, TrainConfig(steps=4, batch_size=4, lr=0.1, log_every=2, device="cpu"), train,
                        (inputs, targets), tmp_path / "run", eval_loss=score)
    with torch.no_grad():
        assert r["eval_loss"] == pytest.approx(score(m.eval(), inputs, targets).item(), rel=1e-5)
