"""Every branch of GPLinker's verdict rules on synthetic numbers, "not held" included, with negative controls."""
import pytest

from kexue.gplinker import claims as c
from kexue.gplinker.cliques import events_of
from kexue.gplinker.measure import cliques_agree, long_document_f1


@pytest.mark.parametrize("gp, egp, gp_params, egp_params, verdict", [
    ([0.70, 0.71, 0.69], [0.70, 0.70, 0.71], 50_000, 2_000, "held"),           # equal within ±0.03
    ([0.70, 0.71, 0.69], [0.60, 0.61, 0.59], 50_000, 2_000, "not held"),       # EGP clearly worse
    ([0.70, 0.71, 0.69], [0.70, 0.70, 0.71], 2_000, 50_000, "not held"),       # not fewer parameters
    ([0.70, 0.60, 0.80], [0.70, 0.60, 0.80], 50_000, 2_000, "inconclusive"),   # the spread is wider than ±0.03
    ([0.70], [0.70], 50_000, 2_000, "inconclusive"),                            # one seed cannot decide
    ([0.05, 0.06, 0.04], [0.05, 0.05, 0.06], 50_000, 2_000, "inconclusive"),   # did not learn: floor
])
def test_egp_matches_gp(gp, egp, gp_params, egp_params, verdict):
    d = c.egp_matches_gp(gp, egp, gp_params, egp_params)
    assert d.verdict == verdict, d
    assert "±0.03" in d.rule and "F1" in d.rule
    if verdict == "inconclusive" and gp[0] < 0.1:
        assert "did not learn" in d.why


def test_exact_round_trip_branches():
    assert c.exact_round_trip(["unrecoverable-subset"], ["unrecoverable-subset"], 50, 50, 1.0).verdict == "held"
    extra = ["unrecoverable-subset", "x"]
    assert c.exact_round_trip(extra, ["unrecoverable-subset"], 50, 50, 1.0).verdict == "not held"
    assert c.exact_round_trip(["unrecoverable-subset"], ["unrecoverable-subset"], 49, 50, 1.0).verdict == "not held"
    assert c.exact_round_trip(["unrecoverable-subset"], ["unrecoverable-subset"], 50, 50, 0.0).verdict == "not held"


def test_exact_round_trip_negative_controls():
    # a wrong search (connected components instead of maximal cliques) differs from the post's recursion
    def components(nodes, adjacent):
        nodes, groups = list(nodes), []
        for u in nodes:
            hit = [g for g in groups if any(adjacent(u, v) for v in g)]
            merged = frozenset([u]).union(*hit)
            groups = [g for g in groups if g not in hit] + [merged]
        return groups
    graphs = 60
    wrong = cliques_agree(graphs, components)
    assert wrong < graphs
    assert c.exact_round_trip(["unrecoverable-subset"], ["unrecoverable-subset"], wrong, graphs, 1.0).verdict \
        == "not held"
    right = cliques_agree(graphs, events_of)
    assert right == graphs
    # the long document decodes exactly today; the old 48-candidate cap would have scored 0
    assert long_document_f1() == pytest.approx(1.0)
    assert c.exact_round_trip([], [], right, graphs, long_document_f1(n_events=10)).verdict == "held"


@pytest.mark.parametrize("f1, se, verdict", [
    (0.90, 0.02, "held"),          # clear of 0.6 by more than 2 SE
    (0.62, 0.02, "inconclusive"),  # within 2 SE of the bound
    (0.40, 0.02, "not held"),      # clearly below
    (0.05, 0.01, "inconclusive"),  # below the floor: did not learn
])
def test_extracts_heldout(f1, se, verdict):
    d = c.extracts_heldout(f1, se)
    assert d.verdict == verdict, d
    if f1 < c.EXTRACT_FLOOR:
        assert "did not learn" in d.why


@pytest.mark.parametrize("sparse, dense, verdict", [
    ([1.0, 1.02, 0.98, 1.01], [1.5, 1.52, 1.49, 1.51], "held"),
    ([1.5, 1.52, 1.49, 1.51], [1.0, 1.02, 0.98, 1.01], "not held"),
    ([1.0, 1.5, 0.7, 1.2], [1.1, 0.8, 1.4, 1.0], "inconclusive"),
])
def test_sparse_step_faster(sparse, dense, verdict):
    assert c.sparse_step_faster(sparse, dense).verdict == verdict


def test_sparse_step_faster_negative_control():
    # the same work on both sides (no difference in loss) cannot be called faster
    same = [1.0, 1.01, 0.99, 1.0, 1.02]
    assert c.sparse_step_faster(same, list(reversed(same))).verdict == "inconclusive"


def test_bootstrap_f1_se():
    # every sentence right: F1 is 1 in every resample
    assert c.bootstrap_f1_se([(2, 2, 2)] * 20) == pytest.approx(0.0)
    # half the sentences all wrong: a positive spread, shrinking with more sentences
    few = c.bootstrap_f1_se([(1, 1, 1), (0, 1, 1)] * 10)
    many = c.bootstrap_f1_se([(1, 1, 1), (0, 1, 1)] * 200)
    assert 0 < many < few
    assert c.bootstrap_f1_se([(1, 1, 1)]) == float("inf")
