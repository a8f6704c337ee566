"""EMA of weights: the closed form after n updates, swapping in and out, and its checkpoint file."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

from kexue.train import EMA, TrainConfig, Trainer, load_model


def _set(model, values):
    with torch.no_grad():
        for p, v in zip(model.parameters(), values):
            p.copy_(v)


def test_equals_bert4keras_zero_start_divided_by_one_minus_beta_t():
    """θ̂_t equals bert4keras's θ̄_t / (1 − βᵗ), θ̄ ← β θ̄ + (1 − β) θ from zeros, after every update."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3).double()
    beta = 0.99
    ema = EMA(model, beta=beta)
    bar = [torch.zeros_like(p) for p in model.parameters()]
    for t in range(1, 301):
        _set(model, [torch.randn_like(p) + 0.01 * t for p in model.parameters()])
        ema.update(model)
        bar = [beta * b + (1 - beta) * p.detach() for b, p in zip(bar, model.parameters())]
        if t in (1, 2, 7, 100, 300):
            for (name, _), b in zip(model.named_parameters(), bar):
                torch.testing.assert_close(ema.shadow[name], b / (1 - beta**t), rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(beta=st.floats(0.0, 0.99999), k=st.integers(0, 30), n=st.integers(1, 60), seed=st.integers(0, 2**16))
def test_the_average_converges_to_weights_that_stop_changing(beta, k, n, seed):
    """Weights that change for k updates and then stay at θ: after n more updates
    θ̂ − θ = c (θ̂_k − θ), c = βⁿ (1 − βᵏ) / (1 − β^{k+n}); with k = 0 (weights constant from the
    first update) θ̂ = θ exactly, at any β and any step — no share of the initialisation is left."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Linear(3, 2).double()
    _set(model, [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in model.parameters()])
    ema = EMA(model, beta=beta)
    for _ in range(k):
        _set(model, [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in model.parameters()])
        ema.update(model)
    hat_k = {name: v.clone() for name, v in ema.shadow.items()}
    theta = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in model.parameters()]
    _set(model, theta)
    for _ in range(n):
        ema.update(model)
    c = beta**n * (1 - beta**k) / (1 - beta ** (k + n)) if beta > 0 else 0.0
    for (name, _), th in zip(model.named_parameters(), theta):
        if k == 0:
            assert torch.equal(ema.shadow[name], th)
        torch.testing.assert_close(ema.shadow[name] - th, c * (hat_k[name] - th), rtol=1e-9, atol=1e-12)


def test_integer_buffers_are_copied_not_averaged():
    model = nn.BatchNorm1d(3)
    ema = EMA(model, beta=0.5)
    model(torch.randn(8, 3))
    model(torch.randn(8, 3))
    ema.update(model)
    ema.update(model)
    assert ema.shadow["num_batches_tracked"].item() == 2
    # a float buffer is averaged like a weight: constant since the first update, so θ̂ = its value
    torch.testing.assert_close(ema.shadow["running_mean"], model.running_mean)


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


def test_resume_is_bit_identical(tmp_path):
    """A run stopped after its step-4 checkpoint and resumed gives the unbroken run's EMA bit for bit."""
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))

    def run(out, stop_at=None, resume=False):
        torch.manual_seed(0)
        model = nn.Linear(4, 1)
        cfg = TrainConfig(steps=9, batch_size=8, lr=0.05, optimizer="lamb", ema=0.9, ckpt_every=4)

        def on_step(trainer, step):
            if step == stop_at:
                raise KeyboardInterrupt

        trainer = Trainer(model, cfg, TensorDataset(x), lambda m, b: (m(b[0]) - 1).pow(2).mean(), out,
                          progress=False, device="cpu", on_step=on_step)
        try:
            trainer.fit(resume=resume)
        except KeyboardInterrupt:
            pass
        return trainer

    whole = run(tmp_path / "whole")
    run(tmp_path / "broken", stop_at=6)  # dies at step 6; its last checkpoint is step 4
    resumed = run(tmp_path / "broken", resume=True)
    assert resumed.ema.updates == whole.ema.updates == 9
    for name, v in whole.ema.shadow.items():
        assert torch.equal(resumed.ema.shadow[name], v), name
    a = load_model(nn.Linear(4, 1), tmp_path / "whole", ema=True)
    b = load_model(nn.Linear(4, 1), tmp_path / "broken", ema=True)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert pytest.approx(0.0) != float((a.weight - whole.model.weight).detach().abs().sum())  # the EMA is not θ
