"""Multilabel "softmax + cross-entropy": dense, sparse and soft-label forms, and the GlobalPointer loss.

kexue.fm/archives/7359 (the loss), 8888 (the sparse form), 9064 (the soft-label form). For scores s
over classes with positive set Ω_pos and negative set Ω_neg, and the threshold class s_0 fixed at 0:

    L = log(1 + Σ_{i∈Ω_neg} e^{s_i}) + log(1 + Σ_{j∈Ω_pos} e^{−s_j})

A class is predicted iff s_i > 0. Every function reduces the last axis to one loss per row and then
applies `reduction` ("none" | "mean" | "sum", default "mean" as in torch.nn); the GlobalPointer loss
sums over heads and averages over the batch, as bert4keras/GPLinker do. Half-precision logits are
computed in float32. A cell whose logit is −inf (a masked cell) drops out of the sums when it is a
negative; labelled positive, it makes the loss +inf (the label can never be met), in every form.

Where we depart from the posts, and why:
- Dense (7359): the post masks with ±1e12; we select with −inf through `masked_fill`, so −inf logits
  are exact and no 0·inf NaN can arise. The value is the same.
- Sparse (8888): the post computes log(1 + Σ_N e^S) = a + log(1 − e^{b−a}) and clips 1 − e^{b−a} to
  [ε, 1], ε = 1e-7 (bert4keras). We keep the identity and the clip, with ε = min(1e-7, the dtype's
  machine epsilon): the post's 1e-7 in float32, 2.2e-16 in float64 so that float64 keeps its
  precision. We add: (1) repeated indices count once, so P is a set as in the dense form (bert4keras
  counts them twice, which can make 1 − e^{b−a} < 0 and the loss negative: bert4keras #436/#500);
  (2) the negative term is floored at 0, its true lower bound, so rounding never gives a negative
  loss; (3) padding is dropped with a boolean mask rather than written into the logits as ±inf, so a
  row with no positives has finite gradients by construction.
  Precision: the identity subtracts Σ_P from Σ_A, so in float32 the negative term loses accuracy once
  Σ_P ≫ 1 + Σ_N (relative error ≈ 6e-8·Σ_P/(1 + Σ_N): about 1e-5 at a top positive logit of 5 over
  negatives near −∞, 1e-3 at 10), and once log Σ_P − log(1 + Σ_N) ≳ 16 the clip holds and the term
  reads a + log ε instead of its true value. This is the post's behaviour, kept on purpose; use the
  dense form or float64 where you need exact values at such margins.
- Sparse with mask_zero: class 0 is excluded from both P and N (bert4keras does the same), so the
  dense equivalent is the same scores with s_0 = −inf.
- Soft (9064): the post clips t to [ε, 1 − ε] and then masks t < ε and t > 1 − ε by hand; we compute
  log(1 + Σ e^{log t_i − s_i}) in log space and drop exactly the terms with t_i = 0 (resp. 1 − t_i = 0),
  so no clip is needed and t ∈ (0, ε) is not rounded up.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

_REDUCTIONS = ("none", "mean", "sum")


def multilabel_categorical_crossentropy(y_pred: Tensor, y_true: Tensor, *, reduction: str = "mean") -> Tensor:
    """Post 7359's loss from scores y_pred [..., C] and 0/1 labels y_true [..., C] (bool, int or float)."""
    _check_reduction(reduction)
    s = _scores(y_pred, "y_pred")
    if y_true.shape != s.shape:
        raise ValueError(f"y_true has shape {tuple(y_true.shape)} but y_pred has {tuple(s.shape)}; they must match")
    is_pos = _hard_labels(y_true)
    zero = s.new_zeros(s.shape[:-1] + (1,))
    # log(1 + Σ_{i∈Ω_neg} e^{s_i}),  the 1 being e^{s_0} with s_0 = 0
    loss_neg = torch.logsumexp(torch.cat([s.masked_fill(is_pos, -torch.inf), zero], dim=-1), dim=-1)
    # log(1 + Σ_{j∈Ω_pos} e^{−s_j})
    loss_pos = torch.logsumexp(torch.cat([(-s).masked_fill(~is_pos, -torch.inf), zero], dim=-1), dim=-1)
    return _reduce(loss_neg + loss_pos, reduction)


