"""The loop engine: resume ends with the numbers of an unbroken run, bad settings are one clear error,
the loops compose their data as the paper defines them."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kexue.mad.gaussian import GaussianConfig, GaussianFamily
from kexue.mad.loops import LoopConfig, run_loop


def _family(cfg: LoopConfig, d: int = 3) -> GaussianFamily:
    return GaussianFamily(GaussianConfig(d=d), cfg.lam_rows())


class _Killed(Exception):
    pass


@pytest.mark.parametrize("loop,extra", [("fresh", {"K": 2}), ("augment", {"accumulate": True}), ("synthetic", {})])
def test_a_run_killed_mid_loop_resumes_to_the_same_numbers(tmp_path, loop, extra):
    cfg = LoopConfig(loop=loop, lams=(1.0, 0.7), generations=7, seeds=4, n_ini=6, n_r=6, n_s=5, **extra)
    whole = run_loop(_family(cfg), cfg, tmp_path / "whole")

    def die(t, _):
        if t == 5:  # generation 5's metrics are written, its checkpoint (every 2) is not
            raise _Killed

    with pytest.raises(_Killed):
        run_loop(_family(cfg), cfg, tmp_path / "broken", checkpoint_every=2, on_generation=die)
    assert len((tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()) == 5 * 2
    resumed = run_loop(_family(cfg), cfg, tmp_path / "broken", resume=True, checkpoint_every=2)
    for name, h in whole.history.items():
        np.testing.assert_array_equal(resumed.history[name], h, err_msg=name)
    for a, b in zip(whole.models, resumed.models):
        assert all(torch.equal(a[k], b[k]) for k in a)
    lines = [json.loads(s) for s in (tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in lines] == [t for t in range(1, 8) for _ in range(2)]
    assert lines == [json.loads(s) for s in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    # negative control: another seed gives other numbers (the equality above is not vacuous)
    other = run_loop(_family(cfg), LoopConfig(**{**cfg.__dict__, "seed": 1}))
    assert not np.array_equal(other.history["w2"], whole.history["w2"])


def test_resume_with_other_settings_is_refused_and_more_generations_continue(tmp_path):
    cfg = LoopConfig(loop="synthetic", lams=(1.0,), generations=3, seeds=2, n_ini=5, n_s=5)
    run_loop(_family(cfg), cfg, tmp_path)
    with pytest.raises(ValueError, match="other settings"):
        run_loop(_family(cfg), LoopConfig(**{**cfg.__dict__, "n_s": 6}), tmp_path, resume=True)
    longer = LoopConfig(**{**cfg.__dict__, "generations": 5})
    cont = run_loop(_family(longer), longer, tmp_path, resume=True)
    fresh = run_loop(_family(longer), longer)
    np.testing.assert_array_equal(cont.history["tr_sigma"], fresh.history["tr_sigma"])


@pytest.mark.parametrize("changes,match", [
    ({"lams": (0.0,)}, "lam = 0"), ({"lams": (1.2,)}, r"lam = 1.2.*\(0, 1\]"),
    ({"loop": "synthetic", "n_s": 3}, "n_s = 3.*n_s ≥ 4"), ({"n_ini": 1}, "n_ini = 1"),
    ({"loop": "augment", "n_r": 7}, "n_r = 7.*n_ini"), ({"loop": "weird"}, "loop = 'weird'"),
    ({"K": 2, "loop": "synthetic"}, "K = 2"), ({"generations": 0}, "generations = 0"),
])
def test_bad_settings_are_one_error_naming_the_setting(changes, match):
    cfg = LoopConfig(**{**LoopConfig(n_ini=5, n_r=5, n_s=5, seeds=1, generations=2).__dict__, **changes})
    with pytest.raises(ValueError, match=match):
        run_loop(_family(cfg), cfg)


def test_fresh_loop_with_K_models_splits_the_synthetic_points():
    calls = []

    class Spy(GaussianFamily):
        def synth(self, model, n, rng):
            calls.append(n)
            return super().synth(model, n, rng)

    cfg = LoopConfig(loop="fresh", lams=(1.0,), generations=4, seeds=2, n_ini=5, n_r=5, n_s=7, K=3)
    run_loop(Spy(GaussianConfig(d=3), cfg.lam_rows()), cfg)
    # generation 2: one model (7); 3: two (3 + 4); 4: three (2 + 2 + 3)
    assert calls == [7, 3, 4, 2, 2, 3]


def test_a_loop_is_an_object_whose_rule_the_engine_and_the_closed_forms_follow(monkeypatch):
    """The engine asks the Loop for D_t, never the loop's name: a loop registered with its own rule (every
    generation n_s fresh real points, i.e. no self-consumption) runs, and keeps tr Σ_t at tr Σ_0 on
    average where the fully synthetic loop at λ = 0.7 shrinks it as λ^(t−1) (exact.moments, by object)."""
    from kexue.mad import exact
    from kexue.mad.loops import LOOPS, Loop, get_loop

    with pytest.raises(ValueError, match="choose one of synthetic, augment, fresh"):
        get_loop("echo")
    real_only = Loop("real", lambda family, cfg, models, real_fixed, pool, rng: (family.real(cfg.n_s, rng), pool))
    monkeypatch.setitem(LOOPS, "real", real_only)
    for name in ("real", "synthetic"):
        cfg = LoopConfig(loop=name, lams=(0.7,), generations=6, seeds=200, n_ini=20, n_r=20, n_s=20)
        fam = _family(cfg)
        tr = run_loop(fam, cfg).history["tr_sigma"][-1].mean() / fam.truth_values()["tr_sigma"]
        expected = 1.0 if name == "real" else exact.moments(LOOPS["synthetic"], 0.7, 6, 20, 20, 20)[0][-1]
        assert tr == pytest.approx(expected, rel=0.15), name
    assert expected == pytest.approx(0.7 ** 5)
