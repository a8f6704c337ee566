"""The loss and the samplers of kexue.fm/archives/9119 and 9152, against closed forms and diffusers."""
import math

import pytest
import torch

from kexue.diffusion import (GaussianEps, Schedule, ddpm_loss, q_sample, sample, sample_inter, sampling_timesteps,
                             step)

S = Schedule.preset("su")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_q_sample():
    x0, eps = torch.randn(3, 1, 2, 2, generator=gen(0)), torch.randn(3, 1, 2, 2, generator=gen(1))
    t = torch.tensor([0, 1, 1000])
    got = q_sample(x0, t, eps, S)
    for i, ti in enumerate(t.tolist()):
        # x_t = ᾱ_t x_0 + β̄_t ε
        want = float(S.bar_alpha[ti]) * x0[i] + float(S.bar_beta[ti]) * eps[i]
        assert torch.allclose(got[i], want, atol=1e-6)
    assert torch.equal(got[0], x0[0])
    assert torch.allclose(q_sample(x0, 7, eps, S), float(S.bar_alpha[7]) * x0 + float(S.bar_beta[7]) * eps)
    with pytest.raises(ValueError, match="t must lie in 0..1000"):
        q_sample(x0, torch.tensor([0, 1, 1001]), eps, S)


def test_loss_is_a_sum_over_pixels_checked_by_hand():
    x0 = torch.randn(2, 1, 2, 3, generator=gen(2), dtype=torch.float64)
    eps = torch.randn(2, 1, 2, 3, generator=gen(3), dtype=torch.float64)
    t = torch.tensor([3, 700])
    model = lambda x_t, t: 0.5 * x_t + 0.01 * t.double().view(-1, 1, 1, 1)  # noqa: E731
    got = float(ddpm_loss(model, x0, S, t=t, eps=eps))
    per_sample = []
    for i in range(2):
        a, b, ti = float(S.bar_alpha[t[i]]), float(S.bar_beta[t[i]]), int(t[i])
        total = 0.0
        for e0, x in zip(eps[i].flatten().tolist(), x0[i].flatten().tolist()):
            x_t = a * x + b * e0
            total += (e0 - (0.5 * x_t + 0.01 * ti)) ** 2
        per_sample.append(total)
    # ‖ε − ε_θ‖² summed over the 6 pixels, then averaged over the batch (not the mse, which is 6× smaller)
    assert got == pytest.approx(sum(per_sample) / 2, rel=1e-12)
    mse = sum(per_sample) / 12
    assert got == pytest.approx(6 * mse, rel=1e-12)


def test_loss_draws_t_uniformly_and_drops_conditions():
    seen = {}

    class Probe(torch.nn.Module):
        num_classes = 10

        def forward(self, x_t, t, y=None):
            seen["t"], seen["y"] = t, y
            return torch.zeros_like(x_t)

    x0, y = torch.zeros(20000, 1), torch.randint(0, 10, (20000,), generator=gen(4))
    ddpm_loss(Probe(), x0, S, y=y, cond_drop=0.3, generator=gen(5))
    t = seen["t"]
    assert int(t.min()) == 1 and int(t.max()) == 1000
    counts = torch.bincount(t - 1, minlength=1000).view(10, 100).sum(1).double()
    assert torch.all((counts - 2000).abs() < 200)  # ten bins of 2000 ± 4.5σ
    dropped = (seen["y"] == 10).double().mean()
    assert abs(float(dropped) - 0.3) < 0.02
    assert torch.equal(seen["y"][seen["y"] != 10], y[seen["y"] != 10])
    with pytest.raises(ValueError, match="no num_classes"):
        ddpm_loss(lambda x, t, y=None: x, x0[:4], S, y=y[:4], cond_drop=0.5)


