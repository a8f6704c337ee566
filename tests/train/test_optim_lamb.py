"""LAMB against a hand-computed reference that follows bert4keras's chain of `K.update` wrappers.

bert4keras builds LAMB by wrapping the update x → new_x that its Adam proposes: extend_with_weight_decay
subtracts η λ x from new_x, then extend_with_layer_adaptation rescales dx = new_x − x by
‖x‖ / ‖dx / max(η, 1e−7)‖ (1 when either norm is 0). The reference below composes exactly those
three functions in numpy, float64, independently of kexue's single-formula implementation.
"""
import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from kexue.train import TrainConfig
from kexue.train.optim import Lamb, build_optimizer


def adam_new_x(x, g, m, v, t, lr, b1, b2, eps, bias_correction):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    mh, vh = (m / (1 - b1**t), v / (1 - b2**t)) if bias_correction else (m, v)
    return x - lr * mh / (np.sqrt(vh) + eps), m, v


def weight_decay(x, new_x, lr, wd):
    return new_x - lr * wd * x


def layer_adaptation(x, new_x, lr):
    dx = new_x - x
    lr_t = max(lr, 1e-7)
    x_norm, g_norm = np.linalg.norm(x), np.linalg.norm(dx / lr_t)
    ratio = (x_norm / g_norm if g_norm > 0 else 1.0) if x_norm > 0 else 1.0
    return x + dx * ratio


def reference(x, grads, lrs, b1=0.9, b2=0.999, eps=1e-6, wd=0.0, bias_correction=True, adapt=True):
    m, v = np.zeros_like(x), np.zeros_like(x)
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        new_x, m, v = adam_new_x(x, g, m, v, t, lr, b1, b2, eps, bias_correction)
        new_x = weight_decay(x, new_x, lr, wd) if wd else new_x
        x = layer_adaptation(x, new_x, lr) if adapt else new_x
    return x


def run_lamb(x0, grads, lrs, **kw):
    p = nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = Lamb([p], lr=lrs[0], **kw)
    for g, lr in zip(grads, lrs):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize("wd", [0.0, 0.01])
@pytest.mark.parametrize("bias_correction", [True, False])
def test_three_steps_match_the_bert4keras_chain(wd, bias_correction):
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(4, 5)) * 0.3
    grads = [rng.normal(size=(4, 5)) * s for s in (1.0, 0.01, 100.0)]
    lrs = [1e-3, 2e-3, 5e-4]
    want = reference(x0, grads, lrs, wd=wd, bias_correction=bias_correction)
    got = run_lamb(x0, grads, lrs, weight_decay=wd, bias_correction=bias_correction)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)


def test_one_step_by_hand():
    # x = (3, 4), ‖x‖ = 5; g = (1, −2). Step 1 with bias correction: m̂ = g, v̂ = g², u = g / (|g| + ε)
    eps, lr = 1e-6, 0.01
    u = np.array([1 / (1 + eps), -2 / (2 + eps)])
    # Δ = −η u, ‖Δ/η‖ = ‖u‖; x ← x − η ‖x‖ u / ‖u‖
    want = np.array([3.0, 4.0]) - lr * 5.0 * u / np.linalg.norm(u)
    got = run_lamb(np.array([3.0, 4.0]), [np.array([1.0, -2.0])], [lr], eps=eps)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    assert np.linalg.norm(got - [3.0, 4.0]) == pytest.approx(lr * 5.0, rel=1e-12)  # moves by η‖x‖


def test_guards_zero_weights_zero_rate_and_tiny_rate():
    g = [np.array([0.5, -1.0, 2.0])]
    # ‖x‖ = 0 (a zero-initialised offset): ratio 1, the plain Adam step
    np.testing.assert_allclose(run_lamb(np.zeros(3), g, [1e-3]), reference(np.zeros(3), g, [1e-3]), atol=1e-16)
    assert np.abs(run_lamb(np.zeros(3), g, [1e-3])).max() == pytest.approx(1e-3, rel=1e-5)
    # η = 0 (the first step of Su's warm-up): no move, but the moments advance
    x0 = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(run_lamb(x0, g, [0.0]), x0)
    # 0 < η < 1e−7: the floor max(η, 1e−7) makes the step 1e−7 ‖x‖ long
    moved = np.linalg.norm(run_lamb(x0, g, [1e-9]) - x0)
    assert moved == pytest.approx(1e-7 * np.linalg.norm(x0), rel=1e-6)
    # (the reference forms dx = new_x − x by cancellation, so it carries ~1e−14 of rounding here)
    np.testing.assert_allclose(run_lamb(x0, g, [1e-9]), reference(x0, g, [1e-9]), rtol=0, atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.floats(1e-5, 1e-1), st.floats(1e-3, 1e3), st.integers(0, 2**31 - 1))
