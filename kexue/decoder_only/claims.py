"""The verdict rules of post 9529's claims and checks: pure functions of measured numbers (kexue/verdicts.py).

kexue.fm/archives/9529 (with 8338). Claims, each quoting the post (`QUOTES`):
- softmax raises the rank of QKᵀ: bidirectional linear attention has a lower rank than softmax's;
- bidirectional attention has a lower effective rank than causal attention, over a sweep of the score
  scale (random Q, K) and on the Q, K a trained bidirectional MLM computes (seeds × heads);
- the prefix-LM (UniLM) brings no advantage over decoder-only (GPT) at equal parameters;
- the encoder-decoder's edge comes only from its doubled parameters: first the premise (the
  encoder-decoder at equal FLOPs beats decoder-only), then at equal Transformer weights it is gone;
- mixed-direction attention trains an MLM at least as well as bidirectional attention.
Checks (identities, with a negative control each, `Decision.to_check`): the closed-form parameter
counts, triangular ⇒ full rank, linear attention's rank ≤ d, the mixed-direction certificate.

Bands are shares of what was learned (the gain of the reference model over its unigram floor), named
below and fixed before the runs they judge; every trained comparison also needs each model to beat
its unigram floor ("inconclusive: did not learn at this preset" otherwise).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kexue.verdicts import (LEVEL, Decision, Floor, all_of, better, close_to, floors, no_better, non_inferior,
                            paired_interval)

QUOTES: dict[str, tuple[int, str]] = {
    "softmax_rank": (9529, "在做MLM任务时，线性Attention矩阵的秩比标准Attention矩阵更低"),
    "low_rank": (9529, "这很可能是因为双向注意力的低秩问题带来的效果下降"),
    "prefix": (9529, "UniLM相比GPT并无任何优势，甚至某些任务更差"),
    "encdec": (9529, "Encoder-Decoder架构的优势很可能只是源于参数翻倍"),
    "mixed_mlm": (9529, "正反向混合的注意力在MLM任务上是比像BERT这样的全双向注意力模型效果稍微要好点的"),
}

# "no advantage": the prefix-LM's (or the equal-parameter encoder-decoder's) edge over decoder-only must be
# below this share of what decoder-only learned over the unigram floor, with confidence
NO_ADVANTAGE_SHARE = 0.02
# "at least as well": the mixed-direction MLM may lose at most this share of what the bidirectional MLM
# learned over the unigram floor (non-inferiority)
MLM_SHARE = 0.05


# --- checks: identities with a negative control ---

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


def mixed_directions(head_certificates: Sequence[bool], mixes_all: Sequence[bool]) -> Decision:
    """Every forward/backward head (or layer) full rank and the layer (or two layers) reaches every pair."""
    rule = ("every causal and anti-causal matrix is certified full rank, and the heads together (and a "
            "causal layer then an anti-causal one) connect every position to every other")
    parts = [certified_full_rank(head_certificates, "head"),
             Decision("held" if mixes_all and all(mixes_all) else "not held", rule,
                      f"{sum(mixes_all)} of {len(mixes_all)} mix the whole sequence")]
    return all_of(parts, rule)


def counts_equal(closed_form: Mapping[str, int], counted: Mapping[str, int]) -> Decision:
    """The closed-form parameter count equals the model's Σ numel for every architecture, exactly."""
    parts = [close_to(float(closed_form[a]), float(counted[a]), name=f"{a} closed form") for a in counted]
    return all_of(parts, "closed-form parameter count = Σ numel of the built model, exactly, per architecture")


# --- claims ---

