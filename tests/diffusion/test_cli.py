"""`kexue diffusion train|sample|interpolate|evaluate` end to end at toy size, and reproduce smoke."""
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kexue.data import load_digits
from kexue.diffusion.cli import app
from kexue.diffusion.images import read_image, save_grid, to_uint8
from kexue.diffusion.reproduce import preset, reproduce
from kexue.result import load_results

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "smoke"
    r = runner.invoke(app, ["train", "--data", "digits", "--preset", "smoke", "--out", str(out),
                            "--set", "train.steps=4"])
    assert r.exit_code == 0, r.output
    return out


def test_train_writes_a_run_directory(run_dir):
    for f in ("model.safetensors", "ema.safetensors", "config.json", "metrics.jsonl",
              "samples/step-000004-ema.png", "samples/step-000004-raw.png"):
        assert (run_dir / f).is_file(), f
    cfg = json.loads((run_dir / "config.json").read_text())["run"]
    assert cfg["unet_su"]["image_size"] == 8 and cfg["unet_su"]["in_channels"] == 1 and cfg["T"] == 50


def test_resume_continues_the_run(run_dir, tmp_path):
    r = runner.invoke(app, ["train", "--preset", "smoke", "--out", str(run_dir), "--resume",
                            "--set", "train.steps=6"])
    assert r.exit_code == 0, r.output
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 6 and (run_dir / "samples/step-000006-ema.png").is_file()


