"""Long-range tasks, all offline: generated sequences and pixel-by-pixel images.

kexue.fm/archives/9554 (the paper tests on LRA). Each `build_task(cfg)` returns (train, test, spec):
datasets of {"x", "y", "length"} examples and a `TaskSpec` telling the model its input, output and
pooling, and the loss its kind.

- listops   LRA's ListOps generator (lra_benchmarks/data/listops.py): trees of [MAX, [MIN, [MED
            (int of the median), [SM (sum mod 10) over the digits 0–9, a node an operator with 2..10
            arguments with probability 0.25 below max_depth, kept when min_length < length <
            max_length (LRA: 500 < L < 2000, depth 10). Tokenised as S4/S5/LRU's pipelines: the
            parentheses dropped, one token per operator, digit and "]". 10 classes, mean pooling.
- copy      minimal-LRU's copy task: a pattern of `pattern` symbols, `pad` blanks, a marker, then
            `pattern` blanks during which the pattern must be written out (per-token, 6 symbols).
- adding    the adding problem: L steps of (value ~ U[0, 1], marker); the target is the sum of the
            two marked values (one in each half). Regression; "accuracy" = |error| < 0.04.
- selective the selective copy of the Mamba paper: `pattern` symbols at random places among L blanks,
            a marker, then write them out in order.
- recall    associative recall: `pairs` key–value pairs, then a key; answer its value.
- smnist, sfashion   MNIST-5k / Fashion-MNIST as sequences: order "pixel" (784 × 1), "row" (28 × 28)
            or "permuted" (784 × 1, one fixed permutation); `image_size` < 28 average-pools first.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

TASKS: tuple[str, ...] = ("listops", "copy", "adding", "selective", "recall", "smnist", "sfashion")
LISTOPS_OPS = ("[MIN", "[MAX", "[MED", "[SM")
LISTOPS_VOCAB = ("<pad>",) + tuple(str(d) for d in range(10)) + LISTOPS_OPS + ("]",)
IGNORE = -100  # targets of positions without a label


@dataclass
class TaskConfig:
    task: str = "copy"
    n_train: int = 4000
    n_test: int = 500
    seed: int = 0
    length: int = 200  # adding, selective: L; recall: unused
    pattern: int = 10  # copy (minimal-LRU: 10), selective: tokens to copy
    pad: int = 7  # copy (minimal-LRU: 7)
    symbols: int = 6  # copy, selective, recall: alphabet size
    pairs: int = 8  # recall
    min_length: int = 500  # listops (LRA: 500 < L < 2000)
    max_length: int = 2000
    max_depth: int = 10
    max_args: int = 10
    order: Literal["pixel", "row", "permuted"] = "pixel"  # smnist, sfashion
    image_size: int = 28  # smnist, sfashion: average-pool the 28×28 image down to this side (L = side²)


@dataclass
class TaskSpec:
    kind: Literal["classify", "per_token", "regress"]
    d_output: int
    d_input: int = 0  # continuous inputs
    vocab_size: int = 0  # token inputs
    pooling: Literal["mean", "none"] = "mean"


class SequenceData(Dataset):
    def __init__(self, x: Tensor, y: Tensor, length: Tensor | None = None):
        self.x, self.y = x, y
        self.length = length if length is not None else torch.full((len(x),), x.shape[1], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "y": self.y[i], "length": self.length[i]}


def build_task(cfg: TaskConfig) -> tuple[SequenceData, SequenceData, TaskSpec]:
    if cfg.task not in TASKS:
        raise ValueError(f"TaskConfig.task={cfg.task!r}: choose one of {', '.join(TASKS)}")
    if cfg.task in ("smnist", "sfashion"):
        return _images(cfg)
    make = {"listops": listops, "copy": copy_task, "adding": adding, "selective": selective_copy,
            "recall": associative_recall}[cfg.task]
    g = torch.Generator().manual_seed(cfg.seed)
    train, spec = make(cfg, cfg.n_train, g)
    test, _ = make(cfg, cfg.n_test, g)
    return train, test, spec


def copy_task(cfg: TaskConfig, n: int, g: torch.Generator) -> tuple[SequenceData, TaskSpec]:
    """Tokens: 0 blank, 1 marker, 2.. symbols. x = pattern, pad blanks, marker, pattern blanks."""
    p = cfg.pattern
    pattern = torch.randint(2, 2 + cfg.symbols, (n, p), generator=g)
    x = torch.zeros(n, 2 * p + cfg.pad + 1, dtype=torch.long)
    x[:, :p] = pattern
    x[:, p + cfg.pad] = 1
    y = torch.full_like(x, IGNORE)
    y[:, -p:] = pattern
    return SequenceData(x, y), TaskSpec("per_token", 2 + cfg.symbols, vocab_size=2 + cfg.symbols, pooling="none")


def selective_copy(cfg: TaskConfig, n: int, g: torch.Generator) -> tuple[SequenceData, TaskSpec]:
    """`pattern` symbols at random places among `length` blanks, a marker, `pattern` blanks to answer in."""
    p, length = cfg.pattern, cfg.length
    if length < p:
        raise ValueError(f"TaskConfig.length={length} is shorter than pattern={p}")
    tokens = torch.randint(2, 2 + cfg.symbols, (n, p), generator=g)
    places = torch.rand(n, length, generator=g).argsort(1)[:, :p].sort(1).values
    x = torch.zeros(n, length + 1 + p, dtype=torch.long)
    x.scatter_(1, places, tokens)
    x[:, length] = 1
    y = torch.full_like(x, IGNORE)
    y[:, -p:] = tokens
    return SequenceData(x, y), TaskSpec("per_token", 2 + cfg.symbols, vocab_size=2 + cfg.symbols, pooling="none")


def associative_recall(cfg: TaskConfig, n: int, g: torch.Generator) -> tuple[SequenceData, TaskSpec]:
    """Tokens: 0 blank, keys 1..k, values k+1..k+v. x = k1 v1 k2 v2 ... k_q; the answer is v_q."""
    k = v = cfg.symbols * 2
    if cfg.pairs > k:
        raise ValueError(f"TaskConfig.pairs={cfg.pairs} exceeds the {k} distinct keys (2 × symbols)")
    keys = torch.rand(n, k, generator=g).argsort(1)[:, :cfg.pairs] + 1
    values = torch.randint(k + 1, k + v + 1, (n, cfg.pairs), generator=g)
    pick = torch.randint(0, cfg.pairs, (n,), generator=g)
    x = torch.cat([torch.stack([keys, values], 2).flatten(1), keys.gather(1, pick[:, None])], 1)
    y = torch.full_like(x, IGNORE)
    y[:, -1] = values.gather(1, pick[:, None]).squeeze(1)
    return SequenceData(x, y), TaskSpec("per_token", k + v + 1, vocab_size=k + v + 1, pooling="none")


def adding(cfg: TaskConfig, n: int, g: torch.Generator) -> tuple[SequenceData, TaskSpec]:
    length = cfg.length
    if length < 2:
        raise ValueError(f"TaskConfig.length={length}: the adding problem needs L ≥ 2")
    values = torch.rand(n, length, generator=g)
    first = torch.randint(0, length // 2, (n,), generator=g)
    second = torch.randint(length // 2, length, (n,), generator=g)
    marks = torch.zeros(n, length)
    marks[torch.arange(n), first] = 1.0
    marks[torch.arange(n), second] = 1.0
    # y = Σ_t value_t · mark_t
    y = (values * marks).sum(1, keepdim=True)
    return SequenceData(torch.stack([values, marks], -1), y), TaskSpec("regress", 1, d_input=2)


def listops(cfg: TaskConfig, n: int, g: torch.Generator) -> tuple[SequenceData, TaskSpec]:
    rng = random.Random(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    seqs, labels = [], []
    while len(seqs) < n:
        tree, length = generate_tree(rng, 1, cfg.max_depth, cfg.max_args)
        if cfg.min_length < length < cfg.max_length:
            seqs.append(tree_tokens(tree))
            labels.append(tree_value(tree))
    width = max(len(s) for s in seqs)
    index = {t: i for i, t in enumerate(LISTOPS_VOCAB)}
    x = torch.zeros(n, width, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = torch.tensor([index[t] for t in s])
    lengths = torch.tensor([len(s) for s in seqs])
    return SequenceData(x, torch.tensor(labels), lengths), TaskSpec("classify", 10, vocab_size=len(LISTOPS_VOCAB))


def generate_tree(rng: random.Random, depth: int, max_depth: int, max_args: int):
    """LRA's generator: a digit, or (operator, [subtrees]) with probability 0.25 below max_depth;
    the length counts the operator, its arguments' tokens and the closing "]"."""
    if depth < max_depth and rng.random() < 0.25:
        args = [generate_tree(rng, depth + 1, max_depth, max_args) for _ in range(rng.randint(2, max_args))]
        return (rng.choice(LISTOPS_OPS), [a for a, _ in args]), 2 + sum(length for _, length in args)
    return rng.randint(0, 9), 1


