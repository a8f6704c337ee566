"""Post 8610's multiplication count: its closed forms, its numbers for base and large, a real layer."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.attention import cost
from kexue.attention.claims import crossover as crossover_of_log_ratio
from kexue.attention.measure import counted_mults


def test_post_numbers_base():
    s = cost.BASE
    assert s.hidden == 768
    assert cost.crossover_sa_ffn(s) == 1536
    assert cost.crossover_quadratic(s) == 4608
    assert cost.crossover_linear(s, key_mult=4) == 1024
    assert cost.crossover_linear(s, key_mult=1) == 64  # the post: n > d when both use the same d


def test_post_numbers_large():
    s = cost.LARGE
    assert s.hidden == 1024
    assert cost.crossover_sa_ffn(s) == 2048
    assert cost.crossover_quadratic(s) == 6144


@pytest.mark.parametrize("n, share", [(128, 0.027), (512, 0.100), (1536, 0.25), (4608, 0.50)])
def test_quadratic_share_base(n, share):
    assert cost.quadratic_share(n) == pytest.approx(share, abs=6e-4)


@pytest.mark.parametrize("n, ratio", [(512, 2 / 3), (1536, 1.0), (4608, 2.0)])
def test_sa_over_ffn_base(n, ratio):
    # SA/FFN = (4hd + 2n) / (8hd)
    assert cost.sa_mults(n) / cost.ffn_mults(n) == pytest.approx(ratio)


@given(n=st.integers(1, 20000), h=st.integers(1, 32), d=st.integers(1, 256))
def test_crossovers_are_exact(n, h, d):
    s = cost.LayerShape(h=h, d=d)
    assert (cost.sa_mults(n, s) > cost.ffn_mults(n, s)) == (n > cost.crossover_sa_ffn(s))
    quad = 2 * n * n * h * d
    assert (quad > cost.layer_mults(n, s) - quad) == (n > cost.crossover_quadratic(s))
    assert (cost.softmax_attention_mults(n, s) > cost.linear_attention_mults(n, s, 4)) == (
        n > cost.crossover_linear(s, 4))
    assert cost.layer_mults(n, s) == 12 * n * h**2 * d**2 + 2 * n**2 * h * d


@settings(max_examples=8, deadline=None)
@given(n=st.sampled_from([8, 33, 64]), h=st.integers(1, 4), d=st.sampled_from([4, 8, 16]))
def test_flop_counter_on_a_real_layer_matches_the_formula(n, h, d):
    s = cost.LayerShape(h=h, d=d)
    counted = counted_mults(n, s)
    assert counted["sa"] == cost.sa_mults(n, s)
    assert counted["ffn"] == cost.ffn_mults(n, s)


def test_cost_table_rows():
    rows = cost.cost_table([512, 1536])
    assert [r.n for r in rows] == [512, 1536]
    assert rows[1].sa_over_ffn == pytest.approx(1.0)
    assert rows[0].linear_attention == 2 * 512 * 12 * 256**2


def crossover(ns, a, b):
    return crossover_of_log_ratio(ns, [math.log(x) - math.log(y) for x, y in zip(a, b)])


def test_crossover_interpolates_in_log_space():
    ns = [100, 1000, 10000]
    # a/b = n/1000 crosses 1 at n = 1000 exactly; at 1000 the ratio is 1, not > 1
    a, b = [n / 1000 for n in ns], [1.0] * 3
    assert crossover(ns, a, b) == pytest.approx(1000)
    # a/b = 0.5 at 100 and 2 at 1000 → log-ratio crosses 0 halfway in log n: √(100·1000)
    assert crossover([100, 1000], [0.5, 2.0], [1.0, 1.0]) == pytest.approx((100 * 1000) ** 0.5)
    assert crossover(ns, [1, 1, 1], [2, 2, 2]) is None
    assert crossover(ns, [3, 3, 3], [2, 2, 2]) == 100
