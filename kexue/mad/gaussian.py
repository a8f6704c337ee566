"""The Gaussian family of the self-consuming loop, vectorised over many loops at once.

kexue.fm/archives/9687 (Eq. 1) and Alemohammad et al. 2023, Sec. 3.1: a generation's model is
N(μ_t, Σ_t) with μ_t the sample mean and Σ_t = 1/(n−1) Σ_i (x_i − μ_t)(x_i − μ_t)ᵀ the unbiased sample
covariance of its training set; sampling with bias λ draws from N(μ_t, λΣ_t). The true distribution is
P_r = N(μ_0, Σ_0), N(0, I_d) by default (the paper's fresh-loop experiment uses d = 100).

Every tensor has a leading batch axis B = (number of λ) × (number of seeds): one batched tensor program
runs every loop of a sweep, no Python loop over seeds.

Departure, for speed, identical in distribution: by default (`draw="statistics"`) a training set is
never materialised. Its sufficient statistics are drawn directly,
    x̄ ~ N(μ, λΣ/n),   S = Σ_i (x_i − x̄)(x_i − x̄)ᵀ ~ Wishart(λΣ, n − 1),   x̄ ⫫ S,
with the Wishart drawn by Bartlett's decomposition (S = (F A)(F A)ᵀ, F the Cholesky factor of λΣ and A
lower triangular with A_ii² ~ χ²_{n−1−i}, A_ij ~ N(0, 1) below the diagonal; d × (n − 1) lower
trapezoidal when n − 1 < d, the singular Wishart of a small real set). This costs O(d³) per generation
instead of O(n d²). In the fully synthetic loop the next Cholesky factor is F A/√(n−1) itself (a product
of lower-triangular matrices), so that loop needs no factorisation at all: one product a generation.
Augment and fresh pool the scatters (one product G Gᵀ each for the synthetic and, in fresh, the new real
set; the fixed real set's S is formed once) and take one Cholesky. Cheap numbers (tr Σ_t = ‖F‖²,
‖μ_t − μ_0‖², log det Σ_t from F's diagonal) are recorded every generation; the exact W2, whose
eigendecomposition dominates the cost, on the grid `w2_at` ("log": 1–10, 20–100, 200–1000, …, and always
the first and last generation). `draw="samples"` draws the n points and fits them (tests check that the
two agree).

Precision (`dtype`): "float64" (the default, exactness first) or "float32", where the per-generation work
runs in single precision: the normals and the χ²'s (as 2·Gamma(k/2)) come from torch's generator in one
call each (seeded from the run's numpy generator every draw, so a run stays a pure function of its seed
and resumes exactly), and the triangular products, pooled scatters and Cholesky factorisations are
float32. Σ_t shrinks like λ^t (0.8^1000 ≈ 1e−97 underflows float32), so a float32 model stores
F = s·G with G renormalised to ‖G‖_F = 1 every generation and log s in float64; the means stay float64,
and every metric is computed in float64 from s and G (tr Σ = s², log det Σ = 2d log s + 2 Σ log |G_ii|,
the W2 from the eigenvalues of G Gᵀ scaled by s²). Sets are pooled exactly: (n_a, x̄_a, S_a) ∪ (n_b, x̄_b, S_b)
has S = S_a + S_b + (n_a n_b / n)(x̄_a − x̄_b)(x̄_a − x̄_b)ᵀ.

Data and models are dicts of tensors (a checkpoint stores them as they are):
    data  = {"n": [] int64, "mean": [B, d], and "scatter": [B, d, d] or its Bartlett factor "factor": [B, d, d]}
    model = {"mu": [B, d], "F": [B, d, d]}   with Σ = F Fᵀ, F lower triangular
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from kexue.mad.wasserstein import w2_squared_factor

DRAWS = ("statistics", "samples")
W2_AT = ("every", "log")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class GaussianConfig:
    d: int = 100  # dimension; the paper's P_r = N(0, I_100)
    draw: str = "statistics"  # "statistics": draw (x̄, S) from their exact laws; "samples": draw the n points
    w2_every: int = 1  # compute the exact W2 (an eigendecomposition per loop) every this many generations
    w2_at: str = "every"  # "every": generation 1 and every `w2_every`; "log": 1–10, 20–100, 200–1000, … and the last
    dtype: str = "float64"  # the per-generation work: "float64" (exact to round-off) or "float32" (F = s·G rescaled)

    def check(self) -> None:
        if self.d < 1:
            raise ValueError(f"gaussian.d = {self.d}: the dimension must be ≥ 1")
        if self.draw not in DRAWS:
            raise ValueError(f"gaussian.draw = {self.draw!r}: choose one of {', '.join(DRAWS)}")
        if self.w2_every < 1:
            raise ValueError(f"gaussian.w2_every = {self.w2_every}: must be ≥ 1")
        if self.w2_at not in W2_AT:
            raise ValueError(f"gaussian.w2_at = {self.w2_at!r}: choose one of {', '.join(W2_AT)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"gaussian.dtype = {self.dtype!r}: choose one of {', '.join(DTYPES)}")
        if self.dtype != "float64" and self.draw != "statistics":
            raise ValueError(f"gaussian.dtype = {self.dtype!r} needs draw = 'statistics' (the samples path is float64)")

    def w2_due(self, generation: int, last: int | None = None) -> bool:
        """Whether generation t gets the exact W2: t = 1 always, the last one always, then the grid."""
        if generation == 1 or generation == last:
            return True
        if self.w2_at == "log":  # 1, 2, …, 9, 10, 20, …, 90, 100, 200, …: the leading digit times a power of 10
            step = 10 ** (len(str(generation)) - 1)
            return generation % step == 0
        return generation % self.w2_every == 0


class GaussianFamily:
    """N(μ, Σ) fitted by sample mean and unbiased covariance; P_r = N(mu0, Sigma0)."""

    name = "gaussian"

    def __init__(self, cfg: GaussianConfig, lam: Tensor, mu0: Tensor | None = None, Sigma0: Tensor | None = None,
                 last: int | None = None):
        cfg.check()
        self.cfg, self.d, self.last = cfg, cfg.d, last  # last: the run's final generation (always gets W2)
        self.dtype = DTYPES[cfg.dtype]
        self.rescale = self.dtype != torch.float64  # models carry F = s·G, ‖G‖_F = 1, and log s (float64)
        self.lam = lam.double()  # [B], the sampling bias of each loop
        self.unbiased = bool((self.lam == 1).all())
        self.mu0 = torch.zeros(self.d, dtype=torch.float64) if mu0 is None else mu0.double()
        self.Sigma0 = torch.eye(self.d, dtype=torch.float64) if Sigma0 is None else Sigma0.double()
        if self.mu0.shape != (self.d,) or self.Sigma0.shape != (self.d, self.d):
            raise ValueError(f"truth: mu0 {tuple(self.mu0.shape)} and Sigma0 {tuple(self.Sigma0.shape)} "
                             f"must be ({self.d},) and ({self.d}, {self.d})")
        self.L0 = torch.linalg.cholesky(self.Sigma0).to(self.dtype)
        self.identity = bool(torch.equal(self.Sigma0, torch.eye(self.d, dtype=torch.float64)))
        evals, evecs = torch.linalg.eigh(self.Sigma0)
        self.Sigma0_half = evecs @ torch.diag(evals.clamp(min=0).sqrt()) @ evecs.T
        self.min_points = self.d + 1  # a generation's covariance has full rank only with n ≥ d + 1
        self.min_ini = 2  # G_1 may be fitted on fewer (the paper: n_ini = 100 in d = 100); Σ_1 is then singular
        self._kept: tuple[dict[str, Tensor], Tensor] | None = None  # (data, its S): see `_scatter`

    @property
    def B(self) -> int:
        return self.lam.numel()

    # --- data ---

    def real(self, n: int, rng: np.random.Generator) -> dict[str, Tensor]:
        """n fresh samples of P_r = N(μ_0, Σ_0) (λ never applies to real data), as statistics."""
        L = None if self.identity else self.L0.expand(self.B, self.d, self.d)
        return self._draw(self.mu0.expand(self.B, self.d), L, n, rng)

    def synth(self, model: dict[str, Tensor], n: int, rng: np.random.Generator) -> dict[str, Tensor]:
        """n samples of the biased model N(μ, λΣ), as statistics."""
        # the Cholesky factor of λΣ is √λ F (no product at all when every λ = 1)
        F, log_s = model["F"], model.get("log_s")
        if log_s is not None:  # float32: √λ joins the float64 scale, log √λ s = log s + ½ log λ (no pass over F)
            return self._draw(model["mu"], F, n, rng, log_s if self.unbiased else log_s + 0.5 * self.lam.log())
        L = F if self.unbiased else self.lam.sqrt().to(F.dtype)[:, None, None] * F
        return self._draw(model["mu"], L, n, rng)

    def pool(self, parts: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """The statistics of the union of the sets in `parts` (no part is changed)."""
        parts = [p for p in parts if int(p["n"]) > 0]
        if len(parts) == 1:
            return parts[0]
        n_out, mean, S = int(parts[0]["n"]), parts[0]["mean"], self._scatter(parts[0])
        for p in parts[1:]:
            na, nb = n_out, int(p["n"])
            n_out = na + nb
            diff = (mean - p["mean"]).to(S.dtype)
            # x̄ = (n_a x̄_a + n_b x̄_b)/n,  S = S_a + S_b + (n_a n_b/n)(x̄_a − x̄_b)(x̄_a − x̄_b)ᵀ
            mean = (na * mean + nb * p["mean"]) / n_out
            if "scatter" in p:
                S = S + p["scatter"]
            else:  # S_b = G Gᵀ from its Bartlett factor, added by the product itself
                G = _scaled(p)
                S = torch.baddbmm(S, G, G.mT)
            S.baddbmm_(diff[:, :, None], diff[:, None, :], alpha=na * nb / n_out)
        return {"n": torch.tensor(n_out), "mean": mean, "scatter": S}

    def _scatter(self, data: dict[str, Tensor]) -> Tensor:
        """S of a data dict (see `scatter`). The last one formed from a factor is kept: the augment loop
        pools the same fixed real set every generation, and its G Gᵀ would cost a product each time."""
        if "scatter" in data:
            return data["scatter"]
        if self._kept is None or self._kept[0] is not data:
            self._kept = (data, scatter(data))
        return self._kept[1]

    def fit(self, data: dict[str, Tensor]) -> dict[str, Tensor]:
        """μ = x̄, Σ = S/(n − 1) and a lower-triangular factor F (Σ = F Fᵀ)."""
        n = int(data["n"])
        if n < 2:
            raise ValueError(f"fit: a covariance needs at least 2 points, got n = {n}")
        if "factor" in data:  # S = G Gᵀ with G lower triangular (Bartlett): F = G/√(n − 1), no factorisation
            if "log_s" in data:  # S = s² G Gᵀ: F = s G/√(n − 1), the √(n − 1) moved into log s
                return self._normalised(data["mean"], data["factor"], data["log_s"] - 0.5 * math.log(n - 1))
            return {"mu": data["mean"], "F": data["factor"] / (n - 1) ** 0.5}
        # S = C Cᵀ, Σ = S/(n − 1) = F Fᵀ with F = C/√(n − 1). torch factors S = Uᵀ U (C = Uᵀ) 1.6× faster
        # than S = C Cᵀ on a CPU, and returns Uᵀ row-major; it reads one triangle of S (symmetric to round-off)
        S = data["scatter"]
        U, info = torch.linalg.cholesky_ex(S, upper=True)
        C = U.mT
        bad = info > 0
        if bool(bad.any()):  # singular (n ≤ d): S = M Mᵀ with M = V diag(√λ); Mᵀ = Q R gives S = Rᵀ R, C = Rᵀ
            evals, evecs = torch.linalg.eigh(S[bad].double())  # float64 whatever the dtype: rare (G_1)
            C[bad] = torch.linalg.qr((evecs * evals.clamp(min=0).sqrt()[..., None, :]).mT, mode="r")[1].mT.to(C.dtype)
        if self.rescale:  # F = s C with log s = −½ log(n − 1), normalised in the same pass
            return self._normalised(data["mean"], C, torch.full((C.shape[0],), -0.5 * math.log(n - 1), dtype=torch.float64))
        return {"mu": data["mean"], "F": C / (n - 1) ** 0.5}

    @staticmethod
    def _normalised(mu: Tensor, F: Tensor, log_s: Tensor) -> dict[str, Tensor]:
        """The model s·F as s'·G with ‖G‖_F = 1: log s' = log s + log ‖F‖_F (float64), G = F/‖F‖_F."""
        norm = torch.linalg.vector_norm(F, dim=(-2, -1))  # in F's precision: 7× faster than accumulating in float64
        log_s = log_s + norm.double().log()
        # tr Σ = s'² ‖G‖_F² = s'² (‖G‖_F = 1 by construction), kept so `measure` need not pass over G again
        return {"mu": mu, "F": F / norm[:, None, None], "log_s": log_s, "tr_sigma": torch.exp(2 * log_s)}

    # --- metrics ---

    def measure(self, model: dict[str, Tensor], generation: int) -> dict[str, Tensor]:
        """Per loop: tr Σ_t, ‖μ_t − μ_0‖², log det Σ_t every generation and, on the `w2_at` grid, the exact W2
        (the only eigendecomposition)."""
        mu, F = model["mu"], model["F"]  # F is lower triangular (fit makes it so); Σ = s² F Fᵀ
        log_s = model.get("log_s")  # float32 models only (s = 1 otherwise); every metric below is float64
        # log det Σ = 2 Σ_i log |F_ii| for a triangular factor (+ 2d log s)
        log_det = 2 * F.diagonal(dim1=-2, dim2=-1).double().abs().log().sum(-1)
        if "tr_sigma" in model:  # a normalised float32 model carries tr Σ = s² (see _normalised)
            tr = model["tr_sigma"]
        else:
            tr = torch.linalg.vector_norm(F, dim=(-2, -1), dtype=torch.float64).square()  # ‖F‖_F², no temporary
            if log_s is not None:
                tr = torch.exp(2 * log_s) * tr  # tr Σ = s² ‖G‖_F²
        if log_s is not None:
            log_det = log_det + 2 * self.d * log_s
        out = {"tr_sigma": tr, "mean_sq_err": (mu - self.mu0).square().sum(-1), "log_det": log_det}
        if self.cfg.w2_due(generation, self.last):
            out["w2"] = w2_squared_factor(mu, F.double(), self.mu0, self.Sigma0, self.Sigma0_half,
                                          identity=self.identity, log_scale=log_s).clamp(min=0).sqrt()
        return out

    def truth_values(self) -> dict[str, float]:
        """The metrics of the true distribution itself (what a perfect model would score)."""
        return {"tr_sigma": float(self.Sigma0.trace()), "mean_sq_err": 0.0, "w2": 0.0,
                "log_det": float(torch.logdet(self.Sigma0))}

    # --- drawing ---

    def _draw(self, mean: Tensor, L: Tensor | None, n: int, rng: np.random.Generator,
              log_s: Tensor | None = None) -> dict[str, Tensor]:
        """The statistics (n, x̄, S) of n points of N(mean, s² L Lᵀ), batched over B; L = None is the
        identity, log_s = None is s = 1 (float32 models carry their scale apart)."""
        B, d = mean.shape
        if n == 0:
            return {"n": torch.tensor(0), "mean": torch.zeros(B, d, dtype=torch.float64),
                    "scatter": torch.zeros(B, d, d, dtype=self.dtype)}
        if self.rescale:
            return self._draw_rescaled(mean, L, n, rng, torch.zeros(B, dtype=torch.float64) if log_s is None else log_s)
        if self.cfg.draw == "samples":
            z = torch.from_numpy(rng.standard_normal((B, n, d)))
            x = mean[:, None, :] + (z if L is None else z @ L.mT)  # x = μ + L z
            xbar = x.mean(1)
            xc = x - xbar[:, None, :]
            return {"n": torch.tensor(n), "mean": xbar, "scatter": xc.mT @ xc}
        z, A = wishart_draw(n - 1, d, B, rng)
        # x̄ = μ + L z/√n ~ N(μ, L Lᵀ/n)
        xbar = mean + (z if L is None else (L @ z[:, :, None]).squeeze(-1)) / n ** 0.5
        G = A if L is None else L @ A  # S = G Gᵀ ~ Wishart(L Lᵀ, n − 1)
        if G.shape[-1] == d and n - 1 >= d:  # lower triangular with a positive diagonal: a Cholesky factor of S
            return {"n": torch.tensor(n), "mean": xbar, "factor": G}
        return {"n": torch.tensor(n), "mean": xbar, "scatter": G @ G.mT}

    def _draw_rescaled(self, mean: Tensor, L: Tensor | None, n: int, rng: np.random.Generator,
                       log_s: Tensor) -> dict[str, Tensor]:
        """`_draw` in `self.dtype` with torch's generator; the factor comes back as (G, log s): S = s² G Gᵀ."""
        B, d = mean.shape
        gen = torch.Generator().manual_seed(int(rng.integers(2**63)))
        z, A = wishart_draw_torch(n - 1, d, B, gen, self.dtype)
        s = torch.exp(log_s)
        # x̄ = μ + s L z/√n ~ N(μ, s² L Lᵀ/n), accumulated in float64
        xbar = mean + s[:, None] * (z if L is None else (L @ z[:, :, None]).squeeze(-1)).double() / n ** 0.5
        G = A if L is None else L @ A  # S = s² G Gᵀ ~ Wishart(s² L Lᵀ, n − 1)
        if G.shape[-1] == d and n - 1 >= d:
            return {"n": torch.tensor(n), "mean": xbar, "factor": G, "log_s": log_s}
        G = s.to(self.dtype)[:, None, None] * G  # n − 1 < d: a scatter (only pooled with real data, never tiny)
        return {"n": torch.tensor(n), "mean": xbar, "scatter": G @ G.mT}