def softmax_raises_rank(linear_ranks: Sequence[int], softmax_ranks: Sequence[int], ds: Sequence[int]) -> Decision:
    """"Linear attention's matrix has a lower rank than standard attention's (softmax raises the rank)":
    per (n, d, seed), the float64 rank of bidirectional linear attention is below that of bidirectional
    softmax attention on the same Q, K. Held when it is for every matrix, not held when it is for none,
    else inconclusive."""
    rule = ("float64 rank (σ > n·eps·σ_max) of bidirectional linear attention < that of softmax attention on the "
            "same Q, K: held when true for every matrix, not held when true for none, else inconclusive")
    if not linear_ranks:
        return Decision("inconclusive", rule, "no matrices measured")
    lower = [lin < soft for lin, soft in zip(linear_ranks, softmax_ranks)]
    above_d = sum(soft > d for soft, d in zip(softmax_ranks, ds))
    why = (f"lower in {sum(lower)} of {len(lower)}; softmax's rank exceeds d in {above_d} of {len(lower)} "
           f"(min softmax rank {min(softmax_ranks)}, max linear rank {max(linear_ranks)})")
    verdict = "held" if all(lower) else "not held" if not any(lower) else "inconclusive"
    return Decision(verdict, rule, why)


def lower_effective_rank(bidirectional: Sequence[float], causal: Sequence[float],
                         interval: tuple[float, float] | None = None) -> Decision:
    """"Bidirectional attention has a lower effective rank than causal": causal better (higher) than
    bidirectional (Welch's interval over seeds, or `interval` of causal − bidirectional)."""
    return better(causal, bidirectional, higher_is_better=True, interval=interval,
                  names=("causal effective rank", "bidirectional effective rank"))


def lower_effective_rank_over_scales(per_scale: Mapping[float, tuple[Sequence[float], Sequence[float]]]) -> Decision:
    """The low-rank claim over a sweep of τ in softmax(QKᵀ/(τ√d)): `per_scale` maps τ to (bidirectional,
    causal) effective ranks per seed. Held when bidirectional is lower at every τ, not held when it is
    higher (with confidence) at any τ, which names the scales where the direction flips; else
    inconclusive."""
    rule = ("per τ, causal better than bidirectional (Welch 95 % over seeds): held when bidirectional is lower "
            "at every τ of the sweep; not held when it is higher with confidence at some τ; else inconclusive")
    decisions = {tau: lower_effective_rank(bi, causal) for tau, (bi, causal) in sorted(per_scale.items())}
    if not decisions:
        return Decision("inconclusive", rule, "no scales measured")
    lower = [t for t, d in decisions.items() if d.verdict == "held"]
    higher = [t for t, d in decisions.items() if d.verdict == "not held"]
    why = (f"bidirectional lower at τ ∈ {_taus(lower)}, higher at τ ∈ {_taus(higher)}, undecided at τ ∈ "
           f"{_taus([t for t in decisions if t not in lower + higher])}")
    if lower and higher:
        cross = crossover(per_scale)
        why = "scale-dependent: " + why + (f"; the means cross at τ ≈ {cross:.2g}" if cross else "")
    if len(lower) == len(decisions):
        return Decision("held", rule, why)
    return Decision("not held" if higher else "inconclusive", rule, why)


def crossover(per_scale: Mapping[float, tuple[Sequence[float], Sequence[float]]]) -> float | None:
    """The τ where mean(bidirectional) − mean(causal) first changes sign, interpolated in log τ."""
    taus = sorted(per_scale)
    gap = [float(np.mean(per_scale[t][0]) - np.mean(per_scale[t][1])) for t in taus]
    for (t0, g0), (t1, g1) in zip(zip(taus, gap), zip(taus[1:], gap[1:])):
        if g0 * g1 < 0:
            # log τ* = log τ0 + (log τ1 − log τ0) · g0 / (g0 − g1)
            return math.exp(math.log(t0) + (math.log(t1) - math.log(t0)) * g0 / (g0 - g1))
    return None




def trained_lower_effective_rank(bidirectional: Sequence[float], causal: Sequence[float]) -> Decision:
    """The low-rank claim on a trained model's Q, K: per unit (seed × layer × head) the mean effective rank
    over held-out sentences under each mask, paired; the interval of the mean causal − bidirectional."""
    diffs = [c - b for b, c in zip(bidirectional, causal)]
    return lower_effective_rank(bidirectional, causal, interval=paired_interval(diffs))