@pytest.mark.parametrize("t", [2, 50, 600])
def test_variance_reduction_identity_of_9119(t):
    """E‖ε_t − f(ᾱ_t x0 + α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t)‖² (two noises)
    = (β_t²/β̄_t²) E‖ε − (β̄_t/β_t) f(ᾱ_t x0 + β̄_t ε)‖² + d α_t² β̄_{t−1}²/β̄_t² (one noise),
    and the one-noise form is its conditional mean given ε, so its variance is smaller."""
    d, n = 4, 200000
    g = gen(10 + t)
    W = torch.randn(d, d, generator=g, dtype=torch.float64)
    f = lambda x: torch.tanh(x @ W.T)  # noqa: E731 - any fixed function plays ε_θ
    x0 = torch.randn(d, generator=g, dtype=torch.float64)
    a, b, bar_a, bar_b, bar_b_prev = (float(v) for v in (S.alpha[t], S.beta[t], S.bar_alpha[t], S.bar_beta[t],
                                                          S.bar_beta[t - 1]))
    eps_bar, eps_t = torch.randn(2, n, d, generator=g, dtype=torch.float64)
    two = ((eps_t - f(bar_a * x0 + a * bar_b_prev * eps_bar + b * eps_t)) ** 2).sum(1)
    # ε = (α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t)/β̄_t and ω = (β_t ε̄_{t−1} − α_t β̄_{t−1} ε_t)/β̄_t
    # are independent N(0, I)
    eps = (a * bar_b_prev * eps_bar + b * eps_t) / bar_b
    omega = (b * eps_bar - a * bar_b_prev * eps_t) / bar_b
    cov = torch.cov(torch.cat([eps, omega], 1).T)
    assert torch.allclose(cov, torch.eye(2 * d, dtype=torch.float64), atol=0.02)
    # ε_t = (β_t ε − α_t β̄_{t−1} ω)/β̄_t exactly
    assert torch.allclose(eps_t, (b * eps - a * bar_b_prev * omega) / bar_b, atol=1e-12)
    one = b**2 / bar_b**2 * ((eps - bar_b / b * f(bar_a * x0 + bar_b * eps)) ** 2).sum(1) \
        + d * a**2 * bar_b_prev**2 / bar_b**2
    se = math.sqrt(two.var() / n)
    assert abs(float(two.mean() - one.mean())) < 5 * se
    assert float(one.var()) < float(two.var())


def test_sigma_optimality_claims_of_9152_hold_exactly():
    """σ_t = β_t keeps data N(0, I) exact at every step; σ_t = β̄_{t−1}β_t/β̄_t keeps a single point
    exact (9152 "超参设置"). The step is affine in x_t, so variances propagate in closed form."""
    for s_data, kind, want in ((1.0, "beta", lambda t: 1.0), (0.0, "posterior", lambda t: float(S.bar_beta[t]) ** 2)):
        model = GaussianEps(0.0, s_data, S)
        v = 1.0 if s_data == 1.0 else float(S.bar_beta[S.T]) ** 2
        for t in range(S.T, 0, -1):
            x = torch.ones(1, 1, dtype=torch.float64)
            a = float(step(model(x, torch.tensor([t])), x, t, S, "zero"))
            # Var x_{t−1} = a² Var x_t + σ_t²
            v = a * a * v + S.sigma(kind, t) ** 2
            assert v == pytest.approx(want(t - 1), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("sigma", ["beta", "posterior"])
def test_sampler_returns_the_gaussian_data_law(sigma):
    """With the exact ε-predictor for N(μ, s²I) the full T = 1000 chain returns mean μ and variance s².
    Neither σ is exact for general s (see the test above); at T = 1000 the bias is < 2 % for s ≥ 0.5."""
    mu, s = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.5, 1.0, 2.0])
    x = sample(GaussianEps(mu, s, S), S, (20000, 3), sigma=sigma, generator=gen(20))
    assert torch.allclose(x.mean(0), mu, atol=0.05)
    assert torch.allclose(x.var(0) / s**2, torch.ones(3), atol=0.06)


