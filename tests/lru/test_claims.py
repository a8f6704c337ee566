"""Every branch of post 9554's verdict rules with synthetic numbers, and the sizes the SLRU is matched at.

The rules that issue 20 changed (the speed-up, Table 1, copy, ListOps, LRU vs SLRU, the gap with length)
are in `test_claims_v20.py`, each with the numbers on which the old rule gave another verdict."""

import pytest
import torch

from kexue.lru import claims
from kexue.lru.lm import LMConfig, matched
from kexue.lru.measure_scan import scan_depth
from kexue.lru.model import DeepModel, ModelConfig
from kexue.lru.reproduce import ablation_config, preset
from kexue.nn.params import count_parameters
from kexue.train.lm import next_token_loss


def test_log_depth_holds_for_the_real_parallel_scan_and_not_for_the_loop():
    ops = scan_depth((64, 128, 256, 512), methods=("sequential", "parallel", "chunked"))
    assert claims.log_depth(ops["parallel"], ops["sequential"]).verdict == "held"
    # negative controls: the loop (and the √L chunked scan) are not log-depth
    assert claims.log_depth(ops["sequential"], ops["sequential"]).verdict == "not held"
    assert claims.log_depth(ops["chunked"], ops["sequential"]).verdict == "not held"


@pytest.mark.parametrize("parallel,verdict", [
    ({256: 100, 512: 113, 1024: 126}, "held"),
    ({256: 100, 512: 200, 1024: 400}, "not held"),       # a loop in disguise
    ({256: 100, 512: 100, 1024: 100}, "not held"),       # constant: not a scan at all
    ({256: 100, 1024: 126, 4096: 152}, "inconclusive"),  # lengths do not double
])
def test_log_depth_branches(parallel, verdict):
    loop = {L: 2 * L + 7 for L in parallel}
    assert claims.log_depth(parallel, loop).verdict == verdict


PAPER_LIKE = {"dense": [0.60, 0.61, 0.62], "diag_reim": [0.80, 0.81, 0.80], "diag_exp": [0.795, 0.80, 0.805],
              "stable_exp": [0.85, 0.86, 0.855], "lru": [0.90, 0.91, 0.905]}


def test_ablation_steps_held_for_the_papers_shape():
    d = claims.ablation_steps(PAPER_LIKE, majority=0.11)
    assert d.verdict == "held", d.why
    assert d.why.count("→") == 4  # every step is reported, not only the ends


@pytest.mark.parametrize("change,verdict", [
    ({"stable_exp": [0.70, 0.71, 0.70]}, "not held"),        # exp → stable exp clearly worse
    ({"diag_exp": [0.90, 0.91, 0.90], "stable_exp": [0.95, 0.96, 0.95], "lru": [0.97, 0.975, 0.98]},
     "not held"),                                              # exp clearly better than re+im, unlike the paper
    ({"lru": [0.80, 0.90, 0.86]}, "inconclusive"),           # a tie within the noise
    ({m: [0.1, 0.11, 0.1] for m in PAPER_LIKE}, "inconclusive"),  # nothing beat the majority class
])
def test_ablation_steps_branches(change, verdict):
    d = claims.ablation_steps({**PAPER_LIKE, **change}, majority=0.11)
    assert d.verdict == verdict, d.why


def test_ablation_ends_alone_would_have_passed_a_broken_middle_step():
    # the old rule compared only LRU with dense; this run has a broken middle step it would have missed
    broken = {**PAPER_LIKE, "stable_exp": [0.70, 0.71, 0.70]}
    assert min(broken["lru"]) > max(broken["dense"])
    assert claims.ablation_steps(broken, majority=0.11).verdict == "not held"


def test_slru_gets_twice_the_units_and_matches_the_lrus_parameters():
    """Issue 15 §4: Su gives the SLRU twice the units so that parameters match (bojone/rnn models.py)."""
    base = ModelConfig(d_model=64, d_state=64, depth=1, norm="layer")
    lru = DeepModel(matched(ModelConfig(**{**base.__dict__, "model": "lru"})), 10, vocab_size=10, pooling="none")
    slru = DeepModel(matched(ModelConfig(**{**base.__dict__, "model": "slru"})), 10, vocab_size=10, pooling="none")
    sa = DeepModel(matched(ModelConfig(**{**base.__dict__, "model": "transformer"})), 10, vocab_size=10,
                   pooling="none")
    p = {n: count_parameters(m.blocks[0].mixer) for n, m in (("lru", lru), ("slru", slru), ("sa", sa))}
    assert slru.blocks[0].mixer.d_state == 2 * lru.blocks[0].mixer.d_state == 128
    # 4H² + O(H) each: LRU 16,640, SLRU 16,704, attention 16,640
    assert abs(p["slru"] - p["lru"]) / p["lru"] < 0.01 and abs(p["sa"] - p["lru"]) / p["lru"] < 0.01
    # the copy / ListOps comparison matches the same way
    run = preset("smoke").copy
    assert ablation_config(run, "slru").model.d_state == 2 * ablation_config(run, "lru").model.d_state


def test_lm_is_causal_for_every_mixer():
    for mixer in LMConfig().mixers:
        torch.manual_seed(0)
        m = DeepModel(matched(ModelConfig(model=mixer, d_model=16, depth=1, norm="layer")), 20, vocab_size=20,
                      pooling="none").eval()
        x = torch.randint(0, 20, (2, 12))
        y = x.clone()
        y[:, 8:] = (y[:, 8:] + 1) % 20
        with torch.no_grad():
            assert torch.allclose(m(x)[:, :8], m(y)[:, :8], atol=1e-5), mixer
        assert next_token_loss(m, torch.cat([x, x[:, :1]], 1)).isfinite()
