"""The diffusion family wired through kexue/diffusion at toy size: a loop runs, resumes exactly, and
λ maps to the guidance weight w = 1/λ − 1 (the samples' numbers mean nothing at this size)."""
from __future__ import annotations

import numpy as np
import torch

from kexue.mad.diffusion_family import DiffusionFamily, DiffusionFamilyConfig, ddpm_settings
from kexue.mad.loops import LoopConfig, run_loop


def _cfg(tmp_path):
    return DiffusionFamilyConfig(preset="smoke", steps=2, sample_steps=3, n_eval=20, cache_dir=str(tmp_path / "cache"))


def test_diffusion_loop_runs_and_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    loop = LoopConfig(loop="fresh", lams=(1.0, 0.5), generations=2, seeds=1, n_ini=40, n_r=20, n_s=20)
    seen = []
    import kexue.diffusion.ddpm as ddpm

    real_sample = ddpm.sample

    def spy(*a, **k):
        if "guidance_w" in k:  # the family's draws (training grids sample unguided)
            seen.append(k["guidance_w"])
        return real_sample(*a, **k)

    monkeypatch.setattr(ddpm, "sample", spy)
    fam = DiffusionFamily(_cfg(tmp_path), loop.lam_rows())
    whole = run_loop(fam, loop, tmp_path / "whole")
    assert set(seen) == {0.0, 1.0}  # λ = 1 → w = 0; λ = 0.5 → w = 1
    for k in ("fd", "precision", "recall", "class_entropy", "class_0"):
        assert np.isfinite(whole.history[k]).all(), k
    assert whole.history["class_0"].shape == (2, 2)
    first = run_loop(DiffusionFamily(_cfg(tmp_path), loop.lam_rows()),
                     LoopConfig(**{**loop.__dict__, "generations": 1}), tmp_path / "split")
    assert first.history["fd"].shape == (1, 2)
    resumed = run_loop(DiffusionFamily(_cfg(tmp_path), loop.lam_rows()), loop, tmp_path / "split", resume=True)
    np.testing.assert_array_equal(resumed.history["fd"], whole.history["fd"])
    assert all(torch.equal(whole.models[-1][k], resumed.models[-1][k]) for k in whole.models[-1])


def test_generation_one_is_shared_across_lambda_and_grids_are_written(tmp_path):
    loop = LoopConfig(loop="synthetic", lams=(1.0, 0.5), generations=2, seeds=2, n_ini=30, n_r=30, n_s=30)
    fam = DiffusionFamily(_cfg(tmp_path), loop.lam_rows(), seeds=2, grid_dir=tmp_path / "run")
    rng = np.random.default_rng(0)
    real = fam.real(30, rng)
    # rows are λ-major: seed s of λ = 1 (row s) and of λ = 0.5 (row 2 + s) see the same real set ...
    assert torch.equal(real["x"][0], real["x"][2]) and torch.equal(real["x"][1], real["x"][3])
    assert not torch.equal(real["x"][0], real["x"][1])
    g1 = fam.fit(real)
    same = lambda a, b: all(torch.equal(g1[f"row{a}.{k}"], g1[f"row{b}.{k}"])  # noqa: E731
                            for k in (n[len("row0."):] for n in g1 if n.startswith("row0.")))
    assert same(0, 2) and same(1, 3) and not same(0, 1)  # ... so they share one network, seeds differ
    run_loop(fam, loop, tmp_path / "run")
    from kexue.mad.diffusion_family import grid_name

    for t in (1, 2):
        for lam in (1.0, 0.5):
            assert (tmp_path / "run" / grid_name(t, lam)).stat().st_size > 0


def test_the_runs_device_and_precision_reach_the_ddpms_trainer(monkeypatch):
    """`kexue mad run --device/--precision` (RunSettings.train) are the DDPMs' train.device / train.precision;
    without them the family trains as kexue/diffusion's preset does."""
    from kexue.diffusion.train import DiffusionConfig
    from kexue.mad import diffusion_family
    from kexue.mad.run import LoopCompute, RunSettings, make_family
    compute = LoopCompute(device="cpu", precision="bf16")
    tuned = ddpm_settings(DiffusionFamilyConfig(preset="smoke", steps=7), compute)
    assert (tuned.train.device, tuned.train.precision, tuned.train.steps, tuned.cond) == ("cpu", "bf16", 7, True)
    plain, preset = ddpm_settings(DiffusionFamilyConfig(preset="smoke")), DiffusionConfig.preset("smoke", "digits")
    assert (plain.train.device, plain.train.precision) == (preset.train.device, preset.train.precision)
    built = []  # what make_family hands the family (building one fits a classifier: minutes on a busy CPU)
    monkeypatch.setattr(diffusion_family, "DiffusionFamily", lambda *a, **k: built.append(k["compute"]) or "family")
    loop = LoopConfig(loop="synthetic", lams=(1.0,), generations=1, seeds=1, n_ini=20, n_r=20, n_s=20)
    assert make_family(RunSettings("diffusion", loop, train=compute)) == "family" and built == [compute]


def test_rows_side_by_side_equal_the_loop_and_resume_exactly(tmp_path):
    """Each row's network and samples in a worker (kexue.parallel), in the rows' order: the numbers of the
    in-process loop, bit for bit, and a run stopped after generation 1 and resumed ends the same."""
    from kexue import parallel

    loop = LoopConfig(loop="synthetic", lams=(1.0, 0.5), generations=2, seeds=2, n_ini=30, n_r=30, n_s=30)
    family = lambda: DiffusionFamily(_cfg(tmp_path), loop.lam_rows(), seeds=2)  # noqa: E731
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as reproduce runs it (MADPreset.threads = 1) and as every worker does
    try:  # the metrics are computed here either way: on one thread too
        with parallel.using(1):
            here = run_loop(family(), loop, tmp_path / "one")
        with parallel.using(2):
            run_loop(family(), LoopConfig(**{**loop.__dict__, "generations": 1}), tmp_path / "two")
            side = run_loop(family(), loop, tmp_path / "two", resume=True)
    finally:
        torch.set_num_threads(before)
    assert set(side.history) == set(here.history)
    for k in here.history:
        np.testing.assert_array_equal(side.history[k], here.history[k], err_msg=k)
    assert all(torch.equal(side.models[-1][k], here.models[-1][k]) for k in here.models[-1])
    assert len(set(here.history["fd"][-1])) == 4  # four rows, four different networks at generation 2
