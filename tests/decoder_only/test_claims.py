"""Every branch of post 9529's verdict rules (kexue/decoder_only/claims.py), with synthetic numbers and
negative controls built from deliberately wrong attention matrices."""
import pytest
import torch

from kexue.decoder_only import claims
from kexue.decoder_only.rank import (attention_matrix, exact_rank, is_triangular_with_positive_diagonal,
                                     numerical_rank, random_qk)


def test_certified_full_rank_branches_and_negative_control():
    q, k = (t[0] for t in random_qk(32, 4, 0))
    good = [is_triangular_with_positive_diagonal(attention_matrix(q, k, kind)) for kind in ("causal", "causal_linear")]
    assert claims.certified_full_rank(good).verdict == "held"
    # negative control: a bidirectional matrix passed off as causal fails its certificate
    wrong = good + [is_triangular_with_positive_diagonal(attention_matrix(q, k, "bidirectional"))]
    d = claims.certified_full_rank(wrong)
    assert d.verdict == "not held" and "2 of 3" in d.why
    assert claims.certified_full_rank([]).verdict == "inconclusive"


def test_rank_at_most_d_branches_and_negative_control():
    assert claims.rank_at_most_d([exact_rank("linear", 64, 4), exact_rank("linear", 64, 8)], [4, 8]).verdict == "held"
    # negative control: softmax's matrices are not rank ≤ d
    d = claims.rank_at_most_d([exact_rank("bidirectional", 64, 4)], [4])
    assert d.verdict == "not held" and "rank" in d.why
    assert claims.rank_at_most_d([], []).verdict == "inconclusive"


def test_softmax_rank_at_most_d():
    assert claims.softmax_rank_at_most_d(60, 4).verdict == "not held"
    assert claims.softmax_rank_at_most_d(4, 4).verdict == "held"


@pytest.mark.parametrize("bi,causal,verdict", [
    ([10.0, 11.0, 10.5], [30.0, 31.0, 30.5], "held"),
    ([30.0, 31.0, 30.5], [10.0, 11.0, 10.5], "not held"),
    ([10.0, 30.0, 20.0], [15.0, 25.0, 22.0], "inconclusive"),
])
def test_lower_effective_rank_branches(bi, causal, verdict):
    assert claims.lower_effective_rank(bi, causal).verdict == verdict


def test_mixed_directions_branches():
    assert claims.mixed_directions([True] * 4, [True, True]).verdict == "held"
    assert claims.mixed_directions([True, False], [True, True]).verdict == "not held"
    assert claims.mixed_directions([True] * 4, [True, False]).verdict == "not held"
    # negative control: a matrix with its diagonal masked (i sees j < i) is not certified
    q, k = (t[0] for t in random_qk(8, 2, 0))
    strict = torch.softmax((q @ k.T).masked_fill(~torch.ones(8, 8, dtype=torch.bool).tril(-1), float("-inf")), -1)
    assert not is_triangular_with_positive_diagonal(strict.nan_to_num(0.0))
    assert int(numerical_rank(strict.nan_to_num(0.0))) < 8


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
    assert d.verdict == verdict and "held-out loss" in d.rule
    if verdict == "inconclusive" and prefix[0] > UNIGRAM:
        assert "did not learn" in d.why


@pytest.mark.parametrize("flops,params,verdict", [
    ([3.80, 3.81, 3.82], [4.00, 4.01, 4.02], "held"),
    ([4.00, 4.01, 4.02], [3.80, 3.81, 3.82], "not held"),
    ([3.80, 4.10, 3.95], [3.90, 4.00, 3.95], "inconclusive"),
    ([5.20, 5.21, 5.22], [5.40, 5.41, 5.42], "inconclusive"),
])
def test_encdec_edge_shrinks_branches(flops, params, verdict):
    assert claims.encdec_edge_shrinks(flops, params, [4.0, 4.0, 4.1], UNIGRAM).verdict == verdict


@pytest.mark.parametrize("mixed,bi,verdict", [
    ([3.00, 3.01, 3.02], [3.10, 3.11, 3.12], "held"),      # mixed better
    ([3.00, 3.01, 3.00], [3.00, 3.01, 3.01], "held"),      # equal
    ([3.30, 3.31, 3.32], [3.00, 3.01, 3.02], "not held"),  # bidirectional clearly better
    ([3.00, 3.30, 3.10], [3.10, 3.00, 3.20], "inconclusive"),
    ([5.50, 5.51, 5.52], [5.50, 5.51, 5.52], "inconclusive"),  # above the floor: did not learn
])
def test_mixed_no_worse_branches(mixed, bi, verdict):
    assert claims.mixed_no_worse(mixed, bi, UNIGRAM).verdict == verdict
