"""The verdict rules of GPLinker's claims and checks: pure functions of the measured numbers (kexue/verdicts.py).

Posts 8926 (events), 8888 (relations), 8373 / 8877 (GP, EGP). Each rule returns a Decision whose rule in
words goes on the page; tests/gplinker/test_claims.py reaches every branch with synthetic numbers, "not
held" included. The bands and floors are the named constants below, written before the runs they judge.

Claims (each quotes its post, `QUOTES`):
- `egp_as_good_as_gp`: EGP "媲美" GP on NER (8888; 8877: 95.36 vs 95.51 on People's Daily) — non-inferiority
  over seeds with the margin a share of the F1 GP learned over predicting nothing (F1 0); counts only if
  both learned (mean entity F1 above `NER_F1_FLOOR`).
- `extracts_heldout`: GPLinker extracts events / triples (8926, 8888) on generated sentences whose
  templates and names training never showed. The posts' GPLinker sits on a pretrained encoder; a held-out
  wording (出生于 vs 是…的故乡) is mapped by what that encoder knows. Without one the claim is "not
  checkable", with the measured F1 (0 included) shown; with one, held when the held-out F1 clears
  `EXTRACT_BOUND` by 2 bootstrap SEs, not held below it by as much, and the floor is what the model did
  learn (F1 on new sentences of the training templates), never the held-out F1 itself.
- `sparse_faster`: the sparse multilabel CE makes the training step faster (8888) — interleaved repeats on
  the work's own clock, the Welch interval of log(t_dense / t_sparse) above 0 (`kexue.verdicts.speedup`).
- `sparse_faster_on_3090`: 1.5× on a 3090 (8888) — a GPU claim: decided by `speedup(target=1.5)` on CUDA,
  "not checkable on CPU" elsewhere with the CPU ratio as context.
- `published_f1`: the leaderboard numbers (8926: DuEE 81.47; 8888: DuIE 0.8268) on the user's data.

Checks (identities, each with a negative control that the same rule must reject):
- `exact_round_trip`: the codec and the clique search give gold events back exactly; control: a wrong
  search (connected components) in place of the post's recursion.
- `per_type_parameters`: each added type costs GP 2Dd (+ 2d bias) and EGP 4d (+ 2 bias) parameters (8877);
  control: the two counts swapped.
- `losses_equal`: the sparse loss equals the dense one (8888's a + log(1 − e^{b−a})); control: the loss
  without the log(1 − e^{b−a}) correction (the negatives summed over A = P ∪ N instead of N).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kexue.verdicts import Decision, Floor, all_of, at_least, close_to, floors, gpu_claim, non_inferior, speedup

QUOTES: dict[str, tuple[int, str]] = {
    "egp": (8888, "Efficient GlobalPointer的设计确实能在更少参数的情况下媲美标准版GlobalPointer的效果"),
    "events": (8926, "本文介绍了将GPLinker用于事件抽取的思路，先用嵌套实体抽取的方式来抽取论元，"
                     "然后将事件的划分转化为完全子图搜索问题"),
    "relations": (8888, "本文分享了一个基于GlobalPointer的实体关系联合抽取模型——“GPLinker”"),
    "sparse_faster": (8888, "为了提高训练速度，我们需要实现一个“稀疏版”的多标签交叉熵，即每次都只传输正类所对应的的下标就好"),
    "sparse_3090": (8888, "在3090上，相比于“multi hot”版的多标签交叉熵，使用稀疏版多标签交叉熵的模型在训练速度上能提高1.5倍"
                          "而不会损失精度"),
    "duee": (8926, "笔者简单在DuEE和DuEE-fin上做了实验"),
    "duie": (8888, "在LIC2019上的实验结果如下"),
}

NER_F1_FLOOR = 0.3  # an entity F1 a model that learned something clears (predicting nothing scores 0)
EGP_SHARE = 0.1  # EGP may trail GP by at most this share of the F1 GP learned over 0 (8877's gap: 0.16 %)
EXTRACT_BOUND = 0.6  # held-out F1 that "extracts" means here
SEEN_FLOOR = 0.5  # F1 on new sentences of the training templates: the model learned the task at all
SPARSE_SPEEDUP = 1.5  # t_dense / t_sparse of the whole training step on a 3090 (8888)
LOSS_RTOL = 1e-5  # float32 agreement of the sparse and the dense loss
DUEE_F1, DUEE_BAND = 0.8147, 0.02  # 8926's DuEE leaderboard F1; how far below it our dev F1 may fall
DUIE_F1, DUIE_BAND = 0.8268, 0.01  # 8888's DuIE F1 with EGP


# --- claims ---

def egp_as_good_as_gp(gp_f1: Sequence[float], egp_f1: Sequence[float], share: float = EGP_SHARE,
                      floor: float = NER_F1_FLOOR) -> Decision:
    """EGP as good as GP in entity F1 (per-seed values): the interval of F1(EGP) − F1(GP) above
    −share · mean F1(GP) (what GP learned over an empty prediction); both must clear `floor`."""
    d = non_inferior(egp_f1, gp_f1, floor=0.0, share=share, names=("EGP", "GP"))
    return floors([Floor("GP mean entity F1", float(np.mean(gp_f1)), floor, True),
                   Floor("EGP mean entity F1", float(np.mean(egp_f1)), floor, True)], d)


def extracts_heldout(f1: float, se: float, seen_f1: float, pretrained: bool, bound: float = EXTRACT_BOUND,
                     floor: float = SEEN_FLOOR, name: str = "held-out F1") -> Decision:
    """F1 on held-out templates and names above `bound` (noise: 2 bootstrap SEs), on a pretrained encoder;
    counts only if the model learned the training templates (`seen_f1` above `floor`)."""
    if not pretrained:
        rule = (f"{name} ≥ {bound:g} is decided on a pretrained encoder only (the posts' BERT / RoBERTa): a "
                "held-out template says the relation in words that training never showed, which only an "
                "encoder's prior knowledge can map; a briefly pretrained one does not (kexue's msra-encoder, 30 "
                "CPU minutes of whole-word MLM: benchmarks/results/gplinker-pretrained-heldout.json), a web-scale "
                "one such as the posts' RoBERTa is needed")
        return Decision("not checkable", rule,
                        f"premise absent: from-scratch encoder; measured {name} = {f1:.3f} ± {se:.3f}, "
                        f"new sentences of the training templates {seen_f1:.3f}")
    d = at_least(f1, bound, noise=2 * se, name=name)
    return floors([Floor("F1 on new sentences of the training templates", seen_f1, floor, True)], d)


def sparse_faster(dense_s: Sequence[float], sparse_s: Sequence[float]) -> Decision:
    """The training step with the sparse loss faster than with the dense one: the interval of
    log(t_dense / t_sparse) over interleaved repeats above 0 (not held below 0)."""
    return speedup({"training step": (dense_s, sparse_s)}, target=1.0, what="t_dense / t_sparse")


def sparse_faster_on_3090(dense_s: Sequence[float], sparse_s: Sequence[float], device: str,
                          target: float = SPARSE_SPEEDUP) -> Decision:
    """8888's 1.5× on a 3090: the same speed-up rule at `target`, a GPU claim (not checkable on a CPU)."""
    return gpu_claim(speedup({"training step": (dense_s, sparse_s)}, target=target, what="t_dense / t_sparse"),
                     device)