def test_sample_from_the_checkpoint_alone(run_dir, tmp_path):
    out = tmp_path / "s.png"
    r = runner.invoke(app, ["sample", "--checkpoint", str(run_dir), "--n", "6", "--sigma", "posterior",
                            "--steps", "5", "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "EMA weights" in r.output
    x = np.load(out.with_suffix(".npy"))
    assert x.shape == (6, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert Image.open(out).size[0] > 8
    r = runner.invoke(app, ["sample", "--checkpoint", str(run_dir), "--n", "2", "--steps", "3", "--ddim",
                            "--sigma", "zero", "--raw", "--out", str(tmp_path / "d.png"), "--device", "cpu"])
    assert r.exit_code == 0 and "raw weights" in r.output


def test_sample_errors_are_one_line(tmp_path):
    r = runner.invoke(app, ["sample", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "config.json" in r.stderr and "Traceback" not in r.output


def test_interpolate_two_image_files(run_dir, tmp_path):
    x, _ = load_digits()
    for name, img in (("a.png", x[0]), ("b.png", x[1])):
        Image.fromarray(to_uint8(img)[..., 0]).save(tmp_path / name)
    assert read_image(tmp_path / "a.png", 8, 1).sub(x[0]).abs().max() < 1 / 127  # uint8 round trip
    out = tmp_path / "i.png"
    r = runner.invoke(app, ["interpolate", "--checkpoint", str(run_dir), "--a", str(tmp_path / "a.png"),
                            "--b", str(tmp_path / "b.png"), "--t0", "20", "--k", "4", "--out", str(out),
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert np.load(out.with_suffix(".npy")).shape == (4, 1, 8, 8)


def test_sample_never_writes_over_an_earlier_result(run_dir, tmp_path):
    """`diffusion sample` wrote ./samples.png over the last one; now it refuses, and --overwrite replaces."""
    out = tmp_path / "s.png"
    base = ["sample", "--checkpoint", str(run_dir), "--n", "2", "--steps", "2", "--out", str(out), "--device", "cpu"]
    assert runner.invoke(app, base).exit_code == 0
    before = out.read_bytes()
    r = runner.invoke(app, [*base, "--seed", "1"])
    assert r.exit_code == 2 and "--overwrite" in r.stderr and out.read_bytes() == before
    assert runner.invoke(app, [*base, "--seed", "1", "--overwrite"]).exit_code == 0
    assert out.read_bytes() != before


def test_a_negative_n_is_one_line(run_dir, tmp_path):
    r = runner.invoke(app, ["sample", "--checkpoint", str(run_dir), "--n", "-3", "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "--n -3" in r.stderr and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_interpolate_says_what_reading_an_rgb_image_changed(run_dir, tmp_path):
    """A 40×30 RGB photo on an 8×8 grey model was shrunk to 8×8 grey in silence; now the change is said."""
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb[:8, :8, 0]).save(tmp_path / "b.png")  # already the model's size and grey: no note
    r = runner.invoke(app, ["interpolate", "--checkpoint", str(run_dir), "--a", str(tmp_path / "a.png"),
                            "--b", str(tmp_path / "b.png"), "--t0", "5", "--k", "2", "--out", str(tmp_path / "i.png"),
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    said = " ".join(r.stderr.split())
    assert "a 40×30 RGB image, centre-cropped to 30×30, resized to 8×8, turned from RGB to grey" in said
    assert "b.png" not in said


def bomb_png(path):
    """A PNG whose header says 30000×30000 grey (9·10⁸ pixels, over Pillow's limit of 2 × 89,478,485), in
    a few bytes: Pillow refuses it when it opens it, before reading any pixel."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_names_its_file(run_dir, tmp_path):
    """A 30000×30000 PNG gave `DecompressionBombError` without the file's name, exit 1, in `interpolate`
    and in `train --data FOLDER`: now one line naming the file, exit 2."""
    big = bomb_png(tmp_path / "imgs" / "big.png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a.png")
    r = runner.invoke(app, ["interpolate", "--checkpoint", str(run_dir), "--a", str(tmp_path / "a.png"), "--b",
                            str(big), "--t0", "5", "--k", "2", "--out", str(tmp_path / "i.png"), "--device", "cpu"])
    r2 = runner.invoke(app, ["train", "--data", str(big.parent), "--size", "8", "--preset", "smoke", "--out",
                             str(tmp_path / "run"), "--set", "train.steps=1"])
    for r in (r, r2):
        assert r.exit_code == 2, r.output
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: {big}: Image size (900000000 pixels) exceeds limit") and \
            "too large to read safely" in line and "Traceback" not in r.output, r.output


def test_evaluate_prints_fd_precision_recall(run_dir):
    r = runner.invoke(app, ["evaluate", "--checkpoint", str(run_dir), "--n", "12", "--steps", "3",
                            "--classifier-steps", "3", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(res) == {"beta", "posterior"} and "FD-digits" in res["beta"]


def test_train_on_an_image_folder_and_bad_data(tmp_path):
    folder = tmp_path / "imgs"
    x, _ = load_digits()
    for i in range(8):
        save_grid(x[i:i + 1].expand(1, 3, 8, 8), folder / f"{i}.png", pad=0, scale=2)
    r = runner.invoke(app, ["train", "--data", str(folder), "--size", "8", "--preset", "smoke",
                            "--out", str(tmp_path / "run"), "--set", "train.steps=2"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run/config.json").read_text())["run"]["unet_su"]["in_channels"] == 3
    r = runner.invoke(app, ["train", "--data", "nosuch", "--preset", "smoke", "--out", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "DiffusionConfig.data='nosuch'" in r.stderr


def test_reproduce_smoke(tmp_path):
    res = reproduce("smoke", tmp_path)
    assert res.post == 9119 and len(res.claims) == 3 and len(res.checks) == 4
    # the exact statements hold even at toy size, each with its control rejected
    assert [c.verdict for c in res.checks] == ["held"] * 4
    assert all("not held" in c.control for c in res.checks)
    assert all(c.rule and c.quote and c.source in (9119, 9152) for c in res.claims)
    assert res.claims[1].evidence["σ=β"]["n"] == 3 and len(res.metrics["data_vs_data"]) == 3
    for f in res.figures:
        assert (tmp_path / f).is_file()
    _, (saved,) = load_results(tmp_path / "result.json")  # the numbers, saved before the figures
    assert [(c.claim, c.measured) for c in saved.claims] == [(c.claim, c.measured) for c in res.claims]
    assert "FD-digits" in res.metrics["samples"]["ema, σ=β"][0]


def test_a_diverging_run_is_not_held(tmp_path):
    """A learning rate of 1e30 makes the loss NaN at the first record: the Trainer stops, and the claim
    "easy to train" reads "not held" (it read "inconclusive: did not learn" before); the comparisons
    cannot be made and say so."""
    cfg = preset("smoke")
    cfg = replace(cfg, run=replace(cfg.run, train=replace(cfg.run.train, lr=1e30)))
    res = reproduce("smoke", tmp_path, cfg=cfg)
    samples, similar, _ = res.claims
    assert samples.verdict == "not held" and "diverged" in samples.rule + samples.measured
    assert similar.verdict == res.metrics["ema_vs_raw"]["verdict"] == "inconclusive" and "diverge" in similar.needs
