"""`kexue mad run|ess` end to end, and `kexue reproduce mad --preset smoke`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from kexue.cli import app
from kexue.result import load_results

runner = CliRunner()


def test_run_writes_metrics_plot_and_resumes(tmp_path):
    args = ["mad", "run", "--family", "gaussian", "--loop", "fresh", "--lam", "1,0.8", "--generations", "3",
            "--seeds", "2", "--n-ini", "8", "--n-r", "6", "--n-s", "6", "--set", "gaussian.d=3", "--out", str(tmp_path)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "generation 3/3" in r.output
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(x["generation"], x["lam"]) for x in lines] == [(t, la) for t in (1, 2, 3) for la in (1.0, 0.8)]
    assert len(lines[0]["w2"]) == 2 and (tmp_path / "curves.png").stat().st_size > 0
    r = runner.invoke(app, args[:-2] + ["--generations", "4", "--out", str(tmp_path), "--resume"])
    assert r.exit_code == 0, r.output
    assert "generation 4/4" in r.output and "generation 2/4" not in r.output


def test_bad_settings_exit_2_with_one_line(tmp_path):
    for extra, words in ((["--lam", "1,0"], "lam = 0"), (["--loop", "synthetic", "--n-s", "5"], "n_s = 5"),
                         (["--lam", "x"], "--lam 'x'"), (["--family", "flow"], "family = 'flow'")):
        r = runner.invoke(app, ["mad", "run", "--out", str(tmp_path), *extra])
        assert r.exit_code == 2, (extra, r.output)
        assert words in r.output and "Traceback" not in r.output


def test_reproduce_smoke_puts_mad_on_the_page(tmp_path):
    r = runner.invoke(app, ["reproduce", "mad", "--preset", "smoke", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    _, results = load_results(tmp_path / "results.json")
    (mad,) = results
    assert mad.post == 9687 and len(mad.claims) == 10 and len(mad.checks) == 3
    assert all(c.rule and c.quote and c.source == 9687 for c in mad.claims)
    assert all(c.control.startswith("control") for c in mad.checks)
    # one meaning of ± on the page: a standard deviation over seeds, labelled; a standard error is "SE"
    for text in [c.measured for c in mad.claims] + [c.measured for c in mad.checks]:
        assert "±" not in text or "s.d." in text, text
    assert all(c.needs for c in mad.claims if c.verdict in ("inconclusive", "not checkable"))
    for f in mad.figures:
        assert (tmp_path / f).is_file(), f
    _, (saved,) = load_results(tmp_path / "mad" / "result.json")  # the numbers, saved before the figures
    assert [(c.claim, c.measured) for c in saved.claims] == [(c.claim, c.measured) for c in mad.claims]


def test_print_config_lists_every_setting_with_its_type_and_exits():
    r = runner.invoke(app, ["mad", "run", "--family", "gmm", "--set", "gmm.n_eval=300", "--print-config"])
    assert r.exit_code == 0, r.output
    assert 'family = "gmm"' in r.output and "gmm.n_eval = 300" in r.output and "# int" in r.output
    assert "loop.lams = [1.0, 0.8]" in r.output and "checkpoint_every = 1" in r.output
    r = runner.invoke(app, ["mad", "ess", "--seeds", "3", "--set", "reference_seeds=7", "--print-config"])
    assert r.exit_code == 0, r.output
    assert "seeds = 3" in r.output and "reference_seeds = 7" in r.output


def test_config_file_of_a_run_reproduces_it_and_set_goes_on_top(tmp_path):
    args = ["mad", "run", "--family", "gaussian", "--loop", "augment", "--lam", "0.9", "--generations", "2",
            "--seeds", "2", "--n-ini", "8", "--n-s", "6", "--set", "gaussian.d=3"]
    assert runner.invoke(app, args + ["--out", str(tmp_path / "a")]).exit_code == 0
    # the run's own config.json: the same settings, so the same numbers; --set and given options on top
    r = runner.invoke(app, ["mad", "run", "--config", str(tmp_path / "a" / "config.json"), "--print-config",
                            "--seeds", "5", "--set", "gaussian.d=4"])
    assert r.exit_code == 0, r.output
    for line in ('loop.loop = "augment"', "loop.lams = [0.9]", "loop.n_r = 8", "loop.seeds = 5", "gaussian.d = 4"):
        assert line in r.output, line
    assert runner.invoke(app, ["mad", "run", "--config", str(tmp_path / "a" / "config.json"),
                               "--out", str(tmp_path / "b")]).exit_code == 0
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == (tmp_path / "b" / "metrics.jsonl").read_text()
    toml = tmp_path / "s.toml"
    toml.write_text('family = "gaussian"\n[loop]\nloop = "synthetic"\nlams = [1.0]\nn_ini = 9\nn_s = 9\n'
                    'generations = 2\nseeds = 2\n[gaussian]\nd = 2\n')
    r = runner.invoke(app, ["mad", "run", "--config", str(toml), "--print-config"])
    assert r.exit_code == 0 and "loop.n_s = 9" in r.output and "gaussian.d = 2" in r.output, r.output
    toml.write_text("[loop]\nseedz = 2\n")
    r = runner.invoke(app, ["mad", "run", "--config", str(toml)])
    assert r.exit_code == 2 and "seedz" in r.output


def test_sigint_at_a_random_generation_then_resume_is_bit_identical(tmp_path):
    """A real `kexue mad run` subprocess, stopped by SIGINT once a randomly chosen generation has printed."""
    import os
    import random
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    base = [sys.executable, "-m", "kexue.cli", "mad", "run", "--family", "gaussian", "--loop", "fresh", "--lam",
            "1,0.8", "--generations", "400", "--seeds", "3", "--n-ini", "5", "--n-r", "6", "--n-s", "6",
            "--set", "gaussian.d=3", "--set", "gaussian.w2_at=log"]
    stop_after = random.Random().randint(2, 30)
    p = subprocess.Popen(base + ["--out", str(tmp_path / "cut")], env=env, cwd=root, stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, text=True)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if line.startswith(f"generation {stop_after}/"):
            p.send_signal(signal.SIGINT)
            break
    err = "".join(seen) + p.stderr.read()
    assert p.wait(timeout=120) == 130, err
    cut = [x for x in err.splitlines() if x.startswith("interrupted at generation")]
    assert cut and "continue with --resume" in cut[0], err
    t = int(cut[0].split()[3].rstrip(";"))
    assert stop_after <= t < 400
    done = [json.loads(s)["generation"] for s in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert max(done) == t  # the generation in progress finished, nothing past it
    r = subprocess.run(base + ["--out", str(tmp_path / "cut"), "--resume"], env=env, cwd=root, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(base + ["--out", str(tmp_path / "whole")], env=env, cwd=root, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == (tmp_path / "whole" / "metrics.jsonl").read_text()


def test_run_takes_the_shared_device_precision_and_log(tmp_path):
    """--device, --precision and --log as on every training command: kept in config.json's train section;
    the logger gets each generation's median per λ; a closed-form family refuses a GPU or a lower precision."""
    from tests.train.test_tensorboard import scalars  # the `test` extra's tensorboard, read as TensorBoard does
    args = ["mad", "run", "--family", "gaussian", "--loop", "synthetic", "--lam", "1,0.8", "--seeds", "3",
            "--n-ini", "8", "--n-s", "8", "--set", "gaussian.d=3"]
    r = runner.invoke(app, [*args, "--generations", "2", "--device", "cpu", "--log", "tensorboard",
                            "--out", str(tmp_path / "tb")])
    assert r.exit_code == 0, r.output
    run = json.loads((tmp_path / "tb" / "config.json").read_text())["run"]
    assert run["train"] == {"device": "cpu", "precision": "fp32", "log": "tensorboard"}
    board = scalars(tmp_path / "tb")
    lines = [json.loads(s) for s in (tmp_path / "tb" / "metrics.jsonl").read_text().splitlines()]
    for x in lines:
        for name in ("w2", "tr_sigma"):
            assert board[f"{name}/lam={x['lam']:g}"][x["generation"]] == pytest.approx(np.median(x[name]), rel=1e-6)
    # as a Trainer's run, a resume may change where it runs and its logger (here back to auto and jsonl)
    r = runner.invoke(app, [*args, "--generations", "3", "--resume", "--out", str(tmp_path / "tb")])
    assert r.exit_code == 0 and "generation 3/3" in r.output, r.output
    for flag, value in (("--precision", "bf16"), ("--device", "cuda")):
        r = runner.invoke(app, [*args, flag, value, "--out", str(tmp_path / flag)])
        assert r.exit_code == 2, r.output
        assert f"{flag} (train.device" in r.stderr and "closed form" in r.stderr and "Traceback" not in r.output


