"""Post 9687 (kexue.fm/archives/9687): self-consuming generative loops ("MAD"), after Alemohammad et al. 2023.

`loops` (LoopConfig, run_loop: the fully synthetic, synthetic-augmentation and fresh-data loops for
any family, with resume), `gaussian` (the Gaussian family, vectorised over λ × seeds), `exact` (the
exact moment predictions of the Gaussian loops), `wasserstein` (exact W2 between Gaussians), `gmm` (the
25-mode mixture), `diffusion_family` (a class-conditional DDPM of kexue/diffusion, λ = 1/(1 + w)),
`ess` (the fresh loop's effective-sample-size map), `run` and `plots` (one run from settings, its
figure), `claims`, `reproduce` and `cli` (`kexue mad run|ess`).

    from kexue.mad import LoopConfig, GaussianConfig, GaussianFamily, run_loop
    cfg = LoopConfig(loop="synthetic", lams=(1.0, 0.8), generations=50, seeds=100, n_ini=1000, n_s=1000)
    result = run_loop(GaussianFamily(GaussianConfig(d=100), cfg.lam_rows()), cfg)
    result.per_lam("w2", 0.8)  # [generations, seeds]: the exact W2 to N(0, I_100)
"""
from typing import TYPE_CHECKING

from kexue.lazy import exports

if TYPE_CHECKING:  # the names, for type checkers and editors
    from kexue.mad.gaussian import GaussianConfig, GaussianFamily
    from kexue.mad.loops import LoopConfig, LoopResult, run_loop

__getattr__, __dir__ = exports(__name__, {
    "GaussianConfig": "gaussian",
    "GaussianFamily": "gaussian",
    "LoopConfig": "loops",
    "LoopResult": "loops",
    "run_loop": "loops",
})

__all__ = ["GaussianConfig", "GaussianFamily", "LoopConfig", "LoopResult", "run_loop"]
