"""Every diffusion verdict rule on synthetic numbers (each branch reached, "not held" included), and the
exact checks against deliberately wrong variants (negative controls) measured by the real code."""
import math

import numpy as np

import pytest

from kexue.diffusion import claims as rules
from kexue.diffusion import identities as exact
from kexue.diffusion.reproduce import IDENTITY_TS, POINT
from kexue.diffusion.schedule import Schedule
from kexue.verdicts import Decision, all_of, at_most, close_to, paired_interval

SU = Schedule.preset("su", 1000)


# --- 1. ᾱ_T: the post's formula, compared exactly ---

def test_bar_alpha_T_is_the_posts_formula():
    formula, bound = exact.bar_alpha_T_formula(1000), exact.su_bound(1000)
    assert formula == pytest.approx(0.006482, abs=5e-7)
    assert rules.bar_alpha_T(float(SU.bar_alpha[-1]), formula, bound).verdict == "held"


def test_bar_alpha_T_rejects_both_slips():
    """The schedule one step off gives ᾱ_T = 0.006417: 4.8 % from e^−5 and under the bound, so the old
    rule (|ᾱ_T − e^−5| ≤ 5 % and ᾱ_T ≤ bound) held it; compared with the post's formula it fails."""
    formula, bound = exact.bar_alpha_T_formula(1000), exact.su_bound(1000)
    wrong = {k: float(s.bar_alpha[-1]) for k, s in exact.wrong_schedules(1000).items()}
    off = next(v for k, v in wrong.items() if "off" in k)
    old = all_of([at_most(off, bound), close_to(off, math.exp(-5), rtol=0.05)], rule="the old band")
    assert old.verdict == "held"  # the band that fit the known number could not catch the slip
    assert all(rules.bar_alpha_T(v, formula, bound).verdict == "not held" for v in wrong.values())
    assert exact.bar_alpha_T_formula(1000, shift=1) == pytest.approx(off, rel=1e-12)
    controls = {k: rules.bar_alpha_T(v, formula, bound) for k, v in wrong.items()}
    assert rules.every_rejected(controls).verdict == "not held"


def test_every_rejected_branches():
    no, yes = Decision("not held", "r", "a"), Decision("held", "r", "b")
    assert rules.every_rejected({"x": no, "y": no}).verdict == "not held"
    assert rules.every_rejected({"x": no, "y": yes}).verdict == "held"
    check = rules.bar_alpha_T(0.006482, 0.006482, 0.0067).to_check("i", "m", rules.every_rejected({"y": yes}), "c")
    assert check.verdict == "inconclusive"  # a control that passes: the check could not have failed


# --- 2. the variance-reduction identity ---

def test_identity_rule_branches():
    assert rules.identity({10: (0.01, 0.01), 500: (-0.03, 0.01)}).verdict == "held"
    d = rules.identity({10: (0.01, 0.01), 500: (0.05, 0.01)})
    assert d.verdict == "not held" and "t=500" in d.why


@pytest.mark.parametrize("t", IDENTITY_TS)
def test_identity_holds_and_its_wrong_variants_do_not(t):
    r = exact.variance_identity(SU, t, 20000, seed=0)
    assert rules.identity({t: r["diff"]}).verdict == "held"
    # the page's negative control: the merged ε in place of ε_t, no weight, no constant
    assert rules.identity({t: r["wrong_diff"]}).verdict == "not held"
    # the constant dropped: the difference is d α_t² β̄_{t−1}²/β̄_t², far outside the error
    c = 16 * float(SU.alpha[t]) ** 2 * float(SU.bar_beta[t - 1]) ** 2 / float(SU.bar_beta[t]) ** 2
    assert rules.identity({t: (r["diff"][0] + c, r["diff"][1])}).verdict == "not held"


def test_the_merged_noise_is_standard_normal():
    """ε = (α_t β̄_{t−1} ε̄_{t−1} + β_t ε_t)/β̄_t is N(0, I) as α_t² β̄_{t−1}² + β_t² = β̄_t², and ᾱ_t = α_t ᾱ_{t−1}:
    so x_t = ᾱ_t x_0 + β̄_t ε is the two-noise x_t, and the two sides share their draws legitimately."""
    t = 500
    a, b, bb = float(SU.bar_alpha[t]), float(SU.beta[t]), float(SU.bar_beta[t - 1])
    assert float(SU.alpha[t]) ** 2 * bb**2 + b**2 == pytest.approx(float(SU.bar_beta[t]) ** 2, rel=1e-12)
    assert a == pytest.approx(float(SU.alpha[t]) * float(SU.bar_alpha[t - 1]), rel=1e-12)


