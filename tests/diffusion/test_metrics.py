"""FD-<data>, precision/recall (k = 5) and the label histogram of kexue/diffusion/metrics.py (the
precision/recall function itself: tests/test_precision_recall.py)."""
import math

import pytest
import torch

from kexue.data import load_digits
from kexue.diffusion.metrics import (ClassifierConfig, ImageMetrics, frechet_distance, gaussian_stats,
                                     label_histogram, load_or_fit_classifier)

SMALL = ClassifierConfig(steps=60, width=16, feature_dim=32)


@pytest.fixture(scope="module")
def digits_metrics(tmp_path_factory):
    x, y = load_digits()
    clf, info = load_or_fit_classifier("digits", x, y, tmp_path_factory.mktemp("cache"), SMALL)
    return x, y, ImageMetrics("digits", x[:900], clf, info["num_classes"]), info


def test_frechet_distance_of_two_gaussians_is_the_closed_form():
    g = torch.Generator().manual_seed(0)
    d = 6
    a, b = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    cov1, cov2 = a @ a.T + 0.1 * torch.eye(d), b @ b.T + 0.1 * torch.eye(d)
    mu1, mu2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    # reference: tr √(Σ₁Σ₂) through scipy's sqrtm of the (non-symmetric) product
    from scipy.linalg import sqrtm

    ref = float((mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace()) \
        - 2 * float(sqrtm((cov1 @ cov2).numpy()).real.trace())
    assert frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(ref, rel=1e-8)
    # commuting (diagonal) case: ‖μ₁ − μ₂‖² + Σ (√a − √b)²
    da, db = torch.rand(d, generator=g, dtype=torch.float64), torch.rand(d, generator=g, dtype=torch.float64)
    closed = float((mu1 - mu2).pow(2).sum() + (da.sqrt() - db.sqrt()).pow(2).sum())
    assert frechet_distance(mu1, da.diag(), mu2, db.diag()) == pytest.approx(closed, rel=1e-10)
    assert frechet_distance(mu1, cov1, mu1, cov1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_sample_statistics_converges():
    g = torch.Generator().manual_seed(1)
    n, d = 200_000, 3
    x1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    x2 = torch.randn(n, d, generator=g, dtype=torch.float64) * 2.0 + 1.0
    # N(0, I) vs N(1, 4I): d·1 + d·(1 − 2)² = 2d
    assert frechet_distance(*gaussian_stats(x1), *gaussian_stats(x2)) == pytest.approx(2 * d, rel=0.02)


def test_data_against_itself_and_against_noise(digits_metrics):
    x, y, measure, info = digits_metrics
    assert info["accuracy"] > 0.6
    same = measure(x[:900])
    assert same["FD-digits"] == pytest.approx(0.0, abs=1e-6)
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    other = measure(x[900:])  # the other half of the data
    noise = measure(torch.rand(897, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert other["precision"] > 0.8 and other["recall"] > 0.8
    assert noise["FD-digits"] > 20 * other["FD-digits"]
    assert noise["precision"] < 0.05
    assert other["label_entropy"] > 0.95


def test_label_histogram_and_conditional_accuracy(digits_metrics):
    x, y, measure, _ = digits_metrics
    threes = x[900:][y[900:] == 3]
    out = measure(threes, torch.full((len(threes),), 3))
    assert out["cond_accuracy"] > 0.6
    assert out["label_entropy"] < 0.5
    hist, h = label_histogram(torch.tensor([0, 1, 2, 3]), 4)
    assert hist == [1, 1, 1, 1] and h == pytest.approx(1.0)
    assert label_histogram(torch.tensor([2, 2]), 4) == ([0, 0, 2, 0], 0.0)


def test_classifier_cache_is_reused_and_keyed_on_the_data(tmp_path):
    x, y = load_digits()
    x, y = x[:300], y[:300]
    cfg = ClassifierConfig(steps=3, width=8, feature_dim=8)
    m1, i1 = load_or_fit_classifier("d", x, y, tmp_path, cfg)
    m2, i2 = load_or_fit_classifier("d", x, y, tmp_path, cfg)
    assert i1["trained"] and not i2["trained"]
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    _, i3 = load_or_fit_classifier("d", x[:200], y[:200], tmp_path, cfg)
    assert i3["trained"]  # other data: trained again, not silently reused
    _, i4 = load_or_fit_classifier("folder", x, None, tmp_path, cfg)
    assert math.isnan(i4["accuracy"]) and i4["num_classes"] == 0
