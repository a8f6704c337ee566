"""Every rule of kexue/mad/claims.py reaches held, not held and inconclusive on synthetic numbers."""
from __future__ import annotations

import numpy as np
import pytest

from kexue.mad import claims as rules
from kexue.verdicts import Floor

rng = np.random.default_rng(0)


def around(mean, sd=0.01, n=10):
    return mean + sd * rng.standard_normal(n)


def test_moment_matches_reads_the_monte_carlo_error():
    x = around(1.0, 0.1, 400)
    assert rules.moment_matches(x, 1.0, "m").verdict == "held"
    assert rules.moment_matches(x, 1.1, "m").verdict == "not held"  # 20 SE away: a wrong formula
    assert rules.moments_match([(x, 1.0, "a"), (x, 1.1, "b")], "both").verdict == "not held"


@pytest.mark.parametrize("last,verdict", [(2.0, "held"), (0.5, "not held"), (1.0, "inconclusive")])
def test_degrades(last, verdict):
    assert rules.degrades(around(1.0, 0.05), around(last, 0.05), higher_is_better=False, what="W2").verdict == verdict


def test_fixed_real_only_slows():
    assert rules.fixed_real_only_slows(around(9), around(2), around(1.5)).verdict == "held"
    assert rules.fixed_real_only_slows(around(9), around(1.5), around(1.5, 0.5)).verdict == "inconclusive"
    assert rules.fixed_real_only_slows(around(1), around(2), around(1.5)).verdict == "not held"  # augment worse
    assert rules.fixed_real_only_slows(around(9), around(1.5), around(2)).verdict == "not held"  # it improved


def test_almost_sure_collapse_branches():
    first = np.ones(400)
    mid = around(2.0, 0.5, 400)
    shrunk = np.where(np.arange(400) < 300, 0.1, 5.0)
    assert rules.almost_sure_collapse(mid, first, shrunk, 2.0).verdict == "held"
    assert rules.almost_sure_collapse(mid, first, 2 * first, 2.0).verdict == "not held"  # no loop shrank
    assert rules.almost_sure_collapse(mid * 0.8, first, shrunk, 2.0).verdict == "not held"  # E tr Σ_t moved
    half = np.where(np.arange(400) < 200, 0.1, 5.0)
    assert rules.almost_sure_collapse(mid, first, half, 2.0).verdict == "inconclusive"  # inside the binomial band


def test_paired_interval_is_scipy_paired_t_and_ratio_interval_the_delta_method():
    from scipy.stats import ttest_rel
    a, b = [0.91, 0.85, 0.80, 0.88], [0.78, 0.74, 0.69, 0.77]
    ci = ttest_rel(a, b).confidence_interval(0.95)
    assert rules.paired_interval(a, b) == pytest.approx((ci.low, ci.high))
    assert rules.paired_interval([1.0], [0.5]) == (-np.inf, np.inf)
    den = rng.exponential(1.0, 4000)
    r, lo, hi = rules.ratio_interval(0.8 * den * rng.gamma(50, 1 / 50, den.size), den)
    assert lo < 0.8 < hi and hi - lo < 0.02 and lo < r < hi


def _geometric_traces(rate, loops=2000, generations=12, noise=0.1):
    """tr Σ_t of loops whose one-step ratio has mean `rate` (a Gamma factor, like a Wishart's trace)."""
    steps = rng.gamma(1 / noise**2, noise**2, (generations - 1, loops)) * rate
    return np.vstack([np.ones((1, loops)), np.cumprod(steps, axis=0)])


@pytest.mark.parametrize("rate,loops,verdict", [(0.8, 2000, "held"), (0.64, 2000, "not held"),  # λ² (std scaled)
                                                (0.8, 5, "inconclusive")])
def test_shrinks_by_reads_the_ratio_of_means_with_its_interval(rate, loops, verdict):
    tr = _geometric_traces(rate, loops)
    assert rules.shrinks_by(tr[1:].sum(0), tr[:-1].sum(0), 0.8).verdict == verdict


def test_the_level_check_rejects_the_off_by_one_lambda_t():
    """E tr Σ_t = λ^{t−1} tr Σ_0 (real data unbiased) holds on real loops; λ^t, the notes' off-by-one, fails.
    The old claim read the level at T = 30 only, where 4 SE cover both λ^29 and λ^30."""
    from kexue.mad import exact
    from kexue.mad.gaussian import GaussianConfig, GaussianFamily
    from kexue.mad.loops import LoopConfig, run_loop
    cfg = LoopConfig(loop="synthetic", lams=(0.8,), generations=5, seeds=1500, n_ini=20, n_s=20)
    res = run_loop(GaussianFamily(GaussianConfig(d=4, w2_every=10**9), cfg.lam_rows()), cfg)
    tr = res.per_lam("tr_sigma", 0.8) / 4
    a, _ = exact.moments("synthetic", 0.8, 5, 20, 20, 20)
    t = np.arange(1, 6)
    assert rules.moments_match([(tr[i], a[i], "a") for i in range(5)], "r").verdict == "held"
    assert rules.moments_match([(tr[i], 0.8 ** t[i], "a") for i in range(5)], "r").verdict == "not held"
    num, den = tr[1:].sum(0), tr[:-1].sum(0)
    assert rules.shrinks_by(num, den, 0.8).verdict == "held"