def _scaled(data: dict[str, Tensor]) -> Tensor:
    """A data dict's Bartlett factor times its scale s (float32 data carry log s apart; s = 1 otherwise)."""
    G = data["factor"]
    return G if "log_s" not in data else torch.exp(data["log_s"]).to(G.dtype)[:, None, None] * G


def scatter(data: dict[str, Tensor]) -> Tensor:
    """S of a data dict: stored, or G Gᵀ from its Bartlett factor (formed only when a pool needs it)."""
    return data["scatter"] if "scatter" in data else _scaled(data) @ _scaled(data).mT


def wishart_draw(k: int, d: int, B: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """(z [B, d] standard normal, A [B, d, m]) with A Aᵀ ~ Wishart(I_d, k), z independent of A: every normal
    in one generator call, every χ² in another. A is Bartlett's lower-trapezoidal factor, m = min(d, k):
    A_ii = √c_i with c_i ~ χ²_{k−i} (i = 0..m−1) and A_ij ~ N(0, 1) below the diagonal. For k ≥ d it is
    the square Cholesky factor; for k < d (a singular Wishart) Gram–Schmidt on the rows of a d × k normal
    matrix gives the same law, k(k+1)/2 + (d − k)k numbers instead of dk."""
    m = min(d, k)
    below, diag = _positions(d, m)
    g = rng.standard_normal((B, d + below.size))
    A = np.zeros((B, d * m))  # numpy's fancy assignment: ~50× faster than torch's index_put here
    A[:, below] = g[:, d:]  # A_ij ~ N(0, 1) below the diagonal
    # A_ii = √c_i with c_i ~ χ²_{k − i}
    A[:, diag] = np.sqrt(rng.chisquare(k - np.arange(m), size=(B, m)))
    return torch.from_numpy(g[:, :d]), torch.from_numpy(A).view(B, d, m)


@functools.lru_cache(maxsize=None)
def _positions(d: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions, in a row-major d × m matrix, of the entries strictly below the diagonal and of the
    diagonal."""
    rows, cols = np.tril_indices(d, -1, m)
    return rows * m + cols, np.arange(m) * (m + 1)


def wishart_draw_torch(k: int, d: int, B: int, gen: torch.Generator, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """`wishart_draw` by torch's generator in `dtype`: every normal in one call, every χ² in another."""
    m = min(d, k)
    below, _ = _positions(d, m)
    g = torch.randn(B, d + below.size, generator=gen, dtype=dtype)
    A = torch.zeros(B, d * m, dtype=dtype)
    A.index_copy_(1, torch.from_numpy(below), g[:, d:])  # A_ij ~ N(0, 1) below the diagonal (2× a mask assignment)
    A = A.view(B, d, m)
    # A_ii = √c_i with c_i ~ χ²_{k − i} = 2 Gamma((k − i)/2) (torch's Gamma sampler takes a generator)
    shape = ((k - torch.arange(m, dtype=torch.float64)) / 2).to(dtype)
    c = 2 * torch._standard_gamma(shape.expand(B, m).contiguous(), generator=gen)
    A.diagonal(dim1=-2, dim2=-1).copy_(c.sqrt())
    return g[:, :d], A


def wishart_factor(k: int, d: int, B: int, rng: np.random.Generator) -> Tensor:
    """A [B, d, m] with A Aᵀ ~ Wishart(I_d, k) (see `wishart_draw`)."""
    return wishart_draw(k, d, B, rng)[1]


def fit_points(x: Tensor) -> tuple[Tensor, Tensor]:
    """Sample mean and unbiased sample covariance of points x [..., n, d] (the post's Eq. 1)."""
    n = x.shape[-2]
    mu = x.mean(-2)
    xc = x - mu[..., None, :]
    # Σ = 1/(n − 1) Σ_i (x_i − μ)(x_i − μ)ᵀ
    return mu, xc.mT @ xc / (n - 1)
