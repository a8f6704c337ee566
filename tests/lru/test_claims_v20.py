"""Issue 20 for post 9554: every branch of the changed rules, each on numbers where the old rule said otherwise.

The old rules are written out here (`_old_*`, from kexue/lru/reproduce.py and claims.py before the
change) so that each test shows the verdict it overturns.
"""
import numpy as np
import pytest

from kexue.lru import claims
from kexue.verdicts import Floor, at_least, better, floors, no_better, speedup
from kexue.verdicts import paired_interval

MAJORITY = 0.116
UNIGRAM = 6.181
# the standard run of 2026-12-02 (benchmarks/results/reproduce-standard.json), held-out loss per seed
STD_SHORT = {"transformer": [5.1415, 5.1529, 5.1574], "lru": [5.0811, 5.0494, 5.0477], "slru": [5.0627, 5.0766, 5.0591]}
STD_LONG = {"transformer": [5.2039, 5.1986, 5.1992], "lru": [5.1104, 5.0740, 5.0710]}


def _around(mean: float, spread: float = 0.005, n: int = 3) -> list[float]:
    return [mean + spread * e for e in (-1.0, 0.0, 1.0, 0.5, -0.5)[:n]]


# --- the speed-up: a GPU claim, one shared rule ---

def _cells(*ratios: float, rel: float = 0.02) -> dict:
    scan = [0.01 * (1 + rel * e) for e in (-1.0, 0.0, 1.0, 0.5)]
    return {f"cell{i}": ([r * s for s in reversed(scan)], scan) for i, r in enumerate(ratios)}


def test_speedup_on_a_cpu_is_not_checkable_with_the_cpu_numbers_as_context():
    cells = _cells(10.0, 8.0)
    # the old rule (lru's own much_faster, per cell above log 2) decided it on the CPU: held
    assert speedup(cells, 2.0).verdict == "held"
    d = claims.training_speedup(cells, "cpu")
    assert d.verdict == "not checkable" and "GPU claim" in d.why and "10.00×" in d.why


@pytest.mark.parametrize("ratios,verdict", [((10.0, 8.0), "held"), ((10.0, 1.2), "not held"),
                                            ((10.0, 2.02), "inconclusive")])
def test_speedup_on_cuda_reaches_every_branch(ratios, verdict):
    assert claims.training_speedup(_cells(*ratios, rel=0.1 if verdict == "inconclusive" else 0.02),
                                   "cuda").verdict == verdict
    assert claims.training_speedup(_cells(*ratios), "cuda:1").rule == speedup(_cells(*ratios), 2.0,
                                                                             what="t_loop / t_scan").rule


def test_lru_has_no_speed_rule_of_its_own():
    assert not hasattr(claims, "much_faster")


# --- Table 1: non-inferiority, the margin a share of what the tanh RNN learned ---

def _old_table1(linear, tanh, majority):
    return floors([Floor(f"{m} accuracy", float(np.mean(a)), majority, True, 0.05) for m, a in
                   (("dense", linear), ("rnn", tanh))], no_better(tanh, linear, tolerance=0.01))


@pytest.mark.parametrize("linear,tanh,verdict", [
    (_around(0.41, 0.001), _around(0.42, 0.001), "held"),      # 1 point behind, tanh learned 30: within 10 %
    (_around(0.30, 0.002), _around(0.42, 0.002), "not held"),  # 12 points behind: beyond 10 % of 30
    ([0.615, 0.151, 0.42], [0.349, 0.349, 0.33], "inconclusive"),  # the standard run's three seeds
    (_around(0.40), _around(0.13), "inconclusive"),            # the tanh RNN did not learn: no margin to share
])
def test_table1_branches(linear, tanh, verdict):
    assert claims.linear_vs_tanh(linear, tanh, MAJORITY).verdict == verdict


def test_table1_decides_where_the_fixed_band_could_not():
    linear, tanh = _around(0.41, 0.001), _around(0.42, 0.001)
    assert _old_table1(linear, tanh, MAJORITY).verdict == "inconclusive"  # a 0.01 band around a 0.01 gap
    assert claims.linear_vs_tanh(linear, tanh, MAJORITY).verdict == "held"


