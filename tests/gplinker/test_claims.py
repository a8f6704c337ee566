"""Every branch of GPLinker's verdict rules on synthetic numbers, "not held" included, and each check with
its negative control. Cases marked "old rule" are decided differently by the rules before issue #20
(equivalence within ±0.03; a held-out F1 of 0 called "inconclusive: did not learn")."""
import pytest

from kexue.gplinker import claims as c
from kexue.gplinker.cliques import events_of
from kexue.gplinker.measure import (cliques_agree, connected_components, long_document_f1, loss_values,
                                    per_type_parameters)
from kexue.verdicts import equivalent


@pytest.mark.parametrize("gp, egp, verdict", [
    ([0.50, 0.51, 0.52], [0.50, 0.51, 0.52], "held"),            # the same F1
    ([0.50, 0.51, 0.52], [0.48, 0.485, 0.49], "held"),           # old rule: inconclusive (−0.025 is near ±0.03)
    ([0.50, 0.51, 0.52], [0.55, 0.56, 0.57], "held"),            # EGP better is as good
    ([0.50, 0.51, 0.52], [0.38, 0.39, 0.40], "not held"),        # EGP loses more than a tenth of GP's 0.51
    ([0.50, 0.30, 0.70], [0.50, 0.30, 0.70], "inconclusive"),    # the spread is wider than the margin
    ([0.50], [0.50], "inconclusive"),                            # one seed cannot decide
    ([0.05, 0.06, 0.04], [0.05, 0.05, 0.06], "inconclusive"),    # did not learn: floor
])
def test_egp_as_good_as_gp(gp, egp, verdict):
    d = c.egp_as_good_as_gp(gp, egp)
    assert d.verdict == verdict, d
    assert "non-inferiority" in d.rule and "δ" in d.rule
    if gp[0] < c.NER_F1_FLOOR:
        assert "did not learn" in d.why


def test_egp_old_rule_could_not_decide_a_small_loss():
    """The old ±0.03 equivalence band calls a 0.025 loss of 0.51 learned F1 inconclusive; the margin tied to
    what GP learned (δ = 0.1 · 0.51) decides it."""
    gp, egp = [0.50, 0.51, 0.52], [0.48, 0.485, 0.49]
    assert equivalent(egp, gp, tolerance=0.03).verdict == "inconclusive"
    assert c.egp_as_good_as_gp(gp, egp).verdict == "held"


@pytest.mark.parametrize("f1, se, seen, pretrained, verdict", [
    (0.000, 0.000, 0.76, False, "not checkable"),  # old rule: "inconclusive: did not learn"
    (0.900, 0.020, 0.95, False, "not checkable"),  # without the premise nothing is decided, even a good score
    (0.900, 0.020, 0.95, True, "held"),            # clear of 0.6 by more than 2 SE
    (0.620, 0.020, 0.95, True, "inconclusive"),    # within 2 SE of the bound
    (0.400, 0.020, 0.95, True, "not held"),        # clearly below
    (0.000, 0.000, 0.95, True, "not held"),        # old rule: inconclusive; the model learned, the 0 counts
    (0.000, 0.000, 0.10, True, "inconclusive"),    # not even the training templates: did not learn
])
def test_extracts_heldout(f1, se, seen, pretrained, verdict):
    d = c.extracts_heldout(f1, se, seen, pretrained)
    assert d.verdict == verdict, d
    if not pretrained:
        assert f"{f1:.3f}" in d.why and "pretrained" in d.rule  # the measured F1 stays visible, 0 included
    if seen < c.SEEN_FLOOR:
        assert "did not learn" in d.why


@pytest.mark.parametrize("sparse, dense, verdict", [
    ([1.0, 1.02, 0.98, 1.01], [1.5, 1.52, 1.49, 1.51], "held"),
    ([1.5, 1.52, 1.49, 1.51], [1.0, 1.02, 0.98, 1.01], "not held"),
    ([1.0, 1.5, 0.7, 1.2], [1.1, 0.8, 1.4, 1.0], "inconclusive"),
    ([1.0, 1.01, 0.99, 1.0, 1.02], [1.02, 1.0, 0.99, 1.01, 1.0], "inconclusive"),  # the same work on both sides
])
def test_sparse_faster(sparse, dense, verdict):
    d = c.sparse_faster(dense, sparse)
    assert d.verdict == verdict, d
    assert "log(t_dense / t_sparse)" in d.rule