def test_fresh_settles_fails_a_loop_that_still_moves():
    ends = dict(first_a=around(5.6), first_b=around(1.6))
    assert rules.fresh_settles(around(4.5), around(4.5), mid_b=around(4.5), tolerance=0.2, **ends).verdict == "held"
    assert rules.fresh_settles(around(4.5), around(5.5), mid_b=around(5.5), tolerance=0.2, **ends).verdict == "not held"
    # the same end from both starts, but still degrading between T/2 and T: the degradation did not stop
    assert rules.fresh_settles(around(4.5), around(4.5), mid_b=around(3.0), tolerance=0.2, **ends).verdict == "not held"
    assert rules.fresh_settles(around(4.5, 0.3, 3), around(4.6, 0.3, 3), mid_b=around(4.6, 0.3, 3), tolerance=0.2,
                               **ends).verdict == "inconclusive"
    # did not start apart: the check says nothing
    assert rules.fresh_settles(around(4.5), around(4.5), around(1.6), around(1.6), around(4.5), 0.2).verdict == "inconclusive"


def test_deviates_is_quality_or_diversity_per_seed():
    ok = Floor("recall t=1", 0.9, 0.45, higher_is_better=True)
    p1, r1 = around(0.98), around(0.96)
    held = rules.deviates(p1, p1 + around(0.0, 0.01), r1, r1 - around(0.5, 0.02), floor=ok)
    assert held.verdict == "held"  # recall fell, precision did not: the post's "或者"
    same = rules.deviates(p1, p1 + around(0.0, 0.002), r1, r1 + around(0.0, 0.002), floor=ok)
    assert same.verdict == "not held"  # neither fell by 0.02
    assert rules.deviates(p1[:3], p1[:3] - [0.05, -0.04, 0.02], r1[:3], r1[:3] - [-0.03, 0.06, 0.01]).verdict == "inconclusive"
    bad = Floor("recall t=1", 0.3, 0.45, higher_is_better=True)
    assert rules.deviates(p1, p1, r1, r1 - 0.5, floor=bad).verdict == "inconclusive"


def test_precision_holds_recall_falls_is_read_per_seed():
    """Three seeds whose generation-1 precision differs a lot (0.80–0.92) but each of which loses 0.12: Welch
    over seeds (the old rule) cannot tell the drop from the 0.05 band; the paired per-seed interval can."""
    from kexue.verdicts import no_better
    p1 = np.array([0.80, 0.86, 0.92])
    pT = p1 - np.array([0.118, 0.121, 0.124])
    r1, rT = np.array([0.88, 0.89, 0.90]), np.array([0.30, 0.33, 0.29])
    assert no_better(p1, pT, tolerance=0.05).verdict == "inconclusive"  # the old, unpaired reading
    assert rules.precision_holds_recall_falls(p1, pT, r1, rT, 0.05).verdict == "not held"
    assert rules.precision_holds_recall_falls(p1, p1 - 0.01 + np.array([0, 0.003, -0.003]), r1, rT, 0.05).verdict == "held"
    noisy = p1 - np.array([-0.05, 0.10, 0.02])
    assert rules.precision_holds_recall_falls(p1, noisy, r1, rT, 0.05).verdict == "inconclusive"


def test_diffusion_rule_with_floors_every_branch():
    p_ok = Floor("precision t=1", 0.8, 0.45, higher_is_better=True)
    r_bad = Floor("recall t=1", 0.1, 0.2, higher_is_better=True)
    p1, r1 = around(0.85, 0.01, 3), around(0.55, 0.01, 3)
    d = rules.precision_holds_recall_falls(p1, p1, r1, r1 - 0.2, 0.05, [p_ok, r_bad])
    assert d.verdict == "inconclusive" and "did not learn" in d.why and "recall t=1" in d.why


def test_modal_not_total_per_seed_on_log_scale():
    m1, v1 = around(5e-3, 2e-4), around(16, 0.3)
    assert rules.modal_not_total(m1, m1 * 0.3, v1, v1 * around(0.98, 0.01)).verdict == "held"
    assert rules.modal_not_total(m1, m1 * 0.3, v1, v1 * around(0.7, 0.01)).verdict == "not held"  # total shows it
    assert rules.modal_not_total(m1, m1 * around(1.5, 0.05), v1, v1).verdict == "not held"  # modal rose
    assert rules.modal_not_total(m1[:3], m1[:3] * around(0.5, 0.6, 3), v1[:3], v1[:3]).verdict == "inconclusive"
    assert rules.modal_not_total(m1, np.zeros_like(m1), v1, v1).verdict == "held"  # every mode lost: log 0 kept finite