def test_table1_fails_a_linear_rnn_that_did_not_learn_instead_of_hiding_it():
    # the old rule floored the linear RNN too, so a linear RNN at the majority class was "did not learn"
    linear, tanh = _around(0.12, 0.002), _around(0.42, 0.002)
    assert _old_table1(linear, tanh, MAJORITY).verdict == "inconclusive"
    assert claims.linear_vs_tanh(linear, tanh, MAJORITY).verdict == "not held"


# --- the copy task: the LRU against attention, not against a fixed 99 % ---

@pytest.mark.parametrize("lru,attention,verdict", [
    (_around(0.985, 0.002), _around(1.0, 0.0), "held"),
    (_around(0.70, 0.01), _around(0.994, 0.002), "not held"),
    ([0.55, 0.85], [0.99, 1.0], "inconclusive"),
    (_around(0.985, 0.002), _around(0.15, 0.002), "inconclusive"),  # attention did not learn
])
def test_copy_branches(lru, attention, verdict):
    assert claims.copy_solved(lru, attention, 0.125).verdict == verdict


def test_copy_no_longer_fails_a_near_perfect_lru_on_a_fixed_threshold():
    lru = _around(0.985, 0.002)
    old = at_least(float(np.mean(lru)), 0.99, noise=float(np.std(lru, ddof=1)))
    assert old.verdict == "not held"
    assert claims.copy_solved(lru, _around(1.0, 0.0), 0.125).verdict == "held"


# --- ListOps: only at LRA's lengths ---

def test_listops_below_lra_lengths_is_not_checkable():
    lru, sa = _around(0.34, 0.004), _around(0.36, 0.004)
    # the old rule decided it at L < 100: not held
    assert better(lru, sa).verdict == "not held"
    d = claims.listops_vs_attention(lru, sa, 0.17, min_length=10)
    assert d.verdict == "not checkable" and "LRA" in d.why
    assert claims.listops_vs_attention([], [], 0.17, min_length=500).verdict == "not checkable"


@pytest.mark.parametrize("lru,sa,verdict", [
    (_around(0.60), _around(0.36), "held"), (_around(0.30), _around(0.36), "not held"),
    ([0.40, 0.30, 0.36], [0.36, 0.33, 0.38], "inconclusive"), (_around(0.18), _around(0.60), "inconclusive"),
])
def test_listops_at_lra_lengths_branches(lru, sa, verdict):
    assert claims.listops_vs_attention(lru, sa, 0.17, min_length=500).verdict == verdict


# --- LRU vs SLRU: not held when the SLRU is as good, within a share of what was learned ---

def test_complex_helps_on_the_standard_run_is_decided():
    lru, slru = STD_SHORT["lru"], STD_SHORT["slru"]
    old = better(lru, slru, higher_is_better=False)
    assert old.verdict == "inconclusive"  # a tie could never fail the old rule
    d = claims.complex_helps(lru, slru, UNIGRAM)
    assert d.verdict == "not held" and "SLRU as good as LRU: held" in d.why


@pytest.mark.parametrize("lru,slru,unigram,verdict", [
    (_around(5.00, 0.005), _around(5.10, 0.005), 6.18, "held"),
    (_around(5.10, 0.005), _around(5.00, 0.005), 6.18, "not held"),   # the SLRU clearly better
    (_around(5.05, 0.01), _around(5.06, 0.01), 6.18, "not held"),     # the SLRU within δ = 0.057
    ([5.0, 5.2, 5.1], [5.2, 5.0, 5.1], 6.18, "inconclusive"),         # wider than δ either way
    (_around(5.00, 0.005), _around(5.10, 0.005), 5.05, "inconclusive"),  # did not learn
])
def test_complex_helps_branches(lru, slru, unigram, verdict):
    assert claims.complex_helps(lru, slru, unigram).verdict == verdict