def published_f1(f1: float, target: float, band: float, name: str) -> Decision:
    """The post's recipe on the user's data: our dev F1 at least the post's test F1 less `band`."""
    return at_least(f1, target - band, name=name)


# --- checks ---

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


def per_type_parameters(gp_per_type: int, egp_per_type: int, D: int, d: int) -> Decision:
    """Each added type costs GP 2Dd + 2d parameters (W_{q,α}, W_{k,α} and their biases) and EGP 4d + 2
    (w_α ∈ R^{4d} as two dense halves from p_i ∈ R^{2d}, and their two biases), exactly (8877)."""
    # GP: 2Dd + 2d;  EGP: 4d + 2
    gp, egp = 2 * D * d + 2 * d, 4 * d + 2
    parts = [close_to(gp_per_type, gp, name="GP parameters per type"),
             close_to(egp_per_type, egp, name="EGP parameters per type")]
    return all_of(parts, f"GP adds 2Dd + 2d = {gp:,} and EGP adds 4d + 2 = {egp:,} parameters per type "
                         f"(D = {D}, d = {d}), counted exactly")


def losses_equal(sparse: float, dense: float, rtol: float = LOSS_RTOL) -> Decision:
    """The sparse multilabel CE equals the dense one on the same scores and labels, to float32 precision."""
    return close_to(sparse, dense, rtol=rtol, atol=rtol, name="sparse loss")


def bootstrap_f1_se(counts: Sequence[tuple[int, int, int]], n_boot: int = 1000, seed: int = 0) -> float:
    """The standard error of micro F1 = 2X/(Y + Z) over test sentences, each (correct, predicted, gold),
    by resampling sentences."""
    c = np.asarray(counts, dtype=float).reshape(-1, 3)
    if len(c) < 2:
        return math.inf
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(c), size=(n_boot, len(c)))
    x, y, z = (c[idx, k].sum(1) for k in range(3))
    # F1 = 2X / (Y + Z) per resample
    f1 = 2 * x / np.maximum(y + z, 1e-10)
    return float(f1.std(ddof=1))
