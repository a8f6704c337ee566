"""Improved precision and recall (Kynkäänniemi et al. 2019): the k-NN estimate of two manifolds.

Two topics judge samples with it: the diffusion models (kexue.fm/archives/9119, 9152) on a small
classifier's features, and the self-consuming loops (9687, after Alemohammad et al. 2023) on 2-D
points. Each point of a set gets a ball whose radius is the distance to its k-th nearest neighbour in
its own set (itself excluded); the union of the balls estimates the set's manifold. Then

    precision = share of samples inside some ball of the real set     (quality)
    recall    = share of real points inside some ball of the samples  (coverage)

with k = 5 as in the paper. Distances are Euclidean in float64; the pairwise distances are computed
in chunks of rows, so large feature sets fit in memory.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

KD_TREE_DIMS = 8  # up to this many dimensions the k-NN radii come from a k-d tree


def precision_recall(real: Tensor | np.ndarray, fake: Tensor | np.ndarray, k: int = 5,
                     real_radii: Tensor | np.ndarray | None = None, chunk: int = 1024) -> tuple[float, float]:
    """(precision, recall) of the point sets real [N, d] and fake [M, d].

    real_radii: the real set's k-NN radii from `knn_radii(real, k)`, when one real set is compared with
    many samples (computed here otherwise)."""
    real, fake = _float64(real), _float64(fake)
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision_recall: need more than k={k} points in each set, got {len(real)} and {len(fake)}")
    r_real = knn_radii(real, k, chunk) if real_radii is None else _float64(real_radii)
    r_fake = knn_radii(fake, k, chunk)
    # precision = share of samples f with ‖f − r‖ ≤ radius_k(r) for some real r
    precision = _inside_some_ball(fake, real, r_real, chunk)
    # recall = share of real points r with ‖r − f‖ ≤ radius_k(f) for some sample f
    recall = _inside_some_ball(real, fake, r_fake, chunk)
    return precision, recall


def knn_radii(x: Tensor | np.ndarray, k: int, chunk: int = 1024) -> Tensor:
    """Distance of each point of x [n, d] to its k-th nearest neighbour in x (itself excluded), float64.

    The search is exact either way: a k-d tree for points of few dimensions (MAD's 2-D points, where it
    is O(n log n)), the chunked distance matrix otherwise (features, where a tree degrades to it)."""
    x = _float64(x)
    # the (k+1)-th smallest distance counts the point itself at distance 0
    if x.shape[1] <= KD_TREE_DIMS:
        from scipy.spatial import cKDTree

        return torch.from_numpy(cKDTree(x.numpy()).query(x.numpy(), k + 1)[0][:, -1].copy())
    return torch.cat([torch.cdist(x[i:i + chunk], x).topk(k + 1, dim=1, largest=False).values[:, -1]
                      for i in range(0, len(x), chunk)])


def _inside_some_ball(points: Tensor, centres: Tensor, radii: Tensor, chunk: int) -> float:
    inside = [(torch.cdist(points[i:i + chunk], centres) <= radii[None, :]).any(dim=1)
              for i in range(0, len(points), chunk)]
    return float(torch.cat(inside).double().mean())


def _float64(x: Tensor | np.ndarray) -> Tensor:
    return torch.as_tensor(x).detach().to(torch.float64).cpu()
