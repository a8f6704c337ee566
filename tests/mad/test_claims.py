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


def test_almost_sure_collapse_branches():
    first = np.ones(400)
    mid = around(2.0, 0.5, 400)
    shrunk = np.where(np.arange(400) < 300, 0.1, 5.0)
    ld = around(-20, 1, 400)
    assert rules.almost_sure_collapse(mid, first, shrunk, 2.0, ld, -20.0, -1.0).verdict == "held"
    # no loop shrank
    assert rules.almost_sure_collapse(mid, first, 2 * first, 2.0, ld, -20.0, -1.0).verdict == "not held"
    # the mean moved: E tr Σ_t ≠ tr Σ_0 (the λ^t variant)
    assert rules.almost_sure_collapse(mid * 0.8, first, shrunk, 2.0, ld, -20.0, -1.0).verdict == "not held"
    # no drift in the exact log det
    assert rules.almost_sure_collapse(mid, first, shrunk, 2.0, ld, -20.0, -25.0).verdict == "not held"
    # half shrank: inside the binomial band
    half = np.where(np.arange(400) < 200, 0.1, 5.0)
    assert rules.almost_sure_collapse(mid, first, half, 2.0, ld, -20.0, -1.0).verdict == "inconclusive"


@pytest.mark.parametrize("last,verdict", [(2.0, "held"), (0.5, "not held"), (1.0, "inconclusive")])
def test_degrades(last, verdict):
    assert rules.degrades(around(1.0, 0.05), around(last, 0.05), higher_is_better=False, what="W2").verdict == verdict


def test_fixed_real_only_slows():
    assert rules.fixed_real_only_slows(around(9), around(2), around(1.5)).verdict == "held"
    assert rules.fixed_real_only_slows(around(9), around(1.5), around(1.5, 0.5)).verdict == "inconclusive"
    assert rules.fixed_real_only_slows(around(1), around(2), around(1.5)).verdict == "not held"  # augment worse
    assert rules.fixed_real_only_slows(around(9), around(1.5), around(2)).verdict == "not held"  # it improved


def test_limit_ignores_start():
    assert rules.limit_ignores_start(around(4.5), around(4.5), around(5.6), around(1.6), 0.2).verdict == "held"
    assert rules.limit_ignores_start(around(4.5), around(5.5), around(5.6), around(1.6), 0.2).verdict == "not held"
    assert rules.limit_ignores_start(around(4.5, 0.3, 3), around(4.6, 0.3, 3), around(5.6), around(1.6),
                                     0.2).verdict == "inconclusive"
    # did not start apart: the check says nothing
    assert rules.limit_ignores_start(around(4.5), around(4.5), around(1.6), around(1.6), 0.2).verdict == "inconclusive"


@pytest.mark.parametrize("mix,verdict", [(3.5, "held"), (7.0, "not held"), (5.6, "inconclusive")])
def test_synthetic_helps(mix, verdict):
    assert rules.synthetic_helps(around(mix, 0.3, 4), around(5.6, 0.3, 4)).verdict == verdict


def test_precision_holds_recall_falls_and_both_fall_with_the_floor():
    ok = Floor("recall t=1", 0.9, 0.45, higher_is_better=True)
    bad = Floor("recall t=1", 0.3, 0.45, higher_is_better=True)
    p1, r1 = around(0.99), around(0.94)
    assert rules.precision_holds_recall_falls(p1, around(1.0), r1, around(0.1), 0.02, ok).verdict == "held"
    assert rules.precision_holds_recall_falls(p1, around(0.8), r1, around(0.1), 0.02, ok).verdict == "not held"
    assert rules.precision_holds_recall_falls(p1, around(1.0), r1, around(0.1), 0.02, bad).verdict == "inconclusive"
    assert rules.both_fall(p1, around(0.9), r1, around(0.4), ok).verdict == "held"
    assert rules.both_fall(p1, around(1.05), r1, around(0.4), ok).verdict == "not held"
    assert rules.both_fall(p1, around(0.95, 0.1, 3), r1, around(0.4), ok).verdict == "inconclusive"


def test_modal_not_total():
    assert rules.modal_not_total(around(5e-3, 1e-4), around(1e-3, 1e-4), around(16), around(16), 1.6).verdict == "held"
    assert rules.modal_not_total(around(5e-3, 1e-4), around(1e-3, 1e-4), around(16), around(10), 1.6).verdict == "not held"
    assert rules.modal_not_total(around(5e-3, 1e-4), around(4e-3, 5e-3, 3), around(16), around(16), 1.6).verdict == "inconclusive"


def test_diffusion_bias_rule_with_two_floors_every_branch():
    """The diffusion claim: floors on generation 1's precision and recall; three seeds a side."""
    p_ok = Floor("precision t=1", 0.8, 0.45, higher_is_better=True)
    r_ok = Floor("recall t=1", 0.5, 0.2, higher_is_better=True)
    r_bad = Floor("recall t=1", 0.1, 0.2, higher_is_better=True)
    p1, r1 = around(0.85, 0.01, 3), around(0.55, 0.01, 3)
    rule = rules.precision_holds_recall_falls
    assert rule(p1, around(0.86, 0.01, 3), r1, around(0.3, 0.01, 3), 0.05, [p_ok, r_ok]).verdict == "held"
    assert rule(p1, around(0.6, 0.01, 3), r1, around(0.3, 0.01, 3), 0.05, [p_ok, r_ok]).verdict == "not held"
    assert rule(p1, around(0.6, 0.01, 3), r1, around(0.6, 0.01, 3), 0.05, [p_ok, r_ok]).verdict == "not held"
    # inside the noise: two seeds far apart
    assert rule(p1, around(0.85, 0.2, 3), r1, around(0.45, 0.2, 3), 0.05, [p_ok, r_ok]).verdict == "inconclusive"
    d = rule(p1, around(0.86, 0.01, 3), r1, around(0.3, 0.01, 3), 0.05, [p_ok, r_bad])
    assert d.verdict == "inconclusive" and "did not learn" in d.why and "recall t=1" in d.why