def test_page_loops_side_by_side_equal_the_loop(tmp_path):
    """The Gaussian and mixture loops and the ESS map of the page in workers (kexue.parallel): each run's
    numbers are the in-process loop's, bit for bit, under its own name."""
    from dataclasses import replace

    import numpy as np

    from kexue import parallel
    from kexue.mad import measure
    from kexue.mad.presets import preset

    import torch

    cfg = replace(preset("smoke"), ess=True)
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)  # as reproduce runs them (threads = 1) and as every worker does
    try:  # the main process computes nothing here with two workers, but keep it as reproduce has it
        with parallel.using(1):
            here = measure.page_loops(cfg, tmp_path / "one")
        with parallel.using(2):
            side = measure.page_loops(cfg, tmp_path / "two")
    finally:
        torch.set_num_threads(before)
    assert list(side) == list(here) and "ess" in here and "gmm" in here
    assert side["ess"][0] == here["ess"][0]
    for name in set(here) - {"ess"}:
        (a, info_a), (b, info_b) = here[name], side[name]
        assert a.cfg == b.cfg and info_a["floor"] == info_b["floor"], name
        for k in a.history:
            np.testing.assert_array_equal(b.history[k], a.history[k], err_msg=f"{name} {k}")
    assert not np.array_equal(here["synthetic"][0].history["w2"], here["augment"][0].history["w2"], equal_nan=True)
