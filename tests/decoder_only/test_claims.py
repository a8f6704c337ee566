"""Every branch of post 9529's verdict rules (kexue/decoder_only/claims.py), with synthetic numbers and
negative controls built from deliberately wrong attention matrices."""
import pytest
import torch

from kexue.decoder_only import claims
from kexue.decoder_only.rank import (RankConfig, attention_matrix, exact_rank, is_triangular_with_positive_diagonal,
                                     numerical_rank, random_qk, rank_table)
from kexue.verdicts import paired_interval


# --- checks ---

def test_certified_full_rank_branches_and_negative_control():
    q, k = (t[0] for t in random_qk(32, 4, 0))
    good = [is_triangular_with_positive_diagonal(attention_matrix(q, k, kind)) for kind in ("causal", "causal_linear")]
    assert claims.certified_full_rank(good).verdict == "held"
    # negative control: a bidirectional matrix passed off as causal fails its certificate
    wrong = good + [is_triangular_with_positive_diagonal(attention_matrix(q, k, "bidirectional"))]
    d = claims.certified_full_rank(wrong)
    assert d.verdict == "not held" and "2 of 3" in d.why
    assert claims.certified_full_rank([]).verdict == "inconclusive"


def test_a_check_is_held_only_when_its_control_is_rejected():
    held, wrong = claims.certified_full_rank([True, True]), claims.certified_full_rank([False])
    assert held.to_check("triangular ⇒ full rank", "2 matrices", wrong, "bidirectional").verdict == "held"
    # a control that also passes: the check could not have failed
    assert held.to_check("triangular ⇒ full rank", "2", held, "causal again").verdict == "inconclusive"
    assert wrong.to_check("triangular ⇒ full rank", "1", wrong, "bidirectional").verdict == "not held"


def test_rank_at_most_d_branches_and_negative_control():
    assert claims.rank_at_most_d([exact_rank("linear", 64, 4), exact_rank("linear", 64, 8)], [4, 8]).verdict == "held"
    # negative control: softmax's matrices are not rank ≤ d
    d = claims.rank_at_most_d([exact_rank("bidirectional", 64, 4)], [4])
    assert d.verdict == "not held" and "rank" in d.why
    assert claims.rank_at_most_d([], []).verdict == "inconclusive"


def test_mixed_directions_branches():
    assert claims.mixed_directions([True] * 4, [True, True]).verdict == "held"
    assert claims.mixed_directions([True, False], [True, True]).verdict == "not held"
    assert claims.mixed_directions([True] * 4, [True, False]).verdict == "not held"
    # negative control: a matrix with its diagonal masked (i sees j < i) is not certified
    q, k = (t[0] for t in random_qk(8, 2, 0))
    strict = torch.softmax((q @ k.T).masked_fill(~torch.ones(8, 8, dtype=torch.bool).tril(-1), float("-inf")), -1)
    assert not is_triangular_with_positive_diagonal(strict.nan_to_num(0.0))
    assert int(numerical_rank(strict.nan_to_num(0.0))) < 8


def test_counts_equal_exact_and_a_wrong_formula():
    assert claims.counts_equal({"decoder": 100, "encdec": 250}, {"decoder": 100, "encdec": 250}).verdict == "held"
    d = claims.counts_equal({"decoder": 100, "encdec": 249}, {"decoder": 100, "encdec": 250})
    assert d.verdict == "not held"


# --- softmax raises the rank (the post's own words; the old page said the post claims rank ≤ d) ---

def test_softmax_raises_rank_on_real_matrices_and_every_branch():
    ds = [4, 8]
    lin = [exact_rank("linear", 64, d) for d in ds]
    soft = [exact_rank("bidirectional", 64, d) for d in ds]
    assert claims.softmax_raises_rank(lin, soft, ds).verdict == "held"
    assert claims.softmax_raises_rank([4, 8], [4, 8], ds).verdict == "not held"  # softmax no higher
    assert claims.softmax_raises_rank([4, 8], [60, 8], ds).verdict == "inconclusive"
    assert claims.softmax_raises_rank([], [], []).verdict == "inconclusive"
    assert "会有一定的升秩作用" in open(claims.__file__.replace("claims.py", "rank.py"), encoding="utf-8").read()
    assert not hasattr(claims, "softmax_rank_at_most_d")  # the misattributed "rank ≤ d" claim is gone