# --- 3. 9152's optimal σ_t, on the sampler's exact law ---

def test_chain_law_matches_the_variance_recursion():
    """Var x_{t−1} = α_t² Var x_t + σ_t² for data N(0, 1) (ε = β̄_t x_t): the recursion by hand."""
    v = 1.0
    for t in range(SU.T, 0, -1):
        v = float(SU.alpha[t]) ** 2 * v + SU.sigma("posterior", t) ** 2
    assert exact.chain_law(SU, "posterior", 0.0, 1.0)["var"] == pytest.approx(v, rel=1e-12)


def test_optimal_sigmas_hold_and_swapped_do_not():
    assert rules.chain_law(exact.chain_law(SU, "beta", 0.0, 1.0), 0.0, 1.0).verdict == "held"
    assert rules.chain_law(exact.chain_law(SU, "posterior", 0.0, 1.0), 0.0, 1.0).verdict == "not held"
    assert rules.chain_law(exact.chain_law(SU, "posterior", POINT, 0.0), POINT, 0.0).verdict == "held"
    assert rules.chain_law(exact.chain_law(SU, "beta", POINT, 0.0), POINT, 0.0).verdict == "not held"
    # σ = 0 (greedy): no z at all, and the mean is still x_* (the exact ε makes every step unbiased)
    assert exact.chain_law(SU, "zero", POINT, 0.0)["mean"] == pytest.approx(POINT, abs=1e-9)


def test_chain_law_rule_branches():
    assert rules.chain_law({"mean": 0.0, "var": 1.0 + 1e-12}, 0.0, 1.0).verdict == "held"
    assert rules.chain_law({"mean": 1e-6, "var": 1.0}, 0.0, 1.0).verdict == "not held"
    assert rules.chain_law({"mean": 0.0, "var": 0.999}, 0.0, 1.0).verdict == "not held"


# --- 4–6. trained-model claims ---

NOISE = 100.0
DATA = [2.0, 2.2, 1.9]


def test_samples_look_like_data_branches():
    good = rules.samples_look_like_data(800.0, 100.0, [0.8, 0.82, 0.79], [10.0, 11.0, 10.5], NOISE)
    assert good.verdict == "held"
    assert rules.samples_look_like_data(800.0, 100.0, [0.2, 0.22, 0.21], [10.0, 11.0, 10.5], NOISE).verdict \
        == "not held"
    assert rules.samples_look_like_data(800.0, 100.0, [0.3, 0.7, 0.5], [10.0, 11.0, 10.5], NOISE).verdict \
        == "inconclusive"
    # floors: the loss did not fall, or the samples are as far as noise
    lazy = rules.samples_look_like_data(800.0, 700.0, [0.8, 0.82, 0.79], [10.0, 11.0, 10.5], NOISE)
    assert lazy.verdict == "inconclusive" and "did not learn" in lazy.why
    assert rules.samples_look_like_data(800.0, 100.0, [0.8, 0.82, 0.79], [90.0, 95.0, 99.0], NOISE).verdict \
        == "inconclusive"


@pytest.mark.parametrize("first,final,precision,fd,diverged", [
    (800.0, math.nan, [math.nan] * 3, [math.nan] * 3, "training diverged: step 2: the loss is nan"),
    (800.0, math.inf, [0.8, 0.8, 0.8], [10.0, 11.0, 10.5], ""),    # an inf loss, not flagged by the caller
    (800.0, 100.0, [math.nan] * 3, [math.nan] * 3, "the samples of ema, σ=β are not finite"),
])
def test_a_diverging_ddpm_is_not_held(first, final, precision, fd, diverged):
    """The old rule read a NaN loss as a missed floor, "inconclusive: did not learn"; the post says
    DDPM is easy to train, so a run that diverges contradicts it."""
    d = rules.samples_look_like_data(first, final, precision, fd, NOISE, diverged)
    assert d.verdict == "not held"
    assert rules.similar([math.nan] * 3, [math.nan] * 3, DATA, NOISE).verdict == "inconclusive"
    assert rules.at_least_as_good([math.nan] * 3, [math.nan] * 3, DATA, NOISE).verdict == "inconclusive"