def tree_tokens(tree) -> list[str]:
    if isinstance(tree, int):
        return [str(tree)]
    op, args = tree
    return [op] + [t for a in args for t in tree_tokens(a)] + ["]"]


def tree_value(tree) -> int:
    if isinstance(tree, int):
        return tree
    op, args = tree
    values = [tree_value(a) for a in args]
    if op == "[MIN":
        return min(values)
    if op == "[MAX":
        return max(values)
    if op == "[MED":
        return int(np.median(values))
    return sum(values) % 10


def _images(cfg: TaskConfig) -> tuple[SequenceData, SequenceData, TaskSpec]:
    from kexue.data import load_fashion_mnist, load_mnist5k

    if cfg.order not in ("pixel", "row", "permuted"):
        raise ValueError(f"TaskConfig.order={cfg.order!r}: choose pixel, row or permuted")
    g = torch.Generator().manual_seed(cfg.seed)
    if cfg.task == "smnist":  # 5000 images: a seeded split, n_test held out
        x, y = load_mnist5k()
        perm = torch.randperm(len(x), generator=g)
        test_idx, train_idx = perm[:cfg.n_test], perm[cfg.n_test:][:cfg.n_train]
        x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    else:
        x_train, y_train = load_fashion_mnist("train")
        x_test, y_test = load_fashion_mnist("test")
        pick = torch.randperm(len(x_train), generator=g)[:cfg.n_train]
        x_train, y_train = x_train[pick], y_train[pick]
        x_test, y_test = x_test[:cfg.n_test], y_test[:cfg.n_test]
    side = cfg.image_size
    if not 1 <= side <= 28:
        raise ValueError(f"TaskConfig.image_size={side}: must lie in 1..28")
    permutation = torch.randperm(side * side, generator=torch.Generator().manual_seed(1234))

    def as_sequence(images: Tensor) -> Tensor:
        if side != 28:
            images = torch.nn.functional.adaptive_avg_pool2d(images, side)
        if cfg.order == "row":
            return images.reshape(-1, side, side)
        flat = images.reshape(-1, side * side, 1)
        return flat[:, permutation] if cfg.order == "permuted" else flat

    d_input = side if cfg.order == "row" else 1
    return (SequenceData(as_sequence(x_train), y_train), SequenceData(as_sequence(x_test), y_test),
            TaskSpec("classify", 10, d_input=d_input))