# --- bidirectional vs causal effective rank over the score scale ---

LOW, HIGH = [10.0, 10.5, 11.0], [30.0, 30.5, 31.0]


@pytest.mark.parametrize("sweep,verdict", [
    ({0.5: (LOW, HIGH), 1.0: (LOW, HIGH), 2.0: (LOW, HIGH)}, "held"),
    ({0.5: (HIGH, LOW), 1.0: (HIGH, LOW)}, "not held"),
    ({0.5: (HIGH, LOW), 1.0: (LOW, HIGH), 2.0: (LOW, HIGH)}, "not held"),  # flips: scale-dependent
    ({0.5: ([10.0, 30.0, 20.0], [15.0, 25.0, 22.0]), 1.0: (LOW, HIGH)}, "inconclusive"),
    ({}, "inconclusive"),
])
def test_lower_effective_rank_over_scales_branches(sweep, verdict):
    assert claims.lower_effective_rank_over_scales(sweep).verdict == verdict


def test_the_sweep_decides_where_tau_one_alone_did_not():
    """The old rule read τ = 1 only: "held" there, although the direction flips at a sharper scale."""
    sweep = {0.25: (HIGH, LOW), 1.0: (LOW, HIGH), 4.0: (LOW, HIGH)}
    assert claims.lower_effective_rank(*sweep[1.0]).verdict == "held"  # the old rule's reading
    d = claims.lower_effective_rank_over_scales(sweep)
    assert d.verdict == "not held" and "scale-dependent" in d.why and "τ ≈" in d.why
    assert 0.25 < claims.crossover(sweep) < 1.0


def test_random_qk_sweep_flips_direction_with_the_scale():
    """kexue's own measurement: bidirectional is higher for sharp attention (small τ), lower for flat (large τ)."""
    rows = rank_table(RankConfig(ns=(128,), ds=(16,), seeds=3, temperatures=(0.25, 4.0), kinds=("bidirectional",
                                                                                                   "causal")))
    sweep = {t: tuple(next(r["effective_rank"] for r in rows if r["temperature"] == t and r["kind"] == k)
                      for k in ("bidirectional", "causal")) for t in (0.25, 4.0)}
    assert claims.lower_effective_rank(*sweep[4.0]).verdict == "held"
    assert claims.lower_effective_rank(*sweep[0.25]).verdict == "not held"
    assert "scale-dependent" in claims.lower_effective_rank_over_scales(sweep).why


@pytest.mark.parametrize("bi,causal,verdict", [
    ([3.0, 3.1, 2.9, 3.0], [5.0, 5.2, 4.9, 5.1], "held"),
    ([5.0, 5.2, 4.9, 5.1], [3.0, 3.1, 2.9, 3.0], "not held"),
    ([3.0, 5.0, 3.0, 5.0], [5.0, 3.0, 5.1, 3.0], "inconclusive"),
])
def test_trained_lower_effective_rank_is_paired_over_units(bi, causal, verdict):
    assert claims.trained_lower_effective_rank(bi, causal).verdict == verdict


def test_paired_interval_needs_two_units():
    lo, hi = paired_interval([1.0])
    assert lo == float("-inf") and hi == float("inf")
    lo, hi = paired_interval([1.0, 1.2, 0.8])
    assert lo < 1.0 < hi


# --- trained comparisons ---

UNIGRAM = 5.0


@pytest.mark.parametrize("prefix,decoder,verdict", [
    ([4.00, 4.01, 4.02], [4.00, 4.01, 4.00], "held"),       # equal: no better
    ([4.10, 4.12, 4.11], [4.00, 4.01, 4.00], "held"),       # worse
    ([3.50, 3.51, 3.52], [4.00, 4.01, 4.00], "not held"),   # clearly better
    ([3.90, 4.20, 4.00], [4.00, 3.95, 4.10], "inconclusive"),
    ([5.10, 5.20, 5.15], [5.10, 5.20, 5.15], "inconclusive"),  # did not learn: above the unigram floor
])
def test_prefix_no_better_branches(prefix, decoder, verdict):
    d = claims.prefix_no_better(prefix, decoder, UNIGRAM)
    assert d.verdict == verdict and "held-out loss" in d.rule and "gain over the unigram floor" in d.rule
    if verdict == "inconclusive" and prefix[0] > UNIGRAM:
        assert "did not learn" in d.why


