"""The 25-mode mixture family: its metrics on the truth, the bias λ, a loop (precision/recall:
tests/test_precision_recall.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kexue.mad.gmm import GMMConfig, GMMFamily
from kexue.mad.loops import LoopConfig, run_loop


def test_truth_metrics_and_the_bias_scales_every_modal_variance():
    cfg = GMMConfig(n_eval=4000)
    fam = GMMFamily(cfg, torch.tensor([1.0, 0.5], dtype=torch.float64))  # one row per bias λ
    floor = fam.truth_values()
    assert floor["modes_kept"] == 25 and floor["precision"] > 0.95 and floor["recall"] > 0.95
    # total variance: grid {−4..4}² has variance 8 per axis; modal variance 2σ²
    assert floor["total_var"] == pytest.approx(2 * 8 + 2 * cfg.sigma**2, rel=0.05)
    assert floor["modal_var"] == pytest.approx(2 * cfg.sigma**2, rel=0.1)
    truth = {k: v.expand(2, *v.shape[1:]) for k, v in fam.truth_model().items()}  # P_r in both rows
    x = fam.synth(truth, 20000, np.random.default_rng(1))["x"]
    for row, lam in enumerate((1.0, 0.5)):
        m = fam.sample_metrics(x[row].numpy())
        # sampling with bias λ scales each component's covariance: modal variance 2λσ² (SE ≈ 2λσ²·√(2/800))
        assert m["modal_var"] == pytest.approx(2 * lam * cfg.sigma**2, rel=5 * math.sqrt(2 / 800))
    assert not m["modal_var"] == pytest.approx(2 * cfg.sigma**2, rel=0.1)  # negative control: λ acts


def test_gmm_fully_synthetic_loop_loses_recall_and_keeps_total_variance():
    cfg = LoopConfig(loop="synthetic", lams=(0.7,), generations=12, seeds=2, n_ini=500, n_s=500)
    fam = GMMFamily(GMMConfig(n_eval=500, measure_every=11), cfg.lam_rows())
    res = run_loop(fam, cfg)
    rec, tv, mv = (res.per_lam(k, 0.7) for k in ("recall", "total_var", "modal_var"))
    assert np.isnan(rec[4]).all() and not np.isnan(rec[10]).any()  # measured at 1 and 11 only
    assert (rec[10] < rec[0] - 0.2).all()  # diversity collapses under bias
    assert (mv[10] < 0.5 * mv[0]).all()  # modal variance shows it ...
    assert (np.abs(tv[10] - tv[0]) < 0.15 * tv[0]).all()  # ... total variance does not
