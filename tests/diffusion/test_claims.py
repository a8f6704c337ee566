"""Every diffusion verdict rule on synthetic numbers (each branch reached, "not held" included), and the
exact-math checks against deliberately wrong variants (negative controls)."""
import math

import pytest

from kexue.diffusion import claims as rules
from kexue.diffusion.reproduce import IDENTITY_TS, gaussian_check, variance_identity
from kexue.diffusion.schedule import Schedule

SU = Schedule.preset("su", 1000)


# --- 1. the schedule ---

def test_schedule_holds_for_su_and_not_for_a_schedule_without_the_square_root():
    assert rules.schedule(float(SU.bar_alpha[-1]), 1000).verdict == "held"
    # negative control: α_t = 1 − 0.02t/T (the square root dropped): ᾱ_T ≈ e^{−10}
    wrong = math.prod(1 - 0.02 * t / 1000 for t in range(1, 1001))
    assert rules.schedule(wrong, 1000).verdict == "not held"
    assert rules.schedule(math.exp(-5), 1000).verdict == "not held"  # ≈ e^−5 but above the bound


# --- 2. the variance-reduction identity ---

def test_identity_rule_branches():
    assert rules.identity({10: (0.01, 0.01), 500: (-0.03, 0.01)}).verdict == "held"
    d = rules.identity({10: (0.01, 0.01), 500: (0.05, 0.01)})
    assert d.verdict == "not held" and "t=500" in d.why


@pytest.mark.parametrize("t", IDENTITY_TS)
def test_identity_holds_and_its_wrong_variants_do_not(t):
    r = variance_identity(SU, t, 20000, seed=0)
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


# --- 3. the Gaussian check ---

def _row(mean, std, n=4000, mu=0.5, s=0.3):
    return {"mu": mu, "s": s, "mean": mean, "std": std, "n": n}


def test_gaussian_rule_branches():
    assert rules.gaussian({"beta": _row(0.501, 0.301), "posterior": _row(0.499, 0.299)}).verdict == "held"
    assert rules.gaussian({"beta": _row(0.55, 0.30)}).verdict == "not held"
    assert rules.gaussian({"beta": _row(0.50, 0.25)}).verdict == "not held"


def test_gaussian_sampler_holds_and_a_wrong_sigma_does_not():
    rows = gaussian_check(SU, 2000, seed=0, device="cpu", sigmas=("beta", "posterior", "zero"))
    assert rules.gaussian({k: rows[k] for k in ("beta", "posterior")}).verdict == "held"
    # negative control: σ = 0 (greedy) collapses the variance
    assert rules.gaussian({"zero": rows["zero"]}).verdict == "not held"


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


def test_similar_branches():
    assert rules.similar([10.0, 10.3, 9.9], [10.4, 10.1, 10.2], DATA, NOISE).verdict == "held"
    assert rules.similar([10.0, 10.3, 9.9], [20.4, 20.1, 20.2], DATA, NOISE).verdict == "not held"
    assert rules.similar([10.0, 14.0, 6.0], [12.0, 8.0, 16.0], DATA, NOISE).verdict == "inconclusive"
    assert rules.similar([10.0], [10.1], DATA, NOISE).verdict == "inconclusive"  # one draw cannot decide
    untrained = rules.similar([90.0, 92.0, 91.0], [90.5, 91.5, 91.0], DATA, NOISE)
    assert untrained.verdict == "inconclusive" and "did not learn" in untrained.why


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
    assert "held-out real images" in d.rule and "counts only if" in d.rule
    claim = d.to_claim("c", "m", evidence={"σ=β": [10.0, 10.3, 9.9]})
    assert claim.evidence["σ=β"]["n"] == 3 and claim.rule
    assert rules.not_checkable_celeba().verdict == "not checkable"
