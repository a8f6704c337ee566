"""LR factors: warm-up + cosine against its closed form, Su's piecewise form against linear interpolation."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.config import from_dict, override, to_dict
from kexue.train import TrainConfig, lr_factor, piecewise_linear, warmup_cosine


def test_warmup_cosine_closed_form():
    cfg = TrainConfig(steps=110, schedule="cosine", warmup=10, min_lr_ratio=0.1)
    # t < warmup: t / warmup
    assert lr_factor(cfg, 0) == 0.0
    assert lr_factor(cfg, 5) == 0.5
    # t ≥ warmup: r + (1 − r) · ½ (1 + cos π (t − w) / (T − w))
    assert lr_factor(cfg, 10) == pytest.approx(1.0, abs=1e-15)
    assert lr_factor(cfg, 60) == pytest.approx(0.1 + 0.9 * 0.5, abs=1e-15)
    assert lr_factor(cfg, 35) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)), abs=1e-15)
    assert lr_factor(cfg, 110) == pytest.approx(0.1, abs=1e-15)
    assert lr_factor(cfg, 500) == pytest.approx(0.1, abs=1e-15)  # held at the floor after the end


@given(warmup=st.integers(0, 50), extra=st.integers(1, 200), min_ratio=st.floats(0, 1), data=st.data())
@settings(max_examples=60, deadline=None)
def test_warmup_cosine_everywhere(warmup, extra, min_ratio, data):
    total = warmup + extra
    t = data.draw(st.integers(0, total + 10))
    got = warmup_cosine(t, warmup, total, min_ratio)
    if t < warmup:
        expected = t / warmup
    else:
        p = min(1.0, (t - warmup) / extra)
        expected = min_ratio + (1 - min_ratio) * (1 + math.cos(math.pi * p)) / 2
    assert got == pytest.approx(expected, abs=1e-12)


def test_constant_with_and_without_warmup():
    assert [lr_factor(TrainConfig(), t) for t in (0, 1, 10**6)] == [1.0, 1.0, 1.0]
    cfg = TrainConfig(warmup=4)
    assert [lr_factor(cfg, t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_piecewise_su_example():
    # Keras-DDPM's {4000: 1, 20000: 0.5, 40000: 0.1}: warm-up from 0, two linear decays, then constant
    schedule = {4000: 1, 20000: 0.5, 40000: 0.1}
    assert piecewise_linear(0, schedule) == 0.0
    assert piecewise_linear(2000, schedule) == 0.5
    assert piecewise_linear(4000, schedule) == 1.0
    assert piecewise_linear(12000, schedule) == 0.75
    assert piecewise_linear(30000, schedule) == pytest.approx(0.3)
    assert piecewise_linear(10**7, schedule) == pytest.approx(0.1)


@given(points=st.dictionaries(st.integers(0, 10_000), st.floats(0, 10), min_size=1, max_size=8),
       t=st.integers(0, 12_000))
@settings(max_examples=200, deadline=None)
def test_piecewise_is_linear_interpolation(points, t):
    xs = sorted(points)
    fs = [points[x] for x in xs]
    if xs[0] != 0:  # bert4keras's from_zero: (0, 0) is prepended
        xs, fs = [0] + xs, [0.0] + fs
    # np.interp: linear between the points, constant after the last
    assert piecewise_linear(t, points) == pytest.approx(float(np.interp(t, xs, fs)), rel=1e-12, abs=1e-12)


def test_piecewise_from_the_command_line_and_json():
    cfg = override(TrainConfig(), ['schedule=piecewise', 'piecewise={"100": 1, "300": 0.1}'])
    assert cfg.piecewise == {100: 1.0, 300: 0.1}
    assert lr_factor(cfg, 50) == 0.5 and lr_factor(cfg, 200) == pytest.approx(0.55)
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg


@pytest.mark.parametrize("kwargs, field", [
    ({"schedule": "piecewise"}, "TrainConfig.schedule='piecewise'"),
    ({"schedule": "piecewise", "piecewise": {10: 1.0}, "warmup": 5}, "TrainConfig.warmup=5"),
    ({"piecewise": {"ten": 1.0}}, "TrainConfig.piecewise: step 'ten'"),
    ({"min_lr_ratio": 1.5}, "TrainConfig.min_lr_ratio=1.5"),
    ({"steps": 0}, "TrainConfig.steps=0"),
    ({"ema": 1.0}, "TrainConfig.ema=1.0"),
])
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError) as e:
        TrainConfig(**kwargs).check()
    assert field in str(e.value) and "\n" not in str(e.value)
