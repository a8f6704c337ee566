"""Every branch of every verdict rule, reached with synthetic numbers (kexue/verdicts.py)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.result import Claim
from kexue.verdicts import (Decision, Floor, all_of, at_least, at_most, better, close_to, equivalent, floors,
                            gpu_claim, no_better, non_inferior, not_checkable, paired_bootstrap, speedup, spread,
                            welch_interval)


def test_welch_interval_matches_scipy_ttest():
    from scipy.stats import ttest_ind
    a, b = [1.0, 1.2, 0.9, 1.1], [0.5, 0.7, 0.6]
    lo, hi = welch_interval(a, b)
    res = ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert lo == pytest.approx(ci.low) and hi == pytest.approx(ci.high)


def test_one_seed_cannot_decide():
    assert welch_interval([1.0], [0.0, 0.1]) == (-math.inf, math.inf)
    assert better([1.0], [0.0]).verdict == "inconclusive"


@pytest.mark.parametrize("a,b,hib,verdict", [
    ([0.90, 0.91, 0.92], [0.50, 0.51, 0.52], True, "held"),
    ([0.50, 0.51, 0.52], [0.90, 0.91, 0.92], True, "not held"),
    ([0.50, 0.60, 0.70], [0.55, 0.65, 0.60], True, "inconclusive"),
    ([1.0, 1.1, 1.05], [2.0, 2.1, 2.05], False, "held"),      # losses: lower is better
    ([2.0, 2.1, 2.05], [1.0, 1.1, 1.05], False, "not held"),
])
def test_better_branches(a, b, hib, verdict):
    d = better(a, b, higher_is_better=hib)
    assert d.verdict == verdict and d.rule


def test_better_margin_turns_a_small_win_inconclusive():
    a, b = [0.52, 0.521, 0.522], [0.50, 0.501, 0.502]
    assert better(a, b).verdict == "held"
    assert better(a, b, margin=0.05).verdict == "inconclusive"


@pytest.mark.parametrize("a,b,tol,verdict", [
    ([0.50, 0.51, 0.50], [0.60, 0.61, 0.60], 0.0, "held"),     # A clearly worse: no better
    ([0.90, 0.91, 0.90], [0.50, 0.51, 0.50], 0.05, "not held"),
    ([0.50, 0.70, 0.60], [0.55, 0.65, 0.60], 0.0, "inconclusive"),
])
def test_no_better_branches(a, b, tol, verdict):
    assert no_better(a, b, tolerance=tol).verdict == verdict


@pytest.mark.parametrize("a,b,tol,verdict", [
    ([0.50, 0.51, 0.50], [0.50, 0.505, 0.51], 0.05, "held"),
    ([0.90, 0.91, 0.90], [0.50, 0.51, 0.50], 0.05, "not held"),
    ([0.30, 0.70, 0.50], [0.50, 0.51, 0.50], 0.05, "inconclusive"),
])
def test_equivalent_branches(a, b, tol, verdict):
    assert equivalent(a, b, tolerance=tol).verdict == verdict


def test_close_to_is_decided_by_the_standard_error():
    assert close_to(1.02, 1.0, stderr=0.01).verdict == "held"       # 2 SE
    assert close_to(1.05, 1.0, stderr=0.01).verdict == "not held"   # 5 SE: a wrong formula
    assert close_to(1.0 + 1e-9, 1.0, atol=1e-6).verdict == "held"
    assert close_to(1.1, 1.0, rtol=0.05).verdict == "not held"


@pytest.mark.parametrize("value,noise,verdict", [(2.0, 0.5, "held"), (0.0, 0.5, "not held"), (1.2, 0.5, "inconclusive")])
def test_thresholds(value, noise, verdict):
    assert at_least(value, 1.0, noise=noise).verdict == verdict
    mirrored = {"held": "not held", "not held": "held", "inconclusive": "inconclusive"}[verdict]
    assert at_most(value, 1.0, noise=noise).verdict == mirrored


def test_floors_make_an_untrained_comparison_inconclusive():
    won = better([0.3, 0.31, 0.32], [0.1, 0.11, 0.12])
    assert won.verdict == "held"
    learned = [Floor("acc A", 0.31, 0.25, True), Floor("acc B", 0.11, 0.25, True)]  # B at chance
    d = floors(learned, won)
    assert d.verdict == "inconclusive" and "acc B" in d.why and "acc B" in d.rule
    ok = floors([Floor("loss A", 1.0, 2.0, False, margin=0.1)], won)
    assert ok.verdict == "held"


def test_all_of_takes_the_worst():
    h, n, i = close_to(1, 1), close_to(2, 1), at_least(1.2, 1.0, noise=0.5)
    assert all_of([h, h], "r").verdict == "held"
    assert all_of([h, i], "r").verdict == "inconclusive"
    assert all_of([h, i, n], "r").verdict == "not held"
    assert all_of([h, not_checkable("no data")], "r").verdict == "not checkable"


def test_to_claim_carries_rule_and_evidence():
    c = better([1, 2, 3], [0, 0.5, 1]).to_claim("A > B", "A 2 vs B 0.5", evidence={"A": [1, 2, 3], "B": [0, 0.5, 1]})
    assert isinstance(c, Claim) and c.rule.startswith("A better than B") and c.evidence["A"]["mean"] == 2.0
    assert c.evidence["A"]["std"] == pytest.approx(1.0) and c.evidence["B"]["n"] == 3
    assert spread([1, 2, 3]).fmt() == "2 ± 1 (n=3)"


def test_paired_bootstrap_sees_a_consistent_per_item_gain():
    rng = np.random.default_rng(0)
    b = rng.normal(size=200)
    lo, hi = paired_bootstrap(b + 0.1, b)
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    lo, hi = paired_bootstrap(rng.normal(size=200), rng.normal(size=200))
    assert lo < 0 < hi


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=2, max_size=6), st.lists(st.floats(-10, 10), min_size=2, max_size=6))
def test_better_and_its_mirror_never_both_hold(a, b):
    """A better than B and B better than A cannot both be held; swapping sides swaps held and not held."""
    ab, ba = better(a, b).verdict, better(b, a).verdict
    assert not (ab == "held" and ba == "held")
    if ab == "held":
        assert ba == "not held"


# --- non-inferiority against a learned gain, the speed-up rule, GPU claims, checks with controls ---



@pytest.mark.parametrize("a, verdict", [
    ([3.00, 3.01, 2.99], "held"),          # A loses nothing: well inside δ = 0.1 × 1.0
    ([3.30, 3.31, 3.29], "not held"),      # A loses 0.3 nat of a 1.0 nat gain: beyond δ
    ([3.00, 3.30, 2.80], "inconclusive"),  # the interval straddles −δ
])
def test_non_inferior_margin_is_a_share_of_the_gain(a, verdict):
    b = [3.0, 3.01, 2.99]  # B learned 1 nat below the floor 4.0
    assert non_inferior(a, b, floor=4.0, share=0.1, higher_is_better=False).verdict == verdict


def test_non_inferior_cannot_pass_what_a_loss_band_would():
    # the old ±5 % band on the loss (±0.15 nat at 3.0) would call a 0.12-nat loss "close";
    # measured against a 0.2-nat gain with a 25 % margin (δ = 0.05) it is not held
    b = [3.80, 3.81, 3.79]
    a = [3.92, 3.93, 3.91]
    assert abs(np.mean(a) / np.mean(b) - 1) < 0.05
    assert non_inferior(a, b, floor=4.0, share=0.25, higher_is_better=False).verdict == "not held"


@pytest.mark.parametrize("slow, fast, verdict", [
    ([3.0, 3.1, 2.9, 3.0], [1.0, 1.02, 0.98, 1.0], "held"),        # 3× against a 2× target
    ([1.2, 1.21, 1.19, 1.2], [1.0, 1.01, 0.99, 1.0], "not held"),  # 1.2× against 2×
    ([2.0, 3.0, 1.5, 2.6], [1.0, 1.2, 0.9, 1.1], "inconclusive"),  # 2× inside the noise
])
def test_speedup_branches(slow, fast, verdict):
    assert speedup({"n=1": (slow, fast)}, target=2.0).verdict == verdict


def test_speedup_takes_the_worst_cell():
    good = ([3.0, 3.1, 2.9], [1.0, 1.01, 0.99])
    bad = ([1.1, 1.11, 1.09], [1.0, 1.01, 0.99])
    assert speedup({"a": good, "b": bad}, target=2.0).verdict == "not held"


def test_gpu_claim_is_not_checkable_on_a_cpu_and_keeps_the_measurement():
    d = speedup({"n=512": ([1.3, 1.31, 1.29], [1.0, 1.01, 0.99])}, target=1.2)
    on_cpu = gpu_claim(d, "cpu")
    assert on_cpu.verdict == "not checkable" and "not checkable on CPU" in on_cpu.why and "1.30×" in on_cpu.why
    assert gpu_claim(d, "cuda:0") is d


def test_check_needs_its_control_rejected():
    right = close_to(12.0, 12.0, name="count")
    wrong = close_to(13.0, 12.0, name="count")
    assert right.to_check("count", "12", wrong, "count + 1").verdict == "held"
    # a control that also passes means the check could not fail
    assert right.to_check("count", "12", right, "the same count").verdict == "inconclusive"
    assert wrong.to_check("count", "13", wrong, "count + 1").verdict == "not held"


def test_to_claim_carries_the_quote_and_what_would_decide_it():
    d = Decision("inconclusive", "rule", "why")
    c = d.to_claim("claim", "measured", quote=(9529, "会有一定的升秩作用"), needs="three more seeds")
    assert (c.source, c.quote, c.needs) == (9529, "会有一定的升秩作用", "three more seeds")
    held = Decision("held", "rule").to_claim("claim", "measured", needs="three more seeds")
    assert held.needs == ""  # a decided claim needs nothing
