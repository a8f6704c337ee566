"""EMA of weights: the closed form after n updates, swapping in and out, and its checkpoint file."""
import torch
from torch import nn
from torch.utils.data import TensorDataset

from kexue.train import EMA, TrainConfig, Trainer, load_model


def test_constant_weights_closed_form():
    torch.manual_seed(0)
    model = nn.Linear(5, 3).double()
    ema = EMA(model, beta=0.9)
    bar_theta0 = {k: v.clone() for k, v in ema.shadow.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    theta = {k: v.clone() for k, v in model.state_dict().items()}
    n = 37
    for _ in range(n):
        ema.update(model)
    for k in theta:
        # θ̄_n = θ + β^n (θ̄₀ − θ)
        expected = theta[k] + 0.9**n * (bar_theta0[k] - theta[k])
        torch.testing.assert_close(ema.shadow[k], expected, rtol=0, atol=1e-14)


def test_integer_buffers_are_copied_not_averaged():
    model = nn.BatchNorm1d(3)
    ema = EMA(model, beta=0.5)
    model(torch.randn(8, 3))
    model(torch.randn(8, 3))
    ema.update(model)
    assert ema.shadow["num_batches_tracked"].item() == 2
    # running_mean: β · 0 + (1 − β) · μ
    torch.testing.assert_close(ema.shadow["running_mean"], 0.5 * model.running_mean)


def test_applied_swaps_in_and_restores_even_on_error():
    model = nn.Linear(2, 2)
    ema = EMA(model, beta=0.5)
    with torch.no_grad():
        ema.shadow["weight"].fill_(7.0)
    before = model.weight.detach().clone()
    try:
        with ema.applied(model):
            assert torch.all(model.weight == 7.0)
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    assert torch.equal(model.weight, before)


def test_trainer_writes_the_shadow_and_evaluates_with_it(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(32, 4)
    model = nn.Linear(4, 1)
    seen = []

    def eval_fn(m):
        seen.append(m.weight.detach().clone())
        return {"w": m.weight.sum().item()}

    cfg = TrainConfig(steps=6, batch_size=8, lr=0.1, optimizer="sgd", betas=(0.0, 0.0), ema=0.8)
    trainer = Trainer(model, cfg, TensorDataset(x), lambda m, b: m(b[0]).pow(2).mean(), tmp_path,
                      eval_fn=eval_fn, progress=False, device="cpu")
    summary = trainer.fit()
    assert torch.equal(seen[-1], trainer.ema.shadow["weight"])  # eval saw θ̄
    assert not torch.equal(trainer.model.weight, trainer.ema.shadow["weight"])  # and θ came back
    assert summary["eval_ema/w"] == seen[-1].sum().item()
    fresh = load_model(nn.Linear(4, 1), tmp_path, ema=True)
    assert torch.equal(fresh.weight, trainer.ema.shadow["weight"])
