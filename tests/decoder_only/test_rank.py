"""The exact rank statements of kexue.fm/archives/9529 (kexue/decoder_only/rank.py)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.decoder_only.rank import (RankConfig, attention_matrix, effective_rank, exact_rank,
                                     is_triangular_with_positive_diagonal, log_det_triangular, mixed_direction,
                                     numerical_rank, random_qk, rank_table)

qk_shapes = st.tuples(st.integers(2, 48), st.integers(1, 8), st.integers(0, 10_000),
                      st.sampled_from([0.25, 1.0, 4.0]))


@settings(max_examples=40, deadline=None)
@given(qk_shapes)
def test_causal_softmax_is_triangular_with_positive_diagonal_so_det_is_positive(shape):
    n, d, seed, tau = shape
    q, k = (t[0] for t in random_qk(n, d, seed))
    a = attention_matrix(q, k, "causal", temperature=tau)
    assert is_triangular_with_positive_diagonal(a)
    # det A = Π A_ii for a triangular matrix, and it is what LAPACK's determinant gives
    assert math.isfinite(float(log_det_triangular(a)))
    assert torch.linalg.det(a) == pytest.approx(float(torch.diagonal(a).prod()), rel=1e-9, abs=1e-300)
    assert torch.allclose(a.sum(-1), torch.ones(n, dtype=a.dtype))


@settings(max_examples=30, deadline=None)
@given(qk_shapes)
def test_prefix_mask_causal_part_and_backward_are_certified(shape):
    n, d, seed, tau = shape
    q, k = (t[0] for t in random_qk(n, d, seed))
    p = n // 2
    a = attention_matrix(q, k, "prefix", prefix_len=p, temperature=tau)
    assert is_triangular_with_positive_diagonal(a[p:, p:])
    # the prefix rows see only the prefix: block lower triangular, det A = det P · det L
    assert (a[:p, p:] == 0).all()
    assert is_triangular_with_positive_diagonal(attention_matrix(q, k, "backward", temperature=tau), lower=False)


@settings(max_examples=30, deadline=None)
@given(qk_shapes)
def test_bidirectional_linear_attention_has_rank_at_most_d(shape):
    n, d, seed, _ = shape
    q, k = (t[0] for t in random_qk(n, d, seed))
    a = attention_matrix(q, k, "linear")
    assert int(numerical_rank(a)) <= d
    # and it is the row-normalised φ(Q)φ(K)ᵀ, φ = elu + 1
    phi_q, phi_k = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    sim = phi_q @ phi_k.T
    assert torch.allclose(a, sim / sim.sum(-1, keepdim=True))


@settings(max_examples=30, deadline=None)
@given(qk_shapes)
def test_causal_linear_attention_is_full_rank(shape):
    n, d, seed, _ = shape
    q, k = (t[0] for t in random_qk(n, d, seed))
    a = attention_matrix(q, k, "causal_linear")
    assert is_triangular_with_positive_diagonal(a)
    # loop over i: A_ij = φ(q_i)ᵀφ(k_j) / Σ_{j'≤i} φ(q_i)ᵀφ(k_j')
    phi_q, phi_k = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    for i in range(n):
        row = phi_k[: i + 1] @ phi_q[i]
        assert torch.allclose(a[i, : i + 1], row / row.sum())


def test_bidirectional_softmax_exceeds_d_in_exact_arithmetic():
    # the post's "rank ≤ d" is not exact: exp raises the rank of QKᵀ (rank d) to (generically) n
    n, d = 64, 2
    q, k = (t[0] for t in random_qk(n, d, 0))
    assert int(np.linalg.matrix_rank((q @ k.T).numpy())) == d
    assert exact_rank("bidirectional", n, d) > 10 * d
    assert exact_rank("linear", n, d) == d


def test_certificate_rejects_a_mask_without_its_diagonal():
    # the negative control: strictly lower-triangular attention (i sees j < i) has a zero row and det 0
    q, k = (t[0] for t in random_qk(16, 4, 0))
    scores = (q @ k.T).masked_fill(~torch.ones(16, 16, dtype=torch.bool).tril(-1), float("-inf"))
    a = torch.softmax(scores, -1).nan_to_num(0.0)
    assert not is_triangular_with_positive_diagonal(a)
    assert int(numerical_rank(a)) < 16
    # a bidirectional matrix is not triangular
    assert not is_triangular_with_positive_diagonal(attention_matrix(q, k, "bidirectional"))


def test_effective_rank_of_identity_and_rank_one():
    assert float(effective_rank(torch.eye(10))) == pytest.approx(10.0)
    ones = torch.ones(10, 10) / 10
    assert float(effective_rank(ones)) == pytest.approx(1.0)
    assert int(numerical_rank(ones)) == 1


def test_numerical_rank_threshold_is_relative():
    a = torch.diag(torch.tensor([1.0, 1e-3, 1e-9], dtype=torch.float64))
    assert int(numerical_rank(a, 1e-6)) == 2
    assert int(numerical_rank(a, 1e-12)) == 3


def test_rank_table_rows_and_certificates():
    rows = rank_table(RankConfig(ns=(32,), ds=(4,), seeds=2))
    by_kind = {r["kind"]: r for r in rows}
    assert set(by_kind) == {"bidirectional", "causal", "prefix", "linear", "causal_linear"}
    assert by_kind["causal"]["certified_full_rank"] and by_kind["causal_linear"]["certified_full_rank"]
    assert by_kind["prefix"]["certified_full_rank"]
    assert max(by_kind["linear"]["numerical_rank"]) <= 4
    assert len(by_kind["causal"]["effective_rank"]) == 2


def test_rank_table_uses_given_qk():
    q, k = torch.zeros(8, 2, dtype=torch.float64), torch.zeros(8, 2, dtype=torch.float64)
    rows = rank_table(RankConfig(ns=(8,), ds=(2,), seeds=1, kinds=("bidirectional",)), qk={(8, 2, 0): (q, k)})
    # q = k = 0: uniform attention, rank 1
    assert rows[0]["numerical_rank"] == [1]


def test_mixed_direction_heads_full_rank_and_layer_mixes_everything():
    m = mixed_direction(n=48, d=8, heads=4, seed=1)
    assert m["forward"] == [True, True, False, False]
    assert all(m["head_certified_full_rank"]) and all(m["alternate_layers_certified"])
    assert m["half_heads_mix_all"] and m["alternate_layers_mix_all"]
    with pytest.raises(ValueError, match="even number of heads"):
        mixed_direction(heads=3)


def test_unknown_kind_is_named():
    q, k = (t[0] for t in random_qk(4, 2, 0))
    with pytest.raises(ValueError, match="'sideways'"):
        attention_matrix(q, k, "sideways")


def test_linear_kinds_refuse_a_temperature_instead_of_ignoring_it():
    q, k = (t[0] for t in random_qk(8, 2, 0))
    for kind in ("linear", "causal_linear"):
        attention_matrix(q, k, kind, temperature=1.0)
        with pytest.raises(ValueError, match="no score scale"):
            attention_matrix(q, k, kind, temperature=0.5)
    with pytest.raises(ValueError, match="no score scale"):
        rank_table(RankConfig(ns=(8,), ds=(2,), seeds=1, temperatures=(0.5,), kinds=("linear",)))


def test_the_negative_controls_of_the_checks_fail():
    rows = rank_table(RankConfig(ns=(16,), ds=(4,), seeds=2, kinds=("bidirectional",)))
    assert rows[0]["triangular_certificate"] is False  # a full matrix is not certified as triangular
    m = mixed_direction(n=16, d=4, heads=4, seed=0)
    assert m["half_heads_mix_all"] and not m["causal_heads_mix_all"]  # causal heads alone never look ahead


def test_trained_effective_ranks_one_value_per_layer_and_head():
    from kexue.decoder_only.rank import trained_effective_ranks

    q, k = random_qk(24, 4, 0, heads=2)
    out = trained_effective_ranks([[(q, k), (k, q)], [(q, k), (q, q)]])
    assert len(out["bidirectional"]) == len(out["causal"]) == 4
    first = float(effective_rank(attention_matrix(q[0], k[0], "bidirectional")))
    assert out["bidirectional"][0] == pytest.approx(first)  # the mean over two sentences with the same q, k
