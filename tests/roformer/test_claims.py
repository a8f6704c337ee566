"""Every branch of post 8998's verdict rules with synthetic numbers (kexue/roformer/claims.py)."""
import pytest

from kexue.roformer import claims
from kexue.roformer.config import PARAMS, SIZES, count_params
from kexue.roformer.config import preset as size_preset


def test_params_match_the_built_models_and_not_a_wrong_formula():
    formula = {s: count_params(size_preset(s)) for s in SIZES}
    assert claims.params_match(PARAMS, formula, [], PARAMS["large"]).verdict == "held"
    # negative controls: the formula without the 2H segment rows, a stray bias, a model that is not 3亿
    wrong = {s: formula[s] - 2 * size_preset(s).hidden_size for s in SIZES}
    assert claims.params_match(PARAMS, wrong, [], PARAMS["large"]).verdict == "not held"
    assert claims.params_match(PARAMS, formula, ["layers.0.ffn.inner.bias"], PARAMS["large"]).verdict == "not held"
    assert claims.params_match(PARAMS, formula, [], 2.2e8).verdict == "not held"


def _side(loss, acc):
    return {"mlm_loss": [loss, loss + 0.01, loss - 0.01], "accuracy": [acc, acc + 0.005, acc - 0.005]}


@pytest.mark.parametrize("v2,bert,unigram,majority,verdict", [
    (_side(4.00, 0.80), _side(4.02, 0.81), 7.0, 0.5, "held"),
    (_side(5.00, 0.80), _side(4.00, 0.81), 7.0, 0.5, "not held"),   # MLM loss 25 % worse
    (_side(4.00, 0.70), _side(4.00, 0.81), 7.0, 0.5, "not held"),   # 11 points less accurate
    ({"mlm_loss": [4.0, 4.4, 3.7], "accuracy": [0.8, 0.7, 0.9]}, _side(4.0, 0.8), 7.0, 0.5, "inconclusive"),
    (_side(4.00, 0.80), _side(4.02, 0.81), 4.05, 0.5, "inconclusive"),  # no better than unigram: did not learn
    (_side(4.00, 0.51), _side(4.02, 0.51), 7.0, 0.5, "inconclusive"),   # accuracy at the majority label
])
def test_as_good_branches(v2, bert, unigram, majority, verdict):
    d = claims.as_good(v2, bert, unigram, majority)
    assert d.verdict == verdict, d.why


@pytest.mark.parametrize("ramp,none,rezero,verdict", [
    ([4.0, 4.01, 3.99], [4.02, 4.03, 4.01], [4.5, 4.51, 4.49], "held"),
    ([4.5, 4.51, 4.49], [4.5, 4.51, 4.49], [4.0, 4.01, 3.99], "not held"),  # ReZero clearly better
    ([4.5, 4.51, 4.49], [4.0, 4.01, 3.99], [4.9, 4.91, 4.89], "not held"),  # no ramp clearly better than ramp
    ([4.0, 4.3, 3.8], [4.0, 4.01, 3.99], [4.1, 3.9, 4.2], "inconclusive"),  # a tie inside the noise
])
def test_alpha_ramp_branches(ramp, none, rezero, verdict):
    d = claims.alpha_ramp({"ramp": ramp, "none": none, "rezero": rezero}, unigram=7.0)
    assert d.verdict == verdict, d.why


def test_alpha_ramp_untrained_is_inconclusive():
    flat = [7.0, 7.01, 6.99]
    d = claims.alpha_ramp({"ramp": [6.0, 6.01, 5.99], "none": flat, "rezero": flat}, unigram=7.0)
    assert d.verdict == "inconclusive" and "did not learn" in d.why


def _steps(t, rel=0.01):
    return [t * (1 + rel * e) for e in (-1.0, 0.0, 1.0, 0.5, -0.5)]


@pytest.mark.parametrize("ratios,rel,verdict", [
    ((1.3, 1.2), 0.01, "held"),
    ((1.3, 1.0), 0.01, "not held"),       # no faster at n = 512
    ((1.3, 1.12), 0.08, "inconclusive"),  # 1.12× with 8 % noise: within noise of 1.1×
])
def test_faster_branches(ratios, rel, verdict):
    times = {n: (_steps(1.0, rel), _steps(r, rel)) for n, r in zip((128, 512), ratios)}
    d = claims.faster(times)
    assert d.verdict == verdict, d.why
    if verdict == "inconclusive":
        assert "within noise" in d.why