def sparse_multilabel_categorical_crossentropy(
    y_pred: Tensor,
    y_true_idx: Tensor,
    mask_zero: bool = False,
    *,
    reduction: str = "mean",
    epsilon: float | None = None,
) -> Tensor:
    """Post 8888's sparse form: scores S = y_pred [..., C], positive class indices y_true_idx [..., P].

    With mask_zero, index 0 is padding: class 0 is neither positive nor negative (rows may then hold
    no positive at all). Repeated indices count once. `epsilon` is the clip on 1 − e^{b−a}; None
    takes min(1e-7, machine epsilon of the scores' dtype): the post's 1e-7, or 2.2e-16 in float64.
    """
    _check_reduction(reduction)
    S = _scores(y_pred, "y_pred")
    idx = _class_indices(y_true_idx, S)
    if epsilon is None:
        epsilon = min(1e-7, torch.finfo(S.dtype).eps)
    # P as a set: sort the indices, keep the first of each run of equal ones, drop padding
    idx, _ = idx.sort(dim=-1)
    in_P = torch.ones_like(idx, dtype=torch.bool)
    in_P[..., 1:] = idx[..., 1:] != idx[..., :-1]
    if mask_zero:
        in_P &= idx != 0
    S_P = S.gather(-1, idx)
    zero = S.new_zeros(S.shape[:-1] + (1,))
    # log(1 + Σ_{i∈P} e^{−S_i})
    loss_pos = torch.logsumexp(torch.cat([(-S_P).masked_fill(~in_P, -torch.inf), zero], dim=-1), dim=-1)
    # a = log(1 + Σ_{i∈A} e^{S_i}),  A = P ∪ N = every class (but class 0 under mask_zero)
    S_A = S[..., 1:] if mask_zero else S
    a = torch.logsumexp(torch.cat([S_A, zero], dim=-1), dim=-1)
    # b = log Σ_{i∈P} e^{S_i}  (−inf for a row with no positives)
    b = torch.logsumexp(S_P.masked_fill(~in_P, -torch.inf), dim=-1)
    # log(1 + Σ_{i∈N} e^{S_i}) = a + log(1 − e^{b−a}),  1 − e^{b−a} = −expm1(b − a) clipped below at ε
    loss_neg = a + torch.log(torch.clamp(-torch.expm1(b - a), min=epsilon))
    # log(1 + Σ_N e^{S}) ≥ 0: floor what rounding pushes below it
    loss_neg = loss_neg.clamp(min=0.0)
    return _reduce(loss_neg + loss_pos, reduction)


def soft_multilabel_categorical_crossentropy(y_pred: Tensor, y_true_soft: Tensor, *, reduction: str = "mean") -> Tensor:
    """Post 9064's soft-label form from scores s = y_pred [..., C] and labels t = y_true_soft ∈ [0, 1].

    Its minimum over s is at t_i = σ(2 s_i): read σ(2 s), not σ(s), as the predicted probability.
    """
    _check_reduction(reduction)
    s = _scores(y_pred, "y_pred")
    if y_true_soft.shape != s.shape:
        raise ValueError(
            f"y_true_soft has shape {tuple(y_true_soft.shape)} but y_pred has {tuple(s.shape)}; they must match"
        )
    t = y_true_soft.to(s.dtype)
    if t.numel() and (t.min() < 0 or t.max() > 1):
        lo, hi = t.min().item(), t.max().item()
        raise ValueError(f"y_true_soft holds values in [{lo:g}, {hi:g}]; soft labels must lie in [0, 1]")
    has_pos, has_neg = t > 0, t < 1
    # log t_i and log(1 − t_i), evaluated only where they are finite (the other branch is dropped)
    log_t = torch.log(torch.where(has_pos, t, 1.0))
    log_1mt = torch.log1p(-torch.where(has_neg, t, 0.0))
    zero = s.new_zeros(s.shape[:-1] + (1,))
    # log(1 + Σ_i t_i e^{−s_i}) = log(1 + Σ_i e^{−s_i + log t_i})
    loss_pos = torch.logsumexp(torch.cat([torch.where(has_pos, log_t - s, -torch.inf), zero], dim=-1), dim=-1)
    # log(1 + Σ_i (1 − t_i) e^{s_i}) = log(1 + Σ_i e^{s_i + log(1 − t_i)})
    loss_neg = torch.logsumexp(torch.cat([torch.where(has_neg, log_1mt + s, -torch.inf), zero], dim=-1), dim=-1)
    return _reduce(loss_pos + loss_neg, reduction)


