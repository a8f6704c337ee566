"""Post 9687 (kexue.fm/archives/9687): self-consuming generative loops ("MAD"), after Alemohammad et al. 2023.

`loops` (LoopConfig, run_loop: the fully synthetic, synthetic-augmentation and fresh-data loops for
any family), `gaussian` (the Gaussian family, vectorised over loops), `exact` (the exact moment
predictions of the Gaussian loops), `wasserstein` (exact W2 between Gaussians), `gmm` (the 25-mode
mixture family), `claims`, `reproduce` and `cli` (`kexue mad run|ess`).
"""
