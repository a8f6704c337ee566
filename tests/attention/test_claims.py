"""Every branch of post 8610's verdict rules, with synthetic numbers (kexue/attention/claims.py)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.attention import claims, cost
from kexue.attention.measure import counted_mults

S = cost.LayerShape(h=2, d=16)


def test_count_matches_the_real_layer_and_a_wrong_formula_is_not_held():
    n = 48
    counted = counted_mults(n, S)
    right = {"sa": cost.sa_mults(n, S), "ffn": cost.ffn_mults(n, S)}
    assert claims.count_matches(counted, right).verdict == "held"
    # negative controls: the n² term counted once (n²hd), and an FFN of width 2hd
    wrong_sa = dict(right, sa=4 * n * S.h**2 * S.d**2 + n**2 * S.h * S.d)
    wrong_ffn = dict(right, ffn=4 * n * S.hidden**2)
    assert claims.count_matches(counted, wrong_sa).verdict == "not held"
    assert claims.count_matches(counted, wrong_ffn).verdict == "not held"


def test_counted_mults_sees_the_attention_core_of_multi_head_attention():
    # the core alone is 2n²hd: the difference between two lengths' SA counts checks the n² term is counted
    a, b = counted_mults(32, S)["sa"], counted_mults(64, S)["sa"]
    assert b - 2 * a == 2 * (64**2 - 2 * 32**2) * S.h * S.d


@pytest.mark.parametrize("measured,n_max,verdict", [
    (1600.0, 4096, "held"), (800.0, 4096, "held"), (700.0, 4096, "not held"), (3500.0, 4096, "not held"),
    (None, 4096, "not held"),   # the range reached past 2 × 1536 without a crossover
    (None, 2048, "inconclusive"),  # too short a range to tell
])
def test_crossover_near(measured, n_max, verdict):
    assert claims.crossover_near(measured, 1536, n_max).verdict == verdict


NS = [128, 256, 512, 1024, 2048, 4096]


def _layer_times(rho: float, hd: int = 768, noise: float = 0.0, seed: int = 0) -> list[float]:
    """t(n) = a + b·n + c·n² with c/b = ρ/(6hd), times relative noise."""
    rng = np.random.default_rng(seed)
    b = 1e-3
    c = rho * b / (6 * hd)
    return [(0.05 + b * n + c * n * n) * (1 + noise * rng.standard_normal()) for n in NS]


@pytest.mark.parametrize("rho,noise,verdict", [
    (1.0, 0.01, "held"),       # the count's own n² term
    (7.0, 0.01, "not held"),   # a 7× larger n² term: the layer is quadratic well below 2hd
    (3.0, 0.05, "inconclusive"),  # on the bound, inside the noise
])
def test_near_linear_branches(rho, noise, verdict):
    d = claims.near_linear(NS, _layer_times(rho, noise=noise), hd=768)
    assert d.verdict == verdict, d.why


def test_near_linear_recovers_rho_exactly_without_noise():
    rho, lo, hi = claims.rho_interval(NS, _layer_times(2.5), hd=768)
    assert rho == pytest.approx(2.5, rel=1e-6) and lo == pytest.approx(hi, abs=1e-6)


def test_near_linear_needs_four_lengths():
    with pytest.raises(ValueError, match="≥ 4 lengths"):
        claims.near_linear(NS[:3], _layer_times(1.0)[:3], hd=768)


@given(st.lists(st.floats(-1, 1), min_size=2, max_size=8))
@settings(max_examples=50, deadline=None)
def test_mean_interval_contains_the_mean(xs):
    lo, hi = claims.mean_interval(xs)
    assert lo <= float(np.mean(xs)) + 1e-12 and float(np.mean(xs)) <= hi + 1e-12


def _q(soft: float, gap: float, jitter: float = 0.002) -> dict:
    s = [soft, soft + jitter, soft - jitter]
    return {"softmax": s, "linear": [x * (1 + gap) + j for x, j in zip(s, (0.0, jitter / 3, -jitter / 3))]}


@pytest.mark.parametrize("lm_gap,mlm_gap,unigram,verdict", [
    (0.005, 0.10, 6.0, "held"),        # close as LM, clearly worse as MLM
    (0.10, 0.10, 6.0, "not held"),     # the LM gap is large too
    (0.005, 0.004, 6.0, "not held"),   # the MLM is close as well
    (0.005, 0.10, 4.0, "inconclusive"),  # nothing beat the unigram baseline: did not learn
])
def test_lm_close_mlm_not_branches(lm_gap, mlm_gap, unigram, verdict):
    d = claims.lm_close_mlm_not(_q(4.0, lm_gap), _q(4.5, mlm_gap), unigram)
    assert d.verdict == verdict, d.why
    if verdict == "inconclusive":
        assert "did not learn" in d.why


def test_lm_close_mlm_not_is_inconclusive_inside_the_noise_and_with_one_seed():
    noisy = {"softmax": [4.0, 4.2, 3.8], "linear": [4.1, 3.9, 4.3]}
    assert claims.lm_close_mlm_not(noisy, _q(4.5, 0.10), 6.0).verdict == "inconclusive"
    one = {"softmax": [4.0], "linear": [4.02]}
    d = claims.lm_close_mlm_not(one, {"softmax": [4.5], "linear": [5.0]}, 6.0)
    assert d.verdict == "inconclusive" and "one seed" in d.why
    assert math.isinf(claims.mean_interval([1.0])[0])