def loss_floors(losses: Mapping[str, Sequence[float]], unigram: float) -> list[Floor]:
    """Each model's mean held-out loss must beat the unigram loss of its targets."""
    return [Floor(f"{name} held-out loss", float(np.mean(v)), unigram, higher_is_better=False)
            for name, v in losses.items()]


def _no_advantage(a: Sequence[float], decoder: Sequence[float], unigram: float, name: str,
                  share: float) -> Decision:
    """`name` no better than decoder-only by more than δ = share × (unigram − mean decoder loss)."""
    delta = share * max(unigram - float(np.mean(decoder)), 0.0)
    d = no_better(a, decoder, higher_is_better=False, tolerance=delta, names=(name, "decoder-only"))
    rule = d.rule + f" (δ = {share:g} × decoder-only's gain over the unigram floor = {delta:.4g} nats)"
    return Decision(d.verdict, rule, d.why)


def prefix_no_better(prefix: Sequence[float], decoder: Sequence[float], unigram: float,
                     share: float = NO_ADVANTAGE_SHARE) -> Decision:
    """The post's GPT vs UniLM: the prefix-LM's held-out output loss is no better than decoder-only's by
    more than `share` of decoder-only's gain over the unigram floor (they share every weight)."""
    decision = _no_advantage(prefix, decoder, unigram, "prefix-LM", share)
    return floors(loss_floors({"prefix-LM": prefix, "decoder-only": decoder}, unigram), decision)


def encdec_edge_is_parameters(decoder: Sequence[float], encdec_flops: Sequence[float],
                              encdec_params: Sequence[float], unigram: float,
                              share: float = NO_ADVANTAGE_SHARE) -> Decision:
    """"The encoder-decoder's advantage comes only from its doubled parameters". Premise: the encoder-decoder
    at equal FLOPs (≈ 2× the weights) beats decoder-only. Only then the claim: at equal Transformer weights
    (embedding excluded) it is no better than decoder-only (by more than `share` of decoder-only's gain).
    Premise absent (decoder-only better or equal with confidence): "not checkable" at this size, never held."""
    rule = ("premise: enc-dec at equal FLOPs better than decoder-only (Welch 95 %); then enc-dec at equal "
            "Transformer weights no better than decoder-only by more than δ; premise absent → not checkable "
            "at this size")
    losses = {"decoder-only": decoder, "enc-dec at equal FLOPs": encdec_flops,
              "enc-dec at equal weights": encdec_params}
    premise = better(encdec_flops, decoder, higher_is_better=False, names=("enc-dec at equal FLOPs", "decoder-only"))
    if premise.verdict == "not held":
        decision = Decision("not checkable", rule, f"premise absent at this size: {premise.why}")
    elif premise.verdict == "inconclusive":
        decision = Decision("inconclusive", rule, f"premise undecided: {premise.why}")
    else:
        edge = _no_advantage(encdec_params, decoder, unigram, "enc-dec at equal weights", share)
        decision = Decision(edge.verdict, rule + "; " + edge.rule, f"premise holds ({premise.why}); {edge.why}")
    return floors(loss_floors(losses, unigram), decision)


def mixed_no_worse(mixed: Sequence[float], bidirectional: Sequence[float], unigram: float,
                   name: str = "mixed", share: float = MLM_SHARE) -> Decision:
    """The post's MLM: mixed-direction attention trains at least as well as bidirectional, by
    non-inferiority of the held-out MLM loss with δ = `share` × the bidirectional model's gain."""
    decision = non_inferior(mixed, bidirectional, floor=unigram, share=share, higher_is_better=False,
                            names=(name, "bidirectional"))
    return floors(loss_floors({"bidirectional": bidirectional, name: mixed}, unigram), decision)


def _taus(taus: Sequence[float]) -> str:
    return "{" + ", ".join(f"{t:g}" for t in sorted(taus)) + "}" if taus else "∅"
