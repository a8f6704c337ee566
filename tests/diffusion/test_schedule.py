"""Schedules in Su's notation (kexue.fm/archives/9119 "超参设置") and their mapping to Ho/diffusers."""
import math

import pytest
import torch

from kexue.diffusion import Schedule


def test_su_bar_alpha_T_is_pinned_and_under_the_posts_bound():
    S = Schedule.preset("su")
    bar_alpha_T = float(S.bar_alpha[S.T])
    assert bar_alpha_T == pytest.approx(0.006482, abs=5e-7)
    # log ᾱ_T = ½ Σ log(1 − 0.02t/T) < −0.005 (T + 1)   (the post's bound, so ᾱ_T ≈ e^{−5})
    assert math.log(bar_alpha_T) < -0.005 * (S.T + 1)
    assert math.exp(-5.05) < bar_alpha_T < math.exp(-5.0)
    assert float(S.bar_alpha[S.T] ** 2) == pytest.approx(4.2e-5, rel=0.01)


def test_su_schedule_is_the_posts_formula():
    T = 1000
    S = Schedule.preset("su", T)
    t = torch.arange(1, T + 1, dtype=torch.float64)
    # α_t = √(1 − 0.02 t/T), α_t² + β_t² = 1, ᾱ_t = α_1⋯α_t, β̄_t = √(1 − ᾱ_t²)
    assert torch.allclose(S.alpha[1:], torch.sqrt(1 - 0.02 * t / T), rtol=0, atol=1e-15)
    assert torch.allclose(S.alpha**2 + S.beta**2, torch.ones(T + 1, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(S.bar_alpha[1:], torch.cumprod(S.alpha[1:], 0), rtol=1e-13)
    assert torch.allclose(S.bar_alpha**2 + S.bar_beta**2, torch.ones(T + 1, dtype=torch.float64), atol=1e-15)
    # index = t; entry 0 is the boundary t = 0
    assert (S.alpha[0], S.beta[0], S.bar_alpha[0], S.bar_beta[0]) == (1, 0, 1, 0)
    got = [round(float(S.bar_beta[t]), 5 if t < 10 else 4 if t < 100 else 3) for t in (1, 10, 100, 500)]
    assert got == [0.00447, 0.0332, 0.310, 0.959]


def test_merging_two_noises_keeps_unit_variance():
    # 9119 "降低方差": α_t ε̄-part and β_t ε_t merge into β̄_t ε because α_t² β̄_{t−1}² + β_t² = β̄_t²
    for name in ("su", "ho2020", "cosine"):
        S = Schedule.preset(name)
        lhs = S.alpha[1:] ** 2 * S.bar_beta[:-1] ** 2 + S.beta[1:] ** 2
        assert torch.allclose(lhs, S.bar_beta[1:] ** 2, rtol=1e-12, atol=1e-18)


def test_ho2020_and_diffusers_mapping():
    H = Schedule.preset("ho2020")
    assert torch.allclose(H.to_diffusers_betas(), torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64))
    assert math.sqrt(float(H.to_diffusers_alphas_cumprod()[-1])) == pytest.approx(0.006353, abs=5e-7)
    S = Schedule.preset("su")
    # alphas_cumprod[t − 1] = ᾱ_t², betas[t − 1] = β_t², and they are consistent with each other
    assert torch.allclose(S.to_diffusers_alphas_cumprod(), torch.cumprod(1 - S.to_diffusers_betas(), 0), rtol=1e-12)
    assert torch.allclose(S.to_diffusers_betas(), 0.02 * torch.arange(1, 1001, dtype=torch.float64) / 1000)
    back = Schedule.from_diffusers_betas(S.to_diffusers_betas())
    assert torch.allclose(back.bar_alpha, S.bar_alpha, rtol=1e-13)
    assert torch.allclose(Schedule.from_alpha(S.alpha[1:]).bar_beta, S.bar_beta, rtol=1e-9)


def test_schedules_match_diffusers():
    import diffusers as diffusers
    S = Schedule.preset("su")
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, trained_betas=S.to_diffusers_betas().numpy())
    assert torch.allclose(sched.alphas_cumprod.double(), S.to_diffusers_alphas_cumprod(), rtol=1e-5)
    for name, kind in (("ho2020", "linear"), ("cosine", "squaredcos_cap_v2")):
        sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=kind)
        ours = Schedule.preset(name).to_diffusers_alphas_cumprod()
        assert torch.allclose(sched.alphas_cumprod.double(), ours, rtol=1e-4, atol=1e-7), name


def test_cosine_schedule():
    C = Schedule.preset("cosine")
    s = 0.008
    f = lambda t: math.cos((t / 1000 + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    # ᾱ_t² = f(t)/f(0) where no step is capped
    assert float(C.bar_alpha[500] ** 2) == pytest.approx(f(500) / f(0), rel=1e-9)
    assert (C.beta[1:] ** 2).max() <= 0.999 + 1e-12
    assert torch.all(C.bar_alpha[1:] < C.bar_alpha[:-1])


def test_sigma_choices():
    S = Schedule.preset("su")
    for t in (1, 2, 10, 1000):
        assert S.sigma("beta", t) == pytest.approx(float(S.beta[t]), rel=1e-14)
        # σ_t = β̄_{t−1} β_t / β̄_t
        post = float(S.bar_beta[t - 1] * S.beta[t] / S.bar_beta[t])
        assert S.sigma("posterior", t) == pytest.approx(post, rel=1e-14)
        assert S.sigma("zero", t) == 0.0
    assert S.sigma("posterior", 1) == 0.0
    # a jump t → s: β_{t|s}² = 1 − ᾱ_t²/ᾱ_s², α_{t|s} = ᾱ_t/ᾱ_s
    t, s = 700, 450
    assert S.beta_between(t, s) ** 2 == pytest.approx(1 - float(S.bar_alpha[t] / S.bar_alpha[s]) ** 2, rel=1e-12)
    assert S.alpha_between(t, s) ** 2 + S.beta_between(t, s) ** 2 == pytest.approx(1.0, abs=1e-15)


def test_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown name 'karras'"):
        Schedule.preset("karras")
    with pytest.raises(ValueError, match=r"beta_sq\[2\]"):
        Schedule([0.1, 0.2, 1.5])
    with pytest.raises(ValueError, match="sigma='large'"):
        Schedule.preset("su").sigma("large", 5)
    with pytest.raises(ValueError, match="0 ≤ s < t"):
        Schedule.preset("su").beta_between(5, 5)
