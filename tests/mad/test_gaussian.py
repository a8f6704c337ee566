"""The Gaussian family and its exact predictions, by Monte Carlo against the closed forms of
kexue.fm/archives/9687 and Alemohammad et al. 2023 (Sec. 3.1), with tolerances from the Monte Carlo
standard error and negative controls (the shifted exponent λ^t, a fresh loop that remembers n_ini)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings, strategies as st

from kexue.mad import exact
from kexue.mad.gaussian import GaussianConfig, GaussianFamily, fit_points, scatter, wishart_factor
from kexue.mad.loops import LoopConfig, run_loop
from kexue.mad.wasserstein import sqrtm_psd, w2_squared, w2_squared_factor

Z = 4.5  # tolerance in Monte Carlo standard errors (the runs are seeded, so this never flakes)


def _spd(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, d, generator=g, dtype=torch.float64)
    return A @ A.T / d + 0.5 * torch.eye(d, dtype=torch.float64)


def _within(values: np.ndarray, target: float, z: float = Z) -> bool:
    se = values.std(ddof=1) / math.sqrt(len(values))
    return abs(values.mean() - target) <= z * se


# --- W2 ---

def test_w2_matches_scipy_sqrtm_and_the_commuting_closed_form():
    S1, S0 = _spd(5, 1), _spd(5, 2)
    mu1, mu0 = torch.arange(5.0, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    r = scipy.linalg.sqrtm(S0.numpy())
    cross = scipy.linalg.sqrtm(r @ S1.numpy() @ r).real
    ref = float(mu1.pow(2).sum()) + np.trace(S1.numpy()) + np.trace(S0.numpy()) - 2 * np.trace(cross)
    assert float(w2_squared(mu1, S1, mu0, S0)) == pytest.approx(ref, rel=1e-9)
    # diagonal (commuting) covariances: W2² = ‖Δμ‖² + Σ_i (√a_i − √b_i)²
    a, b = torch.tensor([1.0, 4.0, 0.25], dtype=torch.float64), torch.tensor([9.0, 1.0, 1.0], dtype=torch.float64)
    got = w2_squared(torch.zeros(3, dtype=torch.float64), torch.diag(a), torch.ones(3, dtype=torch.float64), torch.diag(b))
    assert float(got) == pytest.approx(3 + float((a.sqrt() - b.sqrt()).pow(2).sum()), rel=1e-12)
    # a distance: zero to itself, symmetric
    assert float(w2_squared(mu1, S1, mu1, S1)) == pytest.approx(0.0, abs=1e-9)
    assert float(w2_squared(mu1, S1, mu0, S0)) == pytest.approx(float(w2_squared(mu0, S0, mu1, S1)), rel=1e-9)
    assert torch.allclose(sqrtm_psd(S0) @ sqrtm_psd(S0), S0, atol=1e-12)
    # from a factor: Σ₁ = F Fᵀ, M = B Bᵀ with B = Σ₀^{1/2} F; also when Σ₁ is singular
    F = torch.linalg.cholesky(S1)
    assert float(w2_squared_factor(mu1, F, mu0, S0, sqrtm_psd(S0))) == pytest.approx(ref, rel=1e-9)
    Fs = F[:, :3]
    assert float(w2_squared_factor(mu1, Fs, mu0, S0, sqrtm_psd(S0))) == pytest.approx(
        float(w2_squared(mu1, Fs @ Fs.T, mu0, S0)), abs=1e-6)  # √ of round-off eigenvalues differ


# --- drawing ---

@pytest.mark.parametrize("k,d", [(12, 3), (2, 3), (3, 6)])  # Bartlett (k ≥ d) and its singular form (k < d)
def test_wishart_factor_has_the_wishart_first_and_second_moments(k, d):
    A = wishart_factor(k, d, 20000, np.random.default_rng(0))
    W = (A @ A.mT).numpy()
    # E W = k I;  E W_ii² = k² + 2k (a χ²_k), the last row too;  E W_01² = k
    assert _within(W[:, 0, 0], k) and _within(W[:, 1, 2], 0.0) and _within(W[:, -1, -1], k)
    assert _within(W[:, 0, 0] ** 2, k * k + 2 * k) and _within(W[:, 0, 1] ** 2, k)
    assert _within(W[:, -1, -1] ** 2, k * k + 2 * k) and _within(W[:, -1, 0] ** 2, k)
    assert not _within(W[:, 0, 0], k + 1)  # negative control: the wrong degrees of freedom are caught
    # lower trapezoidal, d × min(d, k), with a positive diagonal
    assert A.shape[1:] == (d, min(d, k)) and torch.equal(A, A.tril())
    assert bool((A.diagonal(dim1=-2, dim2=-1) > 0).all())


def test_statistics_and_samples_draws_agree_in_distribution():
    Sigma0 = _spd(3, 5)
    lam = torch.full((8000,), 0.7, dtype=torch.float64)
    out = {}
    for draw in ("statistics", "samples"):
        fam = GaussianFamily(GaussianConfig(d=3, draw=draw), lam, Sigma0=Sigma0)
        model = fam.fit(fam.real(6, np.random.default_rng(1)))
        out[draw] = fam.synth(model, 5, np.random.default_rng(2))
    for draw, data in out.items():
        S = scatter(data).numpy()
        # two stages: E S = 0.7 · 4 · Σ_0 (the model's E Σ = Σ_0); E x̄ = μ_0 = 0
        assert _within(S[:, 0, 1], 0.7 * 4 * float(Sigma0[0, 1])), draw
        assert _within(data["mean"].numpy()[:, 2], 0.0), draw
    a, b = (scatter(out[k])[:, 0, 0].pow(2).numpy() for k in ("statistics", "samples"))
    se = math.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(a.mean() - b.mean()) < Z * se  # a second moment, not only the mean


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 9), st.integers(2, 9), st.integers(1, 4), st.integers(0, 10**6))
def test_pooled_statistics_equal_the_statistics_of_the_union(na, nb, d, seed):
    fam = GaussianFamily(GaussianConfig(d=d, draw="samples"), torch.ones(2, dtype=torch.float64))
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((2, na + nb, d)))

    def stats(p):
        m = p.mean(1)
        c = p - m[:, None]
        return {"n": torch.tensor(p.shape[1]), "mean": m, "scatter": c.mT @ c}

    pooled, whole = fam.pool([stats(x[:, :na]), stats(x[:, na:])]), stats(x)
    assert torch.allclose(pooled["mean"], whole["mean"], atol=1e-12)
    assert torch.allclose(pooled["scatter"], whole["scatter"], atol=1e-10)
    mu, Sigma = fit_points(x)
    assert torch.allclose(fam.fit(whole)["F"] @ fam.fit(whole)["F"].mT, Sigma, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pool_changes_no_part_and_forms_each_real_sets_scatter_once(dtype):
    d = 4
    fam = GaussianFamily(GaussianConfig(d=d, dtype=dtype), torch.ones(3, dtype=torch.float64))
    rng = np.random.default_rng(3)
    real, other_real = fam.real(50, rng), fam.real(40, rng)
    model = fam.fit(fam.real(20, rng))
    a, b, c = fam.synth(model, 30, rng), fam.synth(model, 25, rng), fam.synth(model, 3, rng)  # c: n − 1 < d
    assert "factor" in a and "scatter" in c
    before = {id(p): {k: v.clone() for k, v in p.items()} for p in (real, other_real, a, b, c)}

    def by_hand(p, q):  # S_a + S_b + (n_a n_b / n)(x̄_a − x̄_b)(x̄_a − x̄_b)ᵀ in float64
        na, nb = int(p["n"]), int(q["n"])
        diff = p["mean"] - q["mean"]
        return scatter(p).double() + scatter(q).double() + na * nb / (na + nb) * diff[:, :, None] * diff[:, None, :]

    # the fixed real set pooled with two synthetic sets (its S kept), then another real set (not the kept S)
    for p, q in ((real, a), (real, b), (other_real, b), (real, a), (real, c), (real, c)):
        got = fam.pool([p, q])["scatter"].double()
        assert torch.allclose(got, by_hand(p, q), rtol=1e-5 if dtype == "float32" else 1e-12)
    for p in (real, other_real, a, b, c):
        assert all(torch.equal(v, before[id(p)][k]) for k, v in p.items())


# --- the loops against the exact moments ---

def _run(loop: str, lams=(1.0, 0.8), G=12, seeds=3000, d=2, n_ini=8, n_r=6, n_s=5, draw="statistics", Sigma0=None,
         dtype="float64", **kw):
    cfg = LoopConfig(loop=loop, lams=lams, generations=G, seeds=seeds, n_ini=n_ini, n_r=n_r, n_s=n_s, **kw)
    fam = GaussianFamily(GaussianConfig(d=d, draw=draw, dtype=dtype), cfg.lam_rows(), Sigma0=Sigma0)
    return run_loop(fam, cfg), fam


@pytest.mark.parametrize("loop,draw,dtype", [("synthetic", "statistics", "float64"), ("synthetic", "samples", "float64"),
                                             ("augment", "statistics", "float64"), ("fresh", "statistics", "float64"),
                                             ("synthetic", "statistics", "float32"), ("augment", "statistics", "float32"),
                                             ("fresh", "statistics", "float32")])
def test_loop_moments_match_the_exact_recurrence(loop, draw, dtype):
    Sigma0 = _spd(2, 3)
    n_r = 8 if loop == "augment" else 6
    seeds = 3000 if draw == "statistics" else 1500
    res, fam = _run(loop, seeds=seeds, n_r=n_r, draw=draw, Sigma0=Sigma0, dtype=dtype)
    tr0 = float(Sigma0.trace())
    for lam in (1.0, 0.8):
        a, b = exact.moments(loop, lam, 12, n_ini=8, n_r=n_r, n_s=5)
        tr, err = res.per_lam("tr_sigma", lam) / tr0, res.per_lam("mean_sq_err", lam)
        for t in (1, 4, 11):  # generations 2, 5, 12
            assert _within(tr[t], a[t]), (loop, lam, t, tr[t].mean(), a[t])
            # E‖μ_t − μ_0‖² = b_t tr Σ_0
            assert _within(err[t], b[t] * tr0), (loop, lam, t, err[t].mean(), b[t] * tr0)


def test_synthetic_loop_closed_forms_and_the_shifted_exponent_is_caught():
    a, b = exact.moments("synthetic", 0.8, 12, n_ini=8, n_r=0, n_s=5)
    t = np.arange(1, 13)
    assert np.allclose(a, 0.8 ** (t - 1))  # E Σ_t = λ^{t−1} Σ_0: real data are unbiased
    assert np.allclose(b, 1 / 8 + np.array([sum(0.8**k for k in range(1, s)) for s in t]) / 5)
    # the post's form: λ = 1, n_ini = n_s = n  ⇒  Cov(μ_t) = (t/n) Σ_0
    assert np.allclose(exact.moments("synthetic", 1.0, 12, n_ini=5, n_r=0, n_s=5)[1], t / 5)
    res, _ = _run("synthetic", lams=(0.8,), seeds=4000, n_ini=20, n_s=20)
    tr = res.per_lam("tr_sigma", 0.8) / 2
    assert _within(tr[11], 0.8**11)
    assert not _within(tr[11], 0.8**12)  # negative control: E Σ_t = λ^t Σ_0 (bias on the real data) is rejected


def test_collapse_at_lambda_one_median_falls_while_mean_stays():
    res, _ = _run("synthetic", lams=(1.0,), G=40, seeds=4000, d=2, n_ini=10, n_s=10)
    tr, logdet = res.per_lam("tr_sigma", 1.0) / 2, res.per_lam("log_det", 1.0)
    assert _within(tr[39], 1.0) and _within(tr[9], 1.0)  # E tr Σ_t = tr Σ_0 at λ = 1
    assert np.median(tr[39]) < 0.5 * np.median(tr[0])  # ... yet the typical loop has collapsed
    pred = exact.expected_log_det(1.0, 40, n_ini=10, n_s=10, d=2)
    assert pred[39] < pred[0] < 0 and exact.wishart_log_det_drift(9, 2) < 0
    for t in (0, 9, 39):
        assert _within(logdet[t], pred[t]), (t, logdet[t].mean(), pred[t])
    assert not _within(logdet[39], pred[0])  # negative control: no drift would be rejected


def test_fresh_limit_does_not_depend_on_n_ini():
    lam, n_r, n_s = 0.8, 6, 5
    a_inf, b_inf = exact.fresh_limit(lam, n_r, n_s)
    for n_ini in (4, 400):
        a, b = exact.moments("fresh", lam, 60, n_ini=n_ini, n_r=n_r, n_s=n_s)
        assert a[-1] == pytest.approx(a_inf, rel=1e-9) and b[-1] == pytest.approx(b_inf, rel=1e-9)
    means = {}
    for n_ini in (3, 300):
        res, _ = _run("fresh", lams=(lam,), G=25, seeds=3000, d=2, n_ini=n_ini, n_r=n_r, n_s=n_s)
        tr, err = res.per_lam("tr_sigma", lam) / 2, res.per_lam("mean_sq_err", lam) / 2
        assert _within(tr[-1], a_inf) and _within(err[-1], b_inf)
        means[n_ini] = err[0]
    # negative control: at generation 1 the two loops differ by far more than the noise
    assert not _within(means[3], means[300].mean())


# --- the engine's shortcuts ---

def test_w2_grid_log_and_every():
    log = GaussianConfig(d=2, w2_at="log")
    got = [t for t in range(1, 1001) if log.w2_due(t, last=1000)]
    assert got == list(range(1, 10)) + list(range(10, 100, 10)) + list(range(100, 1001, 100))
    assert log.w2_due(457, last=457) and not log.w2_due(457, last=500)  # the last generation always
    every = GaussianConfig(d=2, w2_every=5)
    assert [t for t in range(1, 13) if every.w2_due(t)] == [1, 5, 10]
    with pytest.raises(ValueError, match="w2_at"):
        GaussianConfig(d=2, w2_at="sometimes").check()


def test_singular_fit_gives_a_lower_triangular_factor_of_sigma():
    # n = 3 ≤ d = 5: Σ is singular, Cholesky fails; F must still be lower triangular with F Fᵀ = Σ
    fam = GaussianFamily(GaussianConfig(d=5, draw="samples"), torch.ones(4, dtype=torch.float64))
    data = fam.real(3, np.random.default_rng(0))
    F = fam.fit(data)["F"]
    Sigma = scatter(data) / 2
    assert torch.equal(F, F.tril()) and torch.allclose(F @ F.mT, Sigma, atol=1e-10)
    log_det = fam.measure(fam.fit(data), 2)["log_det"]
    assert bool((log_det < -20).all())  # log det of a singular Σ: −∞ or round-off


# --- float32: F = s·G rescaled every generation ---

class _NoRescale(GaussianFamily):
    """Negative control: a float32 engine that keeps s inside the float32 factor (no renormalisation)."""

    @staticmethod
    def _normalised(mu, F, log_s):
        return {"mu": mu, "F": F * torch.exp(log_s).to(F.dtype)[:, None, None], "log_s": torch.zeros_like(log_s)}


def _long_synthetic(family=GaussianFamily, dtype="float32", G=1000, seeds=400, d=3, n=20):
    cfg = LoopConfig(loop="synthetic", lams=(0.8,), generations=G, seeds=seeds, n_ini=n, n_s=n)
    fam = family(GaussianConfig(d=d, dtype=dtype, w2_at="log"), cfg.lam_rows(), last=G)
    return run_loop(fam, cfg)


def test_float32_engine_agrees_with_float64_over_1000_generations_at_lambda_0_8():
    d, n, G = 3, 20, 1000
    pred = exact.expected_log_det(0.8, G, n_ini=n, n_s=n, d=d)  # E log det Σ_t, exact
    a, _ = exact.moments("synthetic", 0.8, G, n_ini=n, n_r=0, n_s=n)  # E tr Σ_t = λ^{t−1} tr Σ_0
    got = {}
    for dtype in ("float64", "float32"):
        res = _long_synthetic(dtype=dtype, d=d, n=n, G=G)
        tr, ld, w2 = (res.per_lam(k, 0.8) for k in ("tr_sigma", "log_det", "w2"))
        assert np.isfinite(tr).all() and (tr > 0).all() and np.isfinite(ld).all(), dtype
        assert np.isfinite(w2[[0, 9, 99, 999]]).all(), dtype
        # 0.8^999 · 3 ≈ 1e−97: far below float32's smallest number, yet tracked through log s
        assert np.median(tr[-1]) < 1e-80, dtype
        assert _within(tr[11] / d, a[11]), (dtype, tr[11].mean() / d, a[11])
        for t in (11, 99, 999):
            assert _within(ld[t], pred[t]), (dtype, t, ld[t].mean(), pred[t])
        # W2 → ‖μ_∞ − μ_0‖ as Σ_t → 0: W2² = ‖μ − μ_0‖² + tr Σ_0 − 2·0 + tiny
        assert np.allclose(w2[-1] ** 2, res.per_lam("mean_sq_err", 0.8)[-1] + d, rtol=1e-6)
        got[dtype] = ld[-1]
    # the two precisions: the same law of log det Σ_1000
    x, y = got["float64"], got["float32"]
    assert abs(x.mean() - y.mean()) < Z * math.sqrt(x.var() / x.size + y.var() / y.size)


def test_float32_without_the_rescale_underflows_negative_control():
    res = _long_synthetic(family=_NoRescale, G=1000, seeds=50)
    tr, ld = res.per_lam("tr_sigma", 0.8), res.per_lam("log_det", 0.8)
    assert np.isfinite(ld[:20]).all()  # early on the control is fine ...
    # ... then F underflows float32 (entries ~0.8^500 < 1e−45): zeros, log det −∞, the checks above fail
    assert (tr[-1] == 0).any() and not np.isfinite(ld[-1]).all()


@pytest.mark.parametrize("k,d", [(12, 3), (2, 3)])
def test_float32_draws_have_the_wishart_moments(k, d):
    from kexue.mad.gaussian import wishart_draw_torch

    z, A = wishart_draw_torch(k, d, 20000, torch.Generator().manual_seed(0), torch.float32)
    W = (A.double() @ A.double().mT).numpy()
    assert A.dtype == torch.float32 and A.shape[1:] == (d, min(d, k)) and torch.equal(A, A.tril())
    assert _within(W[:, 0, 0], k) and _within(W[:, 2, 2], k) and _within(W[:, 1, 2], 0.0)
    assert _within(W[:, 2, 2] ** 2, k * k + 2 * k) and _within(z.double().numpy()[:, 0] ** 2, 1.0)
    assert not _within(W[:, 2, 2], k - 1)  # negative control: χ²_{k−i} with a shifted i is caught


def test_float32_needs_the_statistics_draw():
    with pytest.raises(ValueError, match="dtype"):
        GaussianConfig(d=2, dtype="float32", draw="samples").check()
    with pytest.raises(ValueError, match="dtype"):
        GaussianConfig(d=2, dtype="float16").check()
