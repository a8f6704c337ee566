"""Every branch of post 8998's verdict rules with synthetic numbers (kexue/roformer/claims.py), and the
cases where the old rules (a ±5 % band on the loss, "no worse than no ramp", a speed-up decided on a CPU)
gave the wrong verdict."""
import math

import numpy as np
import pytest

from kexue.roformer import claims
from kexue.roformer.config import PARAMS, SIZES, bert_variant, count_params
from kexue.roformer.config import preset as size_preset
from kexue.verdicts import paired_interval, welch_interval


# --- the parameter count: a Check with its negative control ---

def test_params_match_the_built_models_and_not_a_wrong_formula():
    formula = {s: count_params(size_preset(s)) for s in SIZES}
    assert claims.params_match(PARAMS, formula, [], PARAMS["large"]).verdict == "held"
    # negative controls: the formula without the 2H segment rows, a stray bias, a model that is not 3亿
    wrong = {s: formula[s] - 2 * size_preset(s).hidden_size for s in SIZES}
    assert claims.params_match(PARAMS, wrong, [], PARAMS["large"]).verdict == "not held"
    assert claims.params_match(PARAMS, formula, ["layers.0.ffn.inner.bias"], PARAMS["large"]).verdict == "not held"
    assert claims.params_match(PARAMS, formula, [], 2.2e8).verdict == "not held"


def test_the_checks_control_a_count_with_biases_and_norm_gains_is_not_held():
    """The bert variant (biases, LayerNorm γ/β) under the same rule: its count misses the formula."""
    formula = {s: count_params(size_preset(s)) for s in SIZES}
    bert = {s: count_params(bert_variant(size_preset(s))) for s in SIZES}
    assert round(bert["large"] / 1e8) == 3  # still "3亿": the count, not the rounding, must reject it
    control = claims.params_match(bert, formula, ["layers.0.attention_norm.weight"], bert["large"])
    assert control.verdict == "not held"
    check = claims.params_match(PARAMS, formula, [], PARAMS["large"]).to_check("count", "", control, "bert")
    assert check.verdict == "held"
    # a control that passes makes the check unable to fail: not "held"
    assert claims.params_match(PARAMS, formula, [], PARAMS["large"]).to_check(
        "count", "", claims.params_match(PARAMS, formula, [], PARAMS["large"]), "itself").verdict == "inconclusive"


# --- the paired interval ---

def test_paired_interval_is_the_t_interval_of_the_differences():
    a, b = [6.03, 6.03, 5.98], [6.16, 6.14, 6.16]
    d = np.subtract(a, b)
    lo, hi = paired_interval(np.subtract(a, b))
    half = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)  # t_{0.975, 2}
    assert lo == pytest.approx(d.mean() - half) and hi == pytest.approx(d.mean() + half)
    assert paired_interval([-1.0]) == (-math.inf, math.inf)


def test_pairing_removes_the_seed_effect_that_welch_counts_as_noise():
    """A seed effect shared by both sides (the seed's data order) cancels in the per-seed differences."""
    seed = np.array([0.0, 0.06, 0.12])
    a, b = 0.70 + seed, 0.66 + seed + np.array([0.0, 0.002, -0.002])
    lo, hi = paired_interval(np.subtract(a, b))
    assert 0 < lo < 0.04 < hi < 0.05
    wlo, _ = welch_interval(a, b)
    assert wlo < -0.05  # Welch's interval spans the seed effect


# --- "slightly worse" (轻微下降) as non-inferiority ---

def _side(loss, acc, rel=(0.0, 0.01, -0.01)):
    return {"mlm_loss": [loss + r for r in rel], "accuracy": [acc + r / 2 for r in rel]}


@pytest.mark.parametrize("v2,bert,unigram,majority,verdict", [
    (_side(6.00, 0.73), _side(6.15, 0.69), 6.5, 0.566, "held"),      # better on both
    (_side(6.17, 0.68), _side(6.15, 0.69), 6.5, 0.566, "held"),      # a little worse: inside δ on both
    (_side(6.25, 0.73), _side(6.15, 0.69), 6.5, 0.566, "not held"),  # loss 0.10 worse, δ = 0.2 × 0.35 = 0.07
    (_side(6.00, 0.64), _side(6.15, 0.69), 6.5, 0.566, "not held"),  # 5 points less accurate, δ = 2.5 points
    ({"mlm_loss": [6.0, 6.3, 5.9], "accuracy": [0.73, 0.6, 0.8]}, _side(6.15, 0.69), 6.5, 0.566, "inconclusive"),
    (_side(6.00, 0.73), _side(6.15, 0.69), 6.14, 0.566, "inconclusive"),  # bert no better than unigram − 0.1
    (_side(6.00, 0.58), _side(6.15, 0.58), 6.5, 0.566, "inconclusive"),  # accuracy at the majority label
])
def test_as_good_branches(v2, bert, unigram, majority, verdict):
    d = claims.as_good(v2, bert, unigram, majority)
    assert d.verdict == verdict, d.why


