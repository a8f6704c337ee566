"""The long-range tasks (kexue.fm/archives/9554): labels are the task's definition, not just shapes."""
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.lru.tasks import (IGNORE, LISTOPS_VOCAB, TaskConfig, build_task, generate_tree, tree_tokens,
                             tree_value)


def _evaluate_tokens(tokens: list[str]) -> int:
    """An independent evaluator: a stack machine over the token list (prefix operators, "]" closes)."""
    stack: list = []
    for tok in tokens:
        if tok.startswith("["):
            stack.append([tok])
        elif tok == "]":
            op, *args = stack.pop()
            value = {"[MIN": min, "[MAX": max, "[MED": lambda v: int(np.median(v)),
                     "[SM": lambda v: sum(v) % 10}[op](args)
            if stack:
                stack[-1].append(value)
            else:
                return value
        else:
            if stack:
                stack[-1].append(int(tok))
            else:
                return int(tok)
    raise AssertionError("unbalanced")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_listops_label_is_the_value_of_the_expression(seed):
    tree, length = generate_tree(random.Random(seed), 1, 6, 10)
    tokens = tree_tokens(tree)
    assert len(tokens) == length  # LRA's length counts operator, arguments and "]"
    assert tree_value(tree) == _evaluate_tokens(tokens)


def test_listops_dataset_respects_the_length_window_and_vocabulary():
    train, test, spec = build_task(TaskConfig("listops", n_train=50, n_test=10, min_length=20, max_length=60,
                                              max_depth=6))
    assert ((train.length > 20) & (train.length < 60)).all()
    assert spec.vocab_size == len(LISTOPS_VOCAB) == 16 and spec.d_output == 10
    for i in range(5):
        tokens = [LISTOPS_VOCAB[t] for t in train.x[i, :train.length[i]].tolist()]
        assert _evaluate_tokens(tokens) == train.y[i].item()
        assert (train.x[i, train.length[i]:] == 0).all()  # padding after the end


def test_copy_targets_are_the_pattern_after_the_marker():
    train, _, spec = build_task(TaskConfig("copy", n_train=20, n_test=4))
    x, y = train.x, train.y
    assert x.shape[1] == 2 * 10 + 7 + 1  # minimal-LRU: pattern 10, pad 7
    assert (x[:, 17] == 1).all()  # the marker
    torch.testing.assert_close(y[:, -10:], x[:, :10])
    assert (y[:, :-10] == IGNORE).all() and spec.pooling == "none"


def test_selective_copy_answers_the_tokens_in_order():
    train, _, _ = build_task(TaskConfig("selective", n_train=20, n_test=4, length=40, pattern=5))
    for x, y in zip(train.x, train.y):
        body = x[:40]
        torch.testing.assert_close(body[body > 1], y[-5:])


def test_recall_answer_is_the_value_after_the_queried_key():
    train, _, _ = build_task(TaskConfig("recall", n_train=30, n_test=4, pairs=5))
    for x, y in zip(train.x, train.y):
        keys, values = x[:-1:2], x[1:-1:2]
        assert values[(keys == x[-1]).nonzero()[0, 0]] == y[-1]


def test_adding_target_is_the_sum_of_the_marked_values():
    train, _, spec = build_task(TaskConfig("adding", n_train=30, n_test=4, length=50))
    x = train.x
    assert (x[..., 1].sum(1) == 2).all()
    torch.testing.assert_close(train.y.squeeze(1), (x[..., 0] * x[..., 1]).sum(1))
    assert spec.kind == "regress"


@pytest.mark.parametrize("order,shape", [("pixel", (16, 1)), ("row", (4, 4)), ("permuted", (16, 1))])
def test_pixel_sequences_keep_every_pixel(order, shape):
    train, test, spec = build_task(TaskConfig("smnist", n_train=40, n_test=10, order=order, image_size=4))
    assert tuple(train.x.shape[1:]) == shape and spec.d_input == shape[1]
    pixel, _, _ = build_task(TaskConfig("smnist", n_train=40, n_test=10, order="pixel", image_size=4))
    # the same images: row order is a reshape, permuted order a fixed permutation of the pixels
    torch.testing.assert_close(train.x.reshape(40, -1).sort(1).values, pixel.x.reshape(40, -1).sort(1).values)


def test_bad_task_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="task"):
        build_task(TaskConfig("pathx"))
    with pytest.raises(ValueError, match="order"):
        build_task(TaskConfig("smnist", order="spiral"))
    with pytest.raises(ValueError, match="pairs"):
        build_task(TaskConfig("recall", pairs=100))
