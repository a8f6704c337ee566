"""The effective-sample-size map: the interpolation is exact on a power law, a loop with no synthetic
data is worth its n_r real points (n_e/n_r ≈ 1), unbiased synthetic data add to it, biased ones add
in moderation and take away beyond a threshold (the paper's finding 4)."""
from __future__ import annotations

import numpy as np
import pytest

from kexue.mad.ess import ESSConfig, effective_n, ess_map


def test_effective_n_inverts_a_power_law_and_flags_clipping():
    ns = np.array([10, 30, 100, 300, 1000])
    w2 = 3.0 / np.sqrt(ns)
    assert effective_n(3.0 / np.sqrt(50), ns, w2) == (pytest.approx(50, rel=1e-9), False)
    assert effective_n(3.0 / np.sqrt(5000), ns, w2)[1] is True


def test_ess_map_reads_real_only_as_one_and_orders_the_bias():
    cfg = ESSConfig(n_r=(6,), n_s=(0, 12, 60), lams=(1.0, 0.5), d=2, seeds=400, generations=15, reference_seeds=400)
    cells = {(c["n_s"], c["lam"]): c for c in ess_map(cfg)["cells"]}
    for lam in (1.0, 0.5):  # n_s = 0: the loop is a fresh fit on n_r real points every generation
        assert cells[(0, lam)]["ratio"] == pytest.approx(1.0, abs=0.15)
    assert cells[(12, 1.0)]["ratio"] > 1.3  # unbiased synthetic points help
    # biased ones help in moderation (the n_r = 6 covariance is very noisy) and hurt beyond a threshold
    assert cells[(12, 0.5)]["ratio"] > 1.0 and cells[(60, 0.5)]["ratio"] < 0.8


def test_ess_settings_are_checked():
    with pytest.raises(ValueError, match="lam = 1.5"):
        ESSConfig(lams=(1.5,)).check()
    with pytest.raises(ValueError, match="n_r \\+ n_s"):
        ESSConfig(n_r=(1,), n_s=(0,), d=100).check()