@pytest.mark.parametrize("loss,unigram,verdict", [
    ({"transformer": _around(3.0), "lru": _around(3.2), "slru": _around(3.4)}, 6.0, "held"),
    ({"transformer": _around(3.4), "lru": _around(3.2), "slru": _around(3.5)}, 6.0, "not held"),
    ({"transformer": _around(3.0), "lru": [3.2, 3.5, 3.3], "slru": [3.3, 3.2, 3.4]}, 6.0, "inconclusive"),
    ({"transformer": _around(3.0), "lru": _around(3.2), "slru": _around(3.4)}, 3.1, "inconclusive"),
])
def test_ranking_branches(loss, unigram, verdict):
    assert claims.ranking(loss, unigram).verdict == verdict


# --- the gap with length: paired by seed ---

def test_gap_grows_on_the_standard_run_is_decided_by_the_pairing():
    g_short = [r - a for r, a in zip(STD_SHORT["lru"], STD_SHORT["transformer"])]
    g_long = [r - a for r, a in zip(STD_LONG["lru"], STD_LONG["transformer"])]
    assert better(g_long, g_short).verdict == "inconclusive"  # the old, unpaired rule
    d = claims.gap_grows(STD_SHORT, STD_LONG, UNIGRAM)
    assert d.verdict == "not held", d.why


@pytest.mark.parametrize("growth,verdict", [
    ((0.10, 0.11, 0.12), "held"), ((-0.03, -0.02, -0.025), "not held"),
    ((0.01, -0.005, 0.002), "not held"),  # within δ = 0.05 × 2.95 of no growth
    ((0.01, 0.012, 0.011), "held"),  # a certain growth, however small
    ((0.10, -0.10, 0.02), "inconclusive"), ((0.10,), "inconclusive"),
])
def test_gap_grows_branches(growth, verdict):
    sa = [3.0, 3.1, 3.05][:len(growth)]
    short = {"transformer": sa, "lru": [a + 0.1 for a in sa]}
    long = {"transformer": sa, "lru": [a + 0.1 + d for a, d in zip(sa, growth)]}
    assert claims.gap_grows(short, long, unigram=6.0).verdict == verdict


def test_gap_grows_needs_the_models_to_have_learned():
    short = {"transformer": [5.9, 5.91, 5.92], "lru": [6.0, 6.01, 6.02]}
    long = {"transformer": [5.9, 5.91, 5.92], "lru": [6.2, 6.21, 6.22]}
    assert claims.gap_grows(short, long, unigram=5.95).verdict == "inconclusive"


def test_paired_interval():
    lo, hi = paired_interval([1.0, 2.0, 3.0])
    # 2 ± t_{0.975, 2} · 1/√3 = 2 ± 4.303 · 0.577
    assert lo == pytest.approx(2 - 2.4841, abs=1e-3) and hi == pytest.approx(2 + 2.4841, abs=1e-3)
    assert paired_interval([1.0]) == (-np.inf, np.inf)


# --- the check rules: each branch ---

def test_check_rules_branches():
    assert claims.ks_uniform(0.01, 4000, "x").verdict == "held"
    assert claims.ks_uniform(0.05, 4000, "x").verdict == "not held"
    assert claims.disk_law(0.01).verdict == "held" and claims.disk_law(0.2).verdict == "not held"
    assert claims.gamma_power(1.01, 0.02).verdict == "held"
    assert claims.gamma_power(1.01, 0.4).verdict == "not held"  # the wrong prediction
    assert claims.gamma_power(3.0, 0.02).verdict == "not held"  # γ did not normalise
    assert claims.overflows(3, 1000).verdict == "held" and claims.overflows(0, 100).verdict == "not held"
    assert claims.equal_to_reference(1e-6, 10.0, "scan").verdict == "held"
    assert claims.equal_to_reference(1e-2, 10.0, "scan").verdict == "not held"


def test_quotes_cover_every_claim():
    assert set(claims.QUOTES) == {"speed", "table1", "table2", "copy", "listops", "complex", "ranking", "length"}
    assert all(post == 9554 for post, _ in claims.QUOTES.values())