def test_prefix_margin_is_a_share_of_what_decoder_only_learned():
    # an edge of 0.015 nat: inside 2 % of a 1-nat gain (δ = 0.02), outside 2 % of a 0.5-nat gain (δ = 0.01)
    prefix, decoder = [3.985, 3.985, 3.986], [4.0, 4.0, 4.001]
    assert claims.prefix_no_better(prefix, decoder, 5.0).verdict == "held"
    assert claims.prefix_no_better(prefix, decoder, 4.5).verdict == "not held"


STANDARD = dict(decoder=[4.20, 4.21, 4.22], encdec_flops=[4.88, 4.90, 4.92], encdec_params=[5.09, 5.11, 5.13])


def test_encdec_premise_absent_at_the_standard_run_is_never_held():
    """The standard run: decoder-only 4.21 beats the enc-dec at equal FLOPs (4.90) and at equal params (5.11). The
    old rule compared the two enc-decs (decoder-only cancelled out) and called the claim held."""
    d = claims.encdec_edge_is_parameters(STANDARD["decoder"], STANDARD["encdec_flops"], STANDARD["encdec_params"], 6.6)
    assert d.verdict == "not checkable" and "premise absent at this size" in d.why


@pytest.mark.parametrize("decoder,flops,params,verdict,why", [
    ([4.50, 4.51, 4.52], [4.00, 4.01, 4.02], [4.55, 4.56, 4.57], "held", "premise holds"),     # edge gone
    ([4.50, 4.51, 4.52], [4.00, 4.01, 4.02], [4.20, 4.21, 4.22], "not held", "premise holds"),  # edge stays
    ([4.50, 4.51, 4.52], [4.00, 4.01, 4.02], [4.20, 4.60, 4.40], "inconclusive", "premise holds"),
    ([4.50, 4.51, 4.52], [4.80, 4.81, 4.82], [4.50, 4.52, 4.51], "not checkable", "premise absent"),
    ([4.50, 4.60, 4.40], [4.40, 4.60, 4.50], [4.50, 4.52, 4.51], "inconclusive", "premise undecided"),
    ([5.50, 5.51, 5.52], [5.00, 5.01, 5.02], [5.50, 5.52, 5.51], "inconclusive", "did not learn"),
])
def test_encdec_edge_is_parameters_branches(decoder, flops, params, verdict, why):
    d = claims.encdec_edge_is_parameters(decoder, flops, params, UNIGRAM + 0.3)
    assert d.verdict == verdict and why in d.why


@pytest.mark.parametrize("mixed,bi,verdict", [
    ([3.00, 3.01, 3.02], [3.10, 3.11, 3.12], "held"),      # mixed better
    ([3.00, 3.01, 3.00], [3.00, 3.01, 3.01], "held"),      # equal
    ([3.30, 3.31, 3.32], [3.00, 3.01, 3.02], "not held"),  # bidirectional clearly better
    ([3.00, 3.30, 3.10], [3.10, 3.00, 3.20], "inconclusive"),
    ([5.50, 5.51, 5.52], [5.50, 5.51, 5.52], "inconclusive"),  # above the floor: did not learn
])
def test_mixed_no_worse_branches(mixed, bi, verdict):
    assert claims.mixed_no_worse(mixed, bi, UNIGRAM).verdict == verdict


def test_mixed_margin_is_a_share_of_what_bidirectional_learned():
    # a loss 0.06 nat higher: inside 5 % of a 2-nat gain (δ = 0.1), outside 5 % of a 0.5-nat gain (δ = 0.025)
    mixed, bi = [3.06, 3.061, 3.062], [3.0, 3.001, 3.002]
    assert claims.mixed_no_worse(mixed, bi, 5.0).verdict == "held"
    assert claims.mixed_no_worse(mixed, bi, 3.5).verdict == "not held"


def test_every_quote_is_chinese_and_from_9529():
    assert set(claims.QUOTES) == {"softmax_rank", "low_rank", "prefix", "encdec", "mixed_mlm"}
    assert all(post == 9529 for post, _ in claims.QUOTES.values())