@pytest.mark.parametrize("ratio, device, verdict", [
    (2.0, "cuda", "held"),
    (1.2, "cuda", "not held"),        # faster, but not 1.5×
    (2.0, "cpu", "not checkable"),    # a GPU claim, whatever the CPU says
    (1.2, "cpu", "not checkable"),
])
def test_sparse_faster_on_3090(ratio, device, verdict):
    sparse = [1.0, 1.01, 0.99, 1.0, 1.02]
    d = c.sparse_faster_on_3090([ratio * s for s in sparse], sparse, device)
    assert d.verdict == verdict, d
    if device == "cpu":
        assert "GPU claim" in d.why and f"{ratio:.2f}×" in d.why  # the CPU ratio stays as context


@pytest.mark.parametrize("f1, verdict", [(0.81, "held"), (0.70, "not held")])
def test_published_f1(f1, verdict):
    assert c.published_f1(f1, c.DUEE_F1, c.DUEE_BAND, "dev soft_argument/f1").verdict == verdict


def test_exact_round_trip_branches():
    assert c.exact_round_trip(["unrecoverable-subset"], ["unrecoverable-subset"], 50, 50, 1.0).verdict == "held"
    extra = ["unrecoverable-subset", "x"]
    assert c.exact_round_trip(extra, ["unrecoverable-subset"], 50, 50, 1.0).verdict == "not held"
    assert c.exact_round_trip(["unrecoverable-subset"], ["unrecoverable-subset"], 49, 50, 1.0).verdict == "not held"
    assert c.exact_round_trip(["unrecoverable-subset"], ["unrecoverable-subset"], 50, 50, 0.0).verdict == "not held"


def test_exact_round_trip_negative_control():
    # a wrong search (connected components instead of maximal cliques) differs from the post's recursion
    graphs = 60
    wrong = cliques_agree(graphs, connected_components)
    assert wrong < graphs
    assert c.exact_round_trip([], [], wrong, graphs, 1.0).verdict == "not held"
    right = cliques_agree(graphs, events_of)
    assert right == graphs
    # the long document decodes exactly today; the old 48-candidate cap would have scored 0
    assert long_document_f1() == pytest.approx(1.0)
    assert c.exact_round_trip([], [], right, graphs, long_document_f1(n_events=10)).verdict == "held"


@pytest.mark.parametrize("D, d", [(64, 64), (768, 64), (16, 8)])
def test_per_type_parameters_and_control(D, d):
    got = per_type_parameters(D, d)
    assert c.per_type_parameters(got["gp"], got["egp"], D, d).verdict == "held"
    assert c.per_type_parameters(got["egp"], got["gp"], D, d).verdict == "not held"  # the control
    assert c.per_type_parameters(got["gp"] + 1, got["egp"], D, d).verdict == "not held"  # one parameter off


def test_losses_equal_and_control():
    v = loss_values()
    assert c.losses_equal(v["sparse"], v["dense"]).verdict == "held"
    # without log(1 − e^{b−a}) the negatives are summed over A = P ∪ N: a different loss
    assert c.losses_equal(v["without_correction"], v["dense"]).verdict == "not held"


def test_bootstrap_f1_se():
    # every sentence right: F1 is 1 in every resample
    assert c.bootstrap_f1_se([(2, 2, 2)] * 20) == pytest.approx(0.0)
    # half the sentences all wrong: a positive spread, shrinking with more sentences
    few = c.bootstrap_f1_se([(1, 1, 1), (0, 1, 1)] * 10)
    many = c.bootstrap_f1_se([(1, 1, 1), (0, 1, 1)] * 200)
    assert 0 < many < few
    assert c.bootstrap_f1_se([(1, 1, 1)]) == float("inf")
