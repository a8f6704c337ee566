"""The verdict rules of post 9529's claims: pure functions of measured numbers (kexue/verdicts.py).

kexue.fm/archives/9529. Exact statements (full rank of triangular attention, rank ≤ d of
bidirectional linear attention) are decided by their certificates on every matrix measured; the
post's literal "softmax(QKᵀ/√d) is rank ≤ d" by the float64 rank; the "effective rank" reading and
the trained-model comparisons by intervals over seeds, and the latter only when every model beat
the unigram floor ("inconclusive: did not learn at this preset" otherwise).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from kexue.verdicts import Decision, Floor, all_of, at_most, better, floors, no_better

TOLERANCE = 0.02  # nats per output token: "no better" allows the prefix-LM an edge this small


def certified_full_rank(certificates: Sequence[bool], what: str = "matrix") -> Decision:
    """Held when every matrix is triangular with a positive diagonal (det = Π A_ii > 0), else not held."""
    rule = (f"every {what} is triangular with every entry past the diagonal exactly 0 and every A_ii > 0, "
            "so det A = Π A_ii > 0 (full rank, exactly)")
    bad = sum(not c for c in certificates)
    if not certificates:
        return Decision("inconclusive", rule, "no matrices measured")
    why = f"{len(certificates) - bad} of {len(certificates)} certified"
    return Decision("not held" if bad else "held", rule, why)


def rank_at_most_d(ranks: Sequence[int], ds: Sequence[int], name: str = "rank") -> Decision:
    """Held when every float64 rank (n·eps·σ_max tolerance) is ≤ its head size d, else not held."""
    rule = f"{name} ≤ d for every matrix (float64 rank at tolerance n·eps·σ_max)"
    if not ranks:
        return Decision("inconclusive", rule, "no matrices measured")
    worst = max(r - d for r, d in zip(ranks, ds))
    over = [(r, d) for r, d in zip(ranks, ds) if r > d]
    why = f"largest rank − d = {worst}" + (f" (e.g. rank {over[0][0]} at d = {over[0][1]})" if over else "")
    return Decision("not held" if over else "held", rule, why)


def softmax_rank_at_most_d(rank: int, d: int) -> Decision:
    """The post's literal wording, "softmax(QKᵀ/√d) inherits the rank ≤ d of QKᵀ", read in float64."""
    return at_most(float(rank), float(d), name="float64 rank of bidirectional softmax attention")


def lower_effective_rank(bidirectional: Sequence[float], causal: Sequence[float]) -> Decision:
    """"Bidirectional attention has a lower effective rank than causal": causal better (higher) than
    bidirectional over seeds (Welch's interval)."""
    return better(causal, bidirectional, higher_is_better=True,
                  names=("causal effective rank", "bidirectional effective rank"))


def mixed_directions(head_certificates: Sequence[bool], mixes_all: Sequence[bool]) -> Decision:
    """Every forward/backward head (or layer) full rank and the layer (or two layers) reaches every pair."""
    rule = ("every causal and anti-causal matrix is certified full rank, and the heads together (and a "
            "causal layer then an anti-causal one) connect every position to every other")
    parts = [certified_full_rank(head_certificates, "head"),
             Decision("held" if mixes_all and all(mixes_all) else "not held", rule,
                      f"{sum(mixes_all)} of {len(mixes_all)} mix the whole sequence")]
    return all_of(parts, rule)


def loss_floors(losses: Mapping[str, Sequence[float]], unigram: float) -> list[Floor]:
    """Each architecture's mean held-out output loss must beat the unigram loss of the outputs."""
    return [Floor(f"{name} held-out loss", float(np.mean(v)), unigram, higher_is_better=False)
            for name, v in losses.items()]


def prefix_no_better(prefix: Sequence[float], decoder: Sequence[float], unigram: float,
                     tolerance: float = TOLERANCE) -> Decision:
    """The post's GPT vs UniLM: the prefix-LM's held-out output loss is no better than decoder-only's
    by more than `tolerance` nats, at equal parameters (they share every weight)."""
    decision = no_better(prefix, decoder, higher_is_better=False, tolerance=tolerance,
                         names=("prefix-LM", "decoder-only"))
    return floors(loss_floors({"prefix-LM": prefix, "decoder-only": decoder}, unigram), decision)


def encdec_edge_shrinks(encdec_flops: Sequence[float], encdec_params: Sequence[float],
                        decoder: Sequence[float], unigram: float) -> Decision:
    """"The encoder-decoder's edge is its 2× parameters": its edge over decoder-only (decoder loss − its
    loss) is smaller at equal parameters than at equal FLOPs, i.e. loss(enc-dec at equal params) is
    higher than loss(enc-dec at equal FLOPs); the decoder-only loss cancels."""
    decision = better(encdec_flops, encdec_params, higher_is_better=False,
                      names=("enc-dec at equal FLOPs", "enc-dec at equal params"))
    checks = {"enc-dec at equal FLOPs": encdec_flops, "enc-dec at equal params": encdec_params,
              "decoder-only": decoder}
    return floors(loss_floors(checks, unigram), decision)


def mixed_no_worse(mixed: Sequence[float], bidirectional: Sequence[float], unigram: float,
                   name: str = "mixed", tolerance: float = TOLERANCE) -> Decision:
    """The post's MLM: mixed-direction attention trains at least as well as bidirectional, i.e. the
    bidirectional model's held-out MLM loss is no better than the mixed one's by more than `tolerance`."""
    decision = no_better(bidirectional, mixed, higher_is_better=False, tolerance=tolerance,
                         names=("bidirectional", name))
    return floors(loss_floors({"bidirectional": bidirectional, name: mixed}, unigram), decision)