def test_as_good_fails_a_loss_the_old_band_let_through():
    """The bert variant learned 0.25 nat over the unigram loss; RoFormerV2 is 0.1 nat worse. The old ±5 %
    band on the loss (±0.31 nat, wider than all that was learned) held that; non-inferiority with
    δ = 0.2 × 0.25 = 0.05 nat does not."""
    from kexue.verdicts import equivalent

    v2, bert = _side(6.25, 0.70), _side(6.15, 0.70)
    assert equivalent(v2["mlm_loss"], bert["mlm_loss"], tolerance=0.05 * 6.15).verdict == "held"  # the old rule
    assert claims.as_good(v2, bert, unigram=6.40, majority=0.566).verdict == "not held"


# --- the α ramp against ReZero ---

@pytest.mark.parametrize("ramp,rezero,verdict", [
    ([6.05, 6.05, 5.99, 6.02], [6.11, 6.08, 6.10, 6.09], "held"),
    ([6.11, 6.08, 6.10, 6.09], [6.05, 6.05, 5.99, 6.02], "not held"),  # ReZero clearly better
    ([6.05, 6.10, 5.99, 6.12], [6.09, 6.05, 6.07, 6.06], "inconclusive"),  # a tie inside the noise
    ([6.05], [6.11], "inconclusive"),  # one seed cannot decide
])
def test_alpha_ramp_branches(ramp, rezero, verdict):
    d = claims.alpha_ramp({"ramp": ramp, "rezero": rezero}, unigram=6.5)
    assert d.verdict == verdict, d.why


def test_alpha_ramp_is_decided_against_rezero_not_against_no_ramp():
    """The post compares the ramp with ReZero; the old rule also required "no worse than no ramp", which the
    post does not say, and called this case "not held"."""
    loss = {"ramp": [6.05, 6.05, 5.99], "rezero": [6.20, 6.18, 6.16], "none": [5.80, 5.81, 5.79]}
    assert claims.alpha_ramp(loss, unigram=6.5).verdict == "held"


def test_alpha_ramp_untrained_is_inconclusive():
    flat = [6.45, 6.46, 6.44]
    d = claims.alpha_ramp({"ramp": [6.0, 6.01, 5.99], "rezero": flat}, unigram=6.5)
    assert d.verdict == "inconclusive" and "did not learn" in d.why


# --- the speed-up: a GPU claim ---

def _steps(t, rel=0.01):
    return [t * (1 + rel * e) for e in (-1.0, 0.0, 1.0, 0.5, -0.5)]


def _cells(r128, r512, rel=0.01):
    """{n: (bert seconds, RoFormerV2 seconds)} with t_bert / t_RoFormerV2 = r."""
    return {128: (_steps(r128, rel), _steps(1.0, rel)), 512: (_steps(r512, rel), _steps(1.0, rel))}


@pytest.mark.parametrize("r128,r512,rel,verdict", [
    (1.3, 1.2, 0.01, "held"),
    (1.3, 1.0, 0.01, "not held"),       # no faster at n = 512
    (1.2, 1.2, 0.01, "not held"),       # 1.2× at n = 128 is short of the post's 1.3× (≥ 1.25×)
    (1.3, 1.17, 0.08, "inconclusive"),  # 1.17× with 8 % noise: within the noise of 1.15×
])
def test_faster_on_cuda_is_decided_by_the_shared_speedup_rule(r128, r512, rel, verdict):
    d = claims.faster(_cells(r128, r512, rel), "cuda")
    assert d.verdict == verdict, d.why
    assert not hasattr(claims, "_x")  # one rule: kexue.verdicts.speedup, no copy here


@pytest.mark.parametrize("r128,r512", [(1.3, 1.2), (1.0, 1.0), (0.9, 0.8)])
def test_faster_on_a_cpu_is_not_checkable_with_the_measurement_as_context(r128, r512):
    """The old rule decided the post's GPU figure on one CPU thread ("not held" at 1.0×)."""
    d = claims.faster(_cells(r128, r512), "cpu")
    assert d.verdict == "not checkable"
    assert "not checkable on CPU (a GPU claim)" in d.why and "n = 128" in d.why and "n = 512" in d.why


def test_faster_refuses_a_length_the_post_did_not_time():
    with pytest.raises(ValueError, match="n = \\[64\\]"):
        claims.faster({64: (_steps(1.3), _steps(1.0))}, "cuda")