def test_ddim_with_fewer_steps_returns_the_gaussian_data_law():
    mu, s = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.5, 1.0, 2.0])
    x = sample(GaussianEps(mu, s, S), S, (20000, 3), sigma="zero", steps=200, ddim=True, generator=gen(21))
    assert torch.allclose(x.mean(0), mu, atol=0.05)
    assert torch.allclose(x.var(0) / s**2, torch.ones(3), atol=0.06)


def test_step_forms_agree():
    x_t, eps, z = torch.randn(3, 2, 5, generator=gen(30), dtype=torch.float64)
    for t, s in ((500, 499), (500, 250), (40, 0)):
        # DDIM with the posterior σ is the ancestral posterior step
        a = step(eps, x_t, t, S, "posterior", z, s=s)
        b = step(eps, x_t, t, S, "posterior", z, s=s, ddim=True)
        assert torch.allclose(a, b, atol=1e-10)
        # the mean written through x̂_0 equals Su's when nothing is clipped
        x_small = 1e-3 * x_t
        c = step(eps * 0, x_small, t, S, "beta", z, s=s)
        d = step(eps * 0, x_small, t, S, "beta", z, s=s, clip_x0=True)
        assert torch.allclose(c, d, atol=1e-12)
    # clipping bounds x̂_0 = (x_t − β̄_t ε)/ᾱ_t: a greedy step to 0 returns it
    x0 = step(eps, 10 * x_t, 900, S, "zero", s=0, clip_x0=True)
    assert float(x0.abs().max()) <= 1.0 + 1e-12


def test_strided_timesteps():
    assert sampling_timesteps(1000, 10) == list(range(1000, 0, -100))
    assert sampling_timesteps(1000) == list(range(1000, 0, -1))
    assert sampling_timesteps(1000, 1000) == sampling_timesteps(1000)
    ts = sampling_timesteps(1000, 7)
    assert ts[0] == 1000 and len(set(ts)) == 7 and ts == sorted(ts, reverse=True)
    with pytest.raises(ValueError, match="steps=0"):
        sampling_timesteps(1000, 0)


def test_noise_list_and_seed_reproduce_the_loop():
    model = GaussianEps(0.3, 0.7, S)
    small = Schedule.preset("su", T=20)
    model = GaussianEps(0.3, 0.7, small)
    x_T = torch.randn(4, 2, generator=gen(40))
    zs = [torch.randn(4, 2, generator=gen(100 + i)) for i in range(20)]
    got = sample(model, small, None, x_T=x_T, noise=zs)
    x = x_T
    for i, t in enumerate(range(20, 0, -1)):
        x = step(model(x, torch.full((4,), t)), x, t, small, "beta", zs[i])
    assert torch.allclose(got, x, atol=1e-6)
    assert torch.equal(sample(model, small, (4, 2), generator=gen(7)), sample(model, small, (4, 2), generator=gen(7)))
    by_t = sample(model, small, None, x_T=x_T, noise=lambda t: zs[20 - t])
    assert torch.allclose(by_t, got)


def test_classifier_free_guidance_convention():
    class Toy(torch.nn.Module):
        num_classes = 3

        def forward(self, x_t, t, y=None):
            return x_t * 0 + (y.float() + 1).view(-1, 1)

    y, w = torch.tensor([0, 2]), 1.5
    x_T = torch.randn(2, 4, generator=gen(50))
    x0 = sample(Toy(), S, None, sigma="zero", steps=1, y=y, guidance_w=w, x_T=x_T)
    # one greedy jump T → 0: x_0 = (x_T − β̄_T ε̃)/ᾱ_T, so ε̃ = (x_T − ᾱ_T x_0)/β̄_T
    eps_tilde = (x_T - float(S.bar_alpha[S.T]) * x0) / float(S.bar_beta[S.T])
    # ε̃ = (1 + w) ε_θ(x, y) − w ε_θ(x, ∅), with ∅ = num_classes = 3 → ε = 4
    want = (1 + w) * (y.float() + 1).view(-1, 1) - w * 4.0
    assert torch.allclose(eps_tilde, want.expand(2, 4), atol=1e-3)
    with pytest.raises(ValueError, match="needs class labels"):
        sample(Toy(), S, (2, 4), guidance_w=1.0)


