"""The verdict rules of GPLinker's claims: pure functions of the measured numbers (kexue/verdicts.py).

Posts 8926 (events), 8888 (relations), 8373 / 8877 (GP, EGP). Each rule returns a Decision whose
rule in words goes on the page; tests/gplinker/test_claims.py reaches every branch with synthetic
numbers, "not held" included, and feeds the exact-identity rule a deliberately wrong search.

- `egp_matches_gp`: EGP ≈ GP on NER (8877: 95.36 vs 95.51 on People's Daily) — over ≥ 3 seeds, held
  when the interval of F1(EGP) − F1(GP) lies inside ±tolerance, and EGP has fewer head parameters;
  counts only if both learned (mean entity F1 above `floor`).
- `exact_round_trip`: events come back exactly through the codec and the clique search (8926) —
  an identity, so no noise: every fixture sample but the documented absorbed-subset case round-trips,
  the search equals the post's recursion on every random graph, and the long document (10 events × 6
  arguments of one type) decodes at event F1 1.
- `extracts_heldout`: GPLinker extracts events / triples (8926, 8888) on generated data whose test
  sentences use templates and names never seen in training — held when F1 exceeds `bound` by more than
  twice its bootstrap standard error over test sentences, not held below it by as much; counts only if
  F1 beats the floor (a model that learned nothing scores 0). Generated data tests the pipeline, not
  the leaderboard.
- `sparse_step_faster`: the sparse loss makes the whole training step faster than the dense one (8888:
  1.5×) — per-repeat step times of the same model on the same batch, held when the interval of
  time(dense) − time(sparse) lies above 0.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kexue.verdicts import Decision, Floor, all_of, at_least, better, equivalent, floors

NER_F1_FLOOR = 0.3  # an entity F1 a model that learned something clears (predicting nothing scores 0)
EGP_TOLERANCE = 0.03  # |F1(EGP) − F1(GP)| the claim allows at CPU size (the post's gap: 0.0015)
EXTRACT_FLOOR = 0.1  # held-out F1 a model that learned anything clears
EXTRACT_BOUND = 0.6  # held-out F1 that "extracts" means here


def egp_matches_gp(gp_f1: Sequence[float], egp_f1: Sequence[float], gp_params: int, egp_params: int,
                   tolerance: float = EGP_TOLERANCE, floor: float = NER_F1_FLOOR) -> Decision:
    """EGP ≈ GP in entity F1 (per-seed values, ≥ 3 each) with fewer head parameters; both must learn."""
    same = equivalent(egp_f1, gp_f1, tolerance=tolerance, names=("EGP", "GP"))
    fewer = Decision("held" if egp_params < gp_params else "not held", "EGP has fewer head parameters than GP",
                     f"head parameters EGP {egp_params:,} vs GP {gp_params:,}")
    decision = all_of([same, fewer], same.rule + "; and EGP has fewer head parameters than GP")
    return floors([Floor("GP mean entity F1", float(np.mean(gp_f1)), floor, True),
                   Floor("EGP mean entity F1", float(np.mean(egp_f1)), floor, True)], decision)


def exact_round_trip(unrecoverable: Sequence[str], expected: Sequence[str], cliques_equal: int, graphs: int,
                     long_document_f1: float) -> Decision:
    """An identity: held only when every part is exact, else not held (no noise to hide in)."""
    rule = ("exact: the fixture round-trips except the documented absorbed-subset samples, the clique search "
            "equals the post's recursion on every random graph, and 10 same-type events of 6 arguments decode "
            "at event F1 1")
    misses = []
    if sorted(unrecoverable) != sorted(expected):
        misses.append(f"unrecoverable {sorted(unrecoverable)} ≠ expected {sorted(expected)}")
    if cliques_equal != graphs:
        misses.append(f"the search differs from the recursion on {graphs - cliques_equal}/{graphs} graphs")
    if long_document_f1 < 1.0:
        misses.append(f"long document event F1 {long_document_f1:.3f} < 1")
    if misses:
        return Decision("not held", rule, "; ".join(misses))
    return Decision("held", rule, f"{graphs}/{graphs} graphs equal, long document F1 1")


def extracts_heldout(f1: float, se: float, bound: float = EXTRACT_BOUND, floor: float = EXTRACT_FLOOR,
                     name: str = "held-out F1") -> Decision:
    """F1 on held-out templates and names above `bound` (noise: 2 bootstrap SEs); counts only above `floor`."""
    return floors([Floor(name, f1, floor, True)], at_least(f1, bound, noise=2 * se, name=name))


def sparse_step_faster(sparse_s: Sequence[float], dense_s: Sequence[float]) -> Decision:
    """The whole step with the sparse loss faster than with the dense one (per-repeat seconds, lower is better)."""
    return better(sparse_s, dense_s, higher_is_better=False, names=("sparse-loss step", "dense-loss step"))


def bootstrap_f1_se(counts: Sequence[tuple[int, int, int]], n_boot: int = 1000, seed: int = 0) -> float:
    """The standard error of micro F1 = 2X/(Y + Z) over test sentences, each (correct, predicted, gold),
    by resampling sentences."""
    c = np.asarray(counts, dtype=float).reshape(-1, 3)
    if len(c) < 2:
        return float("inf")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(c), size=(n_boot, len(c)))
    x, y, z = (c[idx, k].sum(1) for k in range(3))
    # F1 = 2X / (Y + Z) per resample
    f1 = 2 * x / np.maximum(y + z, 1e-10)
    return float(f1.std(ddof=1))