def test_similar_branches():
    assert rules.similar([10.0, 10.3, 9.9], [10.4, 10.1, 10.2], DATA, NOISE).verdict == "held"
    assert rules.similar([10.0, 10.3, 9.9], [20.4, 20.1, 20.2], DATA, NOISE).verdict == "not held"
    assert rules.similar([10.0, 14.0, 6.0], [12.0, 8.0, 16.0], DATA, NOISE).verdict == "inconclusive"
    assert rules.similar([10.0], [10.1], DATA, NOISE).verdict == "inconclusive"  # one draw cannot decide
    untrained = rules.similar([90.0, 92.0, 91.0], [90.5, 91.5, 91.0], DATA, NOISE)
    assert untrained.verdict == "inconclusive" and "did not learn" in untrained.why


def test_similar_pairs_the_draws():
    """The quick run's numbers (FD-digits per draw, same x_T and z per draw index): Welch's interval of
    the unpaired draws, [−3.5, 12.0], crosses the band ±11.1 and was "inconclusive"; the paired one
    is [0.9, 7.6]."""
    beta, post, data = [38.46, 45.86, 43.5], [35.22, 40.07, 39.78], [13.96, 9.46, 9.85]
    lo, hi = paired_interval(np.subtract(beta, post))
    assert 0.5 < lo < 1.5 and 7.0 < hi < 8.0
    assert rules.similar(beta, post, data, 1200.0).verdict == "held"


def test_bands_are_the_declared_shares_of_the_data_vs_data_fd():
    assert rules.SIGMA_MARGIN_SHARE == 1.0 and rules.EMA_MARGIN_SHARE == 1.0
    tol = rules.SIGMA_MARGIN_SHARE * sum(DATA) / len(DATA)
    # a paired gap just inside the band holds, just outside it does not
    assert rules.similar([10.0, 10.02, 9.98], [10 - tol + 0.2] * 3, DATA, NOISE).verdict == "held"
    assert rules.similar([10.0, 10.02, 9.98], [10 - tol - 0.3] * 3, DATA, NOISE).verdict == "not held"
    assert f"{rules.SIGMA_MARGIN_SHARE:g} × the mean FD of held-out real images" in \
        rules.similar([10.0, 10.1, 9.9], [10.0] * 3, DATA, NOISE).rule


def test_paired_interval_edges():
    assert paired_interval([-1.0]) == (-math.inf, math.inf)
    assert all(math.isnan(v) for v in paired_interval(np.subtract([1.0, math.nan], [1.0, 2.0])))
    assert paired_interval(np.subtract([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])) == (2.0, 2.0)


def test_at_least_as_good_branches():
    # EMA better, or equal: held
    assert rules.at_least_as_good([8.0, 8.2, 7.9], [12.0, 12.3, 11.8], DATA, NOISE).verdict == "held"
    assert rules.at_least_as_good([10.0, 10.2, 9.9], [10.1, 9.9, 10.0], DATA, NOISE).verdict == "held"
    # raw better by far more than real data's own FD: not held
    assert rules.at_least_as_good([20.0, 20.2, 19.9], [10.1, 9.9, 10.0], DATA, NOISE).verdict == "not held"
    assert rules.at_least_as_good([12.0, 16.0, 8.0], [10.0, 6.0, 14.0], DATA, NOISE).verdict == "inconclusive"
    assert rules.at_least_as_good([8.0, 8.2, 7.9], [80.0, 82.0, 81.0], DATA, NOISE).verdict == "inconclusive"


def test_rules_are_written_out():
    d = rules.similar([10.0, 10.3, 9.9], [10.4, 10.1, 10.2], DATA, NOISE)
    assert "held-out real images" in d.rule and "counts only if" in d.rule and "paired" in d.rule
    claim = d.to_claim("c", "m", evidence={"σ=β": [10.0, 10.3, 9.9]}, quote=rules.QUOTES["similar"])
    assert claim.evidence["σ=β"]["n"] == 3 and claim.rule and claim.source == 9152
    assert rules.not_checkable_celeba().verdict == "not checkable"