def test_every_step_moves_a_layer_by_lr_times_its_norm(n, lr, scale, seed):
    """Whatever the gradient's scale, ‖x_{t+1} − x_t‖ = η ‖x_t‖ for an adapted tensor without decay."""
    rng = np.random.default_rng(seed)
    p = nn.Parameter(torch.tensor(rng.normal(size=(n, 3)), dtype=torch.float64))
    opt = Lamb([p], lr=lr)
    for _ in range(3):
        before = p.detach().clone()
        p.grad = torch.tensor(rng.normal(size=(n, 3)) * scale, dtype=torch.float64)
        opt.step()
        moved = float(torch.linalg.vector_norm(p.detach() - before))
        assert moved == pytest.approx(lr * float(torch.linalg.vector_norm(before)), rel=1e-9)


def test_a_group_without_layer_adaptation_takes_the_adam_step():
    rng = np.random.default_rng(1)
    x0, grads = rng.normal(size=6), [rng.normal(size=6) for _ in range(2)]
    want = reference(x0, grads, [1e-2, 1e-2], adapt=False)
    np.testing.assert_allclose(run_lamb(x0, grads, [1e-2, 1e-2], layer_adaptation=False), want, atol=1e-15)
    # and it is not the adapted step (the control that the flag does something)
    assert not np.allclose(run_lamb(x0, grads, [1e-2, 1e-2]), want, atol=1e-6)


def test_build_optimizer_lamb_groups_and_checks():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    cfg = TrainConfig(optimizer="lamb", lr=1e-3, eps=1e-6, weight_decay=0.01, bias_correction=False)
    opt = build_optimizer(model, cfg, lambda m: [
        {"params": [m[0].weight], "weight_decay": 0.01},
        {"params": [m[0].bias, m[1].weight, m[1].bias], "weight_decay": 0.0, "layer_adaptation": False}])
    assert isinstance(opt, Lamb)
    assert [g["layer_adaptation"] for g in opt.param_groups] == [True, False]
    assert all(g["bias_correction"] is False for g in opt.param_groups)
    with pytest.raises(ValueError, match="only optimizer='lamb'"):
        build_optimizer(model, TrainConfig(optimizer="adam", bias_correction=False))
    with pytest.raises(ValueError, match="layer_adaptation"):
        build_optimizer(model, TrainConfig(optimizer="adam"),
                        lambda m: [{"params": list(m.parameters()), "layer_adaptation": False}])


def test_state_dict_round_trip_continues_exactly():
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2).double(), nn.Linear(3, 2).double()
    b.load_state_dict(a.state_dict())
    opt_a = Lamb(a.parameters(), lr=1e-2)
    grads = [[torch.randn_like(p) for p in a.parameters()] for _ in range(4)]

    def step(model, opt, gs):
        for p, g in zip(model.parameters(), gs):
            p.grad = g.clone()
        opt.step()

    for gs in grads[:2]:
        step(a, opt_a, gs)
    b.load_state_dict(a.state_dict())
    opt_b = Lamb(b.parameters(), lr=1e-2)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # as from disk: no shared tensors
    for gs in grads[2:]:
        step(a, opt_a, gs)
        step(b, opt_b, gs)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_the_posts_recipes_train_with_lamb():
    from kexue.diffusion.train import DiffusionConfig
    from kexue.roformer.pretrain import PretrainConfig

    su = DiffusionConfig.preset("su").train  # Keras-DDPM: LAMB, lr 1e−3, bias-corrected Adam moments
    assert (su.optimizer, su.lr, su.bias_correction, su.weight_decay) == ("lamb", 1e-3, True, 0.0)
    post = PretrainConfig().train  # bert4keras pretraining: LAMB 1.76e−3, wd 0.01, no bias correction
    assert (post.optimizer, post.lr, post.bias_correction, post.weight_decay) == ("lamb", 1.76e-3, False, 0.01)
