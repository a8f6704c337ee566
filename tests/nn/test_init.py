"""The truncated normal by rejection has the law of torch's trunc_normal_ (and normal_().clamp_() has not)."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from kexue.nn.init import trunc_normal_


def _truncnorm_cdf(std: float):
    return stats.truncnorm(-2, 2, loc=0.0, scale=std).cdf


@pytest.mark.parametrize("shape", [(400, 300), (7,), (3, 50, 40)])
def test_the_values_follow_the_truncated_normal(shape):
    std = 0.02
    w = trunc_normal_(torch.empty(shape), std, generator=torch.Generator().manual_seed(0))
    x = w.flatten().double().numpy()
    assert np.abs(x).max() <= 2 * std
    if x.size > 1000:
        assert stats.kstest(x, _truncnorm_cdf(std)).pvalue > 1e-3
        # Var of N(0, σ²) truncated at ±2σ is 0.7737 σ²
        assert x.var() == pytest.approx(0.77372 * std**2, rel=0.02)


def test_torch_trunc_normal_and_ours_agree_and_clamping_does_not():
    std, n = 1.0, 200_000
    g = torch.Generator().manual_seed(1)
    ours = trunc_normal_(torch.empty(n), std, generator=g).double().numpy()
    theirs = torch.nn.init.trunc_normal_(torch.empty(n), 0.0, std, -2 * std, 2 * std, generator=g).double().numpy()
    clamped = torch.empty(n).normal_(0.0, std, generator=g).clamp_(-2 * std, 2 * std).double().numpy()
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-3
    # the control: clamping piles 4.55 % of the mass onto ±2σ, which the two-sample test sees at once
    assert stats.ks_2samp(ours, clamped).pvalue < 1e-6
    assert math.isclose(float((np.abs(clamped) == 2 * std).mean()), 0.0455, abs_tol=0.003)


def test_a_strided_weight_is_filled_in_place():
    w = torch.zeros(64, 32).t()  # not contiguous
    out = trunc_normal_(w, 0.1)
    assert out is w and bool((w != 0).all()) and float(w.abs().max()) <= 0.2