def test_sample_inter_mixes_then_denoises_from_t0():
    x_a, x_b = -torch.ones(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    zero = lambda x_t, t: torch.zeros_like(x_t)  # noqa: E731
    out = sample_inter(zero, S, x_a, x_b, t0=1, k=5, sigma="posterior", generator=gen(60))
    assert out.shape == (2, 5, 1, 2, 2)
    # from t0 = 1 the chain is x_0 = x_1/α_1 = x + (β_1/α_1) z: the mixture (1 − λ)x_a + λ x_b, λ = j/4
    lam = torch.linspace(-1, 1, 5).view(1, 5, 1, 1, 1)
    assert torch.allclose(out, lam.expand_as(out), atol=0.03)
    far = sample_inter(GaussianEps(0.0, 1.0, S), S, x_a, x_b, t0=1000, k=3, steps=10, generator=gen(61))
    assert far.shape == (2, 3, 1, 2, 2)


@pytest.mark.parametrize("sigma,variance_type", [("beta", "fixed_large"), ("posterior", "fixed_small")])
def test_one_step_equals_diffusers_ddpm_scheduler(sigma, variance_type):
    """Same x_t, ε and z: our step at Su's t equals `DDPMScheduler.step` at k = t − 1, for every k > 0
    (diffusers adds no noise at k = 0). In float64 (diffusers' schedule tensors swapped for ours) to
    1e−12; stock diffusers keeps its schedule in float32, where 1 − ᾱ_t²/ᾱ_{t−1}² loses digits at small
    t: |Δ| ≤ 1.9e−4 there, while our float32 step stays within 5e−7 of float64."""
    import diffusers as diffusers
    sched = diffusers.DDPMScheduler(num_train_timesteps=S.T, trained_betas=S.to_diffusers_betas().numpy(),
                                    clip_sample=False, variance_type=variance_type)
    sched.set_timesteps(S.T)
    for dtype, tol in ((torch.float32, 3e-4), (torch.float64, 1e-10)):
        if dtype == torch.float64:
            sched.betas, sched.alphas_cumprod = S.to_diffusers_betas(), S.to_diffusers_alphas_cumprod()
            sched.alphas, sched.one = 1 - sched.betas, torch.tensor(1.0, dtype=torch.float64)
        worst = 0.0
        for k in range(1, S.T):
            g = gen(1000 + k)
            x_t, eps = torch.randn(2, 2, 3, 4, 4, generator=g, dtype=dtype)
            theirs = sched.step(eps, k, x_t, generator=gen(k)).prev_sample
            ours = step(eps, x_t, k + 1, S, sigma, torch.randn(2, 3, 4, 4, generator=gen(k), dtype=dtype))
            worst = max(worst, float((theirs - ours).abs().max()))
        assert worst < tol, (dtype, worst)


def test_strided_and_clipped_steps_equal_diffusers():
    import diffusers as diffusers
    sched = diffusers.DDPMScheduler(num_train_timesteps=S.T, trained_betas=S.to_diffusers_betas().numpy(),
                                    clip_sample=True, variance_type="fixed_small", timestep_spacing="trailing")
    sched.set_timesteps(25)
    times = sampling_timesteps(S.T, 25)
    assert [int(k) + 1 for k in sched.timesteps] == times
    for i, t in enumerate(times[:-1]):
        g = gen(2000 + t)
        x_t, eps = 2 * torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
        theirs = sched.step(eps, t - 1, x_t, generator=gen(t)).prev_sample
        ours = step(eps, x_t, t, S, "posterior", torch.randn(2, 3, 4, 4, generator=gen(t)), s=times[i + 1],
                    clip_x0=True)
        assert torch.allclose(theirs, ours, atol=1e-4), t
