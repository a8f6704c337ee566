"""Improved precision/recall (kexue/precision_recall.py), the one function of diffusion's and MAD's metrics."""
import numpy as np
import pytest
import torch

from kexue.precision_recall import knn_radii, precision_recall


def test_precision_recall_by_hand():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    # k = 1: every real ball has radius 1; points 10 and 20 are outside all of them
    fake = torch.tensor([[0.5], [2.5], [10.0], [20.0], [5.5], [30.0], [40.0]])
    p, r = precision_recall(real, fake, k=1)
    assert p == pytest.approx(3 / 7)
    # the fake balls are wide (radii 2, 2, 3, 4.5, 10, 10, 10): every real point is covered
    assert r == 1.0
    p, r = precision_recall(fake, real, k=1)  # swapped: 0..6 balls of radius 1 cover 0.5, 2.5, 5.5
    assert r == pytest.approx(3 / 7) and p == 1.0


def test_radii_are_scipys_k_nearest_and_every_way_in_gives_the_same_numbers():
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((300, 2)), 0.7 * rng.standard_normal((250, 2)) + 0.3
    # the (k+1)-th nearest of a point in its own set counts the point itself at distance 0
    assert np.allclose(knn_radii(real, 5, chunk=64).numpy(), cKDTree(real).query(real, 6)[0][:, -1], atol=1e-12)
    ours = precision_recall(real, fake, 5)
    assert precision_recall(torch.from_numpy(real).float(), torch.from_numpy(fake), 5) == pytest.approx(ours, abs=1e-6)
    assert precision_recall(real, fake, 5, real_radii=knn_radii(real, 5)) == ours
    assert precision_recall(real, fake, 5, chunk=7) == ours
    # features of many dimensions take the distance matrix, not the tree: the same radii
    wide = rng.standard_normal((200, 16))
    assert np.allclose(knn_radii(wide, 5, chunk=64).numpy(), cKDTree(wide).query(wide, 6)[0][:, -1], atol=1e-9)
    assert ours[0] > ours[1]  # a narrower sampler: high precision, lower recall


def test_too_few_points_for_k_are_named():
    with pytest.raises(ValueError, match="need more than k=5 points"):
        precision_recall(np.zeros((5, 2)), np.ones((9, 2)))