def global_pointer_crossentropy(logits: Tensor, labels: Tensor, sparse: bool = True) -> Tensor:
    """The GlobalPointer/GPLinker loss: logits [b, heads, n, n], cells (i, j) flattened to i·n + j.

    sparse=True: labels [b, heads, P, 2] hold (i, j) pairs padded with (0, 0); as in GPLinker the
    cell (0, 0) ([CLS], [CLS]) is then left out of the loss (mask_zero). sparse=False: labels are
    0/1 [b, heads, n, n] and (0, 0) counts as an ordinary cell. Returns Σ over heads, mean over batch
    (post 8373's NER example averages over b·heads instead: divide by heads to get it).
    """
    if logits.dim() != 4 or logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"logits has shape {tuple(logits.shape)}; GlobalPointer logits are [b, heads, n, n]")
    batch, heads, n, _ = logits.shape
    s = logits.reshape(batch, heads, n * n)
    if sparse:
        if labels.dim() != 4 or labels.shape[:2] != logits.shape[:2] or labels.shape[-1] != 2:
            raise ValueError(
                f"labels has shape {tuple(labels.shape)}; sparse GlobalPointer labels are [b, heads, P, 2] "
                f"(i, j) pairs with b, heads = {batch}, {heads} (pass sparse=False for 0/1 [b, heads, n, n] labels)"
            )
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise ValueError(f"labels has dtype {labels.dtype}; (i, j) pairs must be integer (torch.long)")
        if labels.numel() and (labels.min() < 0 or labels.max() >= n):
            raise ValueError(f"labels holds a position outside [0, {n}); (i, j) pairs index the {n} tokens of logits")
        # (i, j) ↦ i·n + j
        idx = labels[..., 0].long() * n + labels[..., 1].long()
        loss = sparse_multilabel_categorical_crossentropy(s, idx, mask_zero=True, reduction="none")
    else:
        if labels.shape != logits.shape:
            raise ValueError(
                f"labels has shape {tuple(labels.shape)} but logits has {tuple(logits.shape)}; dense labels "
                "must match (pass sparse=True for [b, heads, P, 2] (i, j) pairs)"
            )
        loss = multilabel_categorical_crossentropy(s, labels.reshape(batch, heads, n * n), reduction="none")
    # Σ over heads, mean over batch
    return loss.sum(dim=1).mean()


class MultilabelCategoricalCrossentropy(nn.Module):
    """Module form: dense 0/1 labels [..., C], or with sparse=True positive indices [..., P]."""

    def __init__(self, sparse: bool = False, mask_zero: bool = False, reduction: str = "mean"):
        super().__init__()
        if mask_zero and not sparse:
            raise ValueError("mask_zero applies to sparse labels only; pass sparse=True or drop mask_zero")
        _check_reduction(reduction)
        self.sparse = sparse          # labels as positive indices (post 8888) rather than 0/1
        self.mask_zero = mask_zero    # index 0 is padding (sparse only)
        self.reduction = reduction    # "none" | "mean" | "sum" over rows

    def forward(self, y_pred: Tensor, y_true: Tensor) -> Tensor:
        if self.sparse:
            return sparse_multilabel_categorical_crossentropy(
                y_pred, y_true, self.mask_zero, reduction=self.reduction
            )
        return multilabel_categorical_crossentropy(y_pred, y_true, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"sparse={self.sparse}, mask_zero={self.mask_zero}, reduction={self.reduction!r}"


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction is {reduction!r}; use one of {', '.join(map(repr, _REDUCTIONS))}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _scores(y_pred: Tensor, name: str) -> Tensor:
    """Real-valued logits with a class axis; float16/bfloat16 are promoted to float32."""
    if not y_pred.is_floating_point():
        raise ValueError(f"{name} has dtype {y_pred.dtype}; scores must be floating point (raw logits, no sigmoid)")
    if y_pred.dim() == 0:
        raise ValueError(f"{name} is a scalar; scores need a last axis of classes [..., C]")
    if y_pred.dtype in (torch.float16, torch.bfloat16):
        return y_pred.float()
    return y_pred


def _hard_labels(y_true: Tensor) -> Tensor:
    """0/1 labels as a boolean mask of Ω_pos."""
    if y_true.dtype == torch.bool:
        return y_true
    if y_true.numel() and ((y_true != 0) & (y_true != 1)).any():
        raise ValueError(
            "y_true holds values other than 0 and 1; use soft_multilabel_categorical_crossentropy for soft labels"
        )
    return y_true != 0


def _class_indices(y_true_idx: Tensor, S: Tensor) -> Tensor:
    """Checks that y_true_idx [..., P] indexes the classes of S [..., C]; returns it as torch.long."""
    if y_true_idx.is_floating_point() or y_true_idx.dtype == torch.bool:
        raise ValueError(f"y_true_idx has dtype {y_true_idx.dtype}; class indices must be integer (torch.long)")
    if y_true_idx.dim() != S.dim() or y_true_idx.shape[:-1] != S.shape[:-1]:
        raise ValueError(
            f"y_true_idx has shape {tuple(y_true_idx.shape)} but y_pred has {tuple(S.shape)}; "
            "they must agree on every axis but the last ([..., P] indices for [..., C] scores)"
        )
    C = S.shape[-1]
    if y_true_idx.numel() and (y_true_idx.min() < 0 or y_true_idx.max() >= C):
        bad = y_true_idx[(y_true_idx < 0) | (y_true_idx >= C)][0].item()
        raise ValueError(f"y_true_idx holds class index {bad}, outside [0, {C}) of y_pred's last axis")
    return y_true_idx.long()
