"""Test helper: two run folders of the Trainer hold the same run (metrics.jsonl and model.safetensors)."""
from pathlib import Path

import pytest
import torch

from kexue.train.checkpoint import read_safetensors
from kexue.train.progress import read_metrics


def assert_same_run(one: Path, two: Path, steps: list[int], *, rel: float, abs: float, w_rtol: float,
                    w_atol: float) -> tuple[list[dict], list[dict]]:
    """Same steps, same metric names, every metric (but seconds) and every weight within the bounds.

    Returns both folders' metrics records for further checks.
    """
    m1, m2 = read_metrics(one), read_metrics(two)
    assert [r["step"] for r in m1] == [r["step"] for r in m2] == steps
    for a, b in zip(m1, m2):
        assert set(a) == set(b)
        for key in a:
            if key != "seconds":
                assert a[key] == pytest.approx(b[key], rel=rel, abs=abs), (a["step"], key)
    w1, _ = read_safetensors(one / "model.safetensors")
    w2, _ = read_safetensors(two / "model.safetensors")
    assert set(w1) == set(w2)
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], rtol=w_rtol, atol=w_atol, msg=name)
    return m1, m2
