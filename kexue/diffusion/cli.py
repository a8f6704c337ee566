"""`kexue diffusion train|sample|interpolate|evaluate`: posts 9119/9152 from the command line.

Train on digits, MNIST-5k, Fashion-MNIST or a folder of images; sample and interpolate from a run
directory alone (config.json rebuilds the network, the EMA weights are strict-loaded by default).
Errors, run folders, --resume, --config/--print-config, --device/--precision: kexue/cli_common.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from kexue.console import results_console
from kexue import cli_common as C

app = typer.Typer(no_args_is_help=True, help="Posts 9119/9152: train a DDPM, sample and interpolate from checkpoints.\n\n"
                  "\b\nExample:\n  kexue diffusion train --preset smoke --out runs/ddpm\n"
                  "  kexue diffusion sample --model runs/ddpm --n 16")
console = Console(stderr=True)  # notes; results (tables, JSON) go to stdout
results = results_console()
COMMAND = "kexue diffusion train"


def _device(device: str) -> str:
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    from kexue.train.distributed import init_distributed

    return str(init_distributed(device)[2])  # checks the device exists, in one line if not


def _file_out(out: Path, overwrite: bool = False) -> None:
    """An output file's path is checked before any work: not a folder, not an earlier result (without
    --overwrite: the PNG or its .npy); its folder is made."""
    if out.is_dir():
        raise ValueError(f"--out {out}: is a folder; give a file name, e.g. {out / 'samples.png'}")
    earlier = [f for f in (out, out.with_suffix(".npy")) if f.exists()]
    if earlier and not overwrite:
        raise FileExistsError(f"--out {out}: {earlier[0]} exists; give another --out, or --overwrite to replace it")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--out {out}: {parent} is a file, not a folder")
            break
    out.parent.mkdir(parents=True, exist_ok=True)


def _run_folder(model: Optional[Path], checkpoint: Optional[Path]) -> Path:
    """--model (or its old spelling --checkpoint): the run folder to read."""
    folder = C.either(model, checkpoint, "--model", "--checkpoint")
    if folder is None:
        raise ValueError("--model: give the run folder of `kexue diffusion train`, e.g. --model runs/diffusion/version_0")
    return folder


def _load(checkpoint: Path, raw: bool, device: str):
    from kexue.diffusion.train import load_run
    from kexue.runs import check_command

    check_command(checkpoint, COMMAND)
    model, schedule, cfg = load_run(checkpoint, ema=not raw, device=_device(device))
    which = "raw weights (model.safetensors)" if raw else "EMA weights (ema.safetensors; --raw for the raw ones)"
    C.say(f"{checkpoint}: {cfg.model} U-Net, {schedule}, {which}")
    return model, schedule, cfg


@app.command("train")
@C.train_options("diffusion", "train.steps=2000")
def train_cmd(
    data: str = typer.Option("digits", help="digits | mnist5k | fashion-mnist | a folder of images"),
    preset: str = typer.Option("su", help="su (the post's recipe) | ho2020 (Ho's) | quick (CPU minutes) | smoke"),
    size: int = typer.Option(0, help="image side; 0 = the data's own (a folder: 64)"),
    channels: int = typer.Option(3, help="a folder's channels: 1 grey or 3 RGB"),
    *, opts: C.RunOptions,
) -> None:
    """Train a DDPM; sample grids land in OUT/samples every `sample_every` steps and at the end."""
    from kexue.diffusion.train import DiffusionConfig, grid_cost, train
    from kexue.train import may_change_on_resume

    cfg, run = C.start_run(opts, COMMAND, "diffusion", DiffusionConfig.preset(preset, data, size, channels),
                           DiffusionConfig, may_change=("sample_every",),
                           options={"data": data, "preset": preset, "size": size, "channels": channels})
    C.say(grid_cost(cfg))  # the end-of-run sampling is part of the run's cost (issue 24 §4)
    with may_change_on_resume("sample_every"):
        summary = train(cfg, run.out, resume=run.resume, progress=opts.progress)
    if summary["rank"]:  # under torchrun only rank 0 samples and reports
        return
    t = Table(title=f"kexue diffusion train --preset {run.options.get('preset', preset)}")
    for col in ("steps", "final loss", "seconds", "run directory"):
        t.add_column(col)
    t.add_row(str(summary["steps"]), f"{summary['final_loss']:.2f}", f"{summary['seconds']:.0f}", str(run.out))
    results.print(t)
    for g in summary["grids"][-2:]:
        results.print(f"grid: {g}", soft_wrap=True)


@app.command("export")
def export_cmd(
    folders: Optional[list[Path]] = typer.Argument(None, metavar="OUT", help="the folder to write: unet.onnx, "
                                                   "diffusion-onnx.json (the schedule); the old form RUN OUT works too"),
    model: Optional[Path] = typer.Option(None, "--model", help="a run folder of `kexue diffusion train`"),
    format_: str = typer.Option("onnx", "--format", help="onnx (the one format)"),
    raw: bool = typer.Option(False, help="export the raw weights instead of the EMA weights"),
    dynamo: bool = typer.Option(False, "--dynamo", help="torch.export's ONNX exporter (needs onnxscript)"),
) -> None:
    """The run's U-Net as ONNX, ε_θ(x_t, t[, y]) with a dynamic batch, its schedule beside it; onnxruntime's ε
    is checked against torch's and the largest difference printed."""
    checkpoint, out = C.run_and_out(model, folders, "kexue diffusion export")
    import onnxruntime  # noqa: F401  (the check below runs the graph: a missing extra is said before any work)
    from kexue.diffusion.onnx_export import MODEL_FILE, check_parity, export_run
    from kexue.runs import check_command

    if format_ != "onnx":
        raise ValueError(f"--format {format_}: the U-Net exports to onnx only")
    check_command(checkpoint, COMMAND)
    manifest = export_run(checkpoint, out, raw=raw, dynamo=dynamo)
    model, schedule, _ = _load(checkpoint, raw, "cpu")
    parity = check_parity(model, out / MODEL_FILE, schedule.T)
    if parity.max_abs > 1e-4:
        C.fail(f"the ONNX graph in {out} does not reproduce torch's ε (max |Δ| {parity.max_abs:.2e}); "
               "report it with kexue --debug", 1)
    results.print(f"wrote {out} ({manifest['model']} U-Net, {manifest['image_size']} px, T = {manifest['T']}); "
                  f"onnxruntime vs torch at batch sizes {parity.batch_sizes}: max |Δ| {parity.max_abs:.2e}",
                  soft_wrap=True, markup=False)


@app.command("sample")
def sample_cmd(
    model: Optional[Path] = typer.Option(None, help="a run folder of `kexue diffusion train`"),
    checkpoint: Optional[Path] = C.alias("--checkpoint", "--model"),
    n: int = typer.Option(64, help="number of images"),
    sigma: str = typer.Option("beta", help="beta (Su's σ_t = β_t) | posterior (β̄_{t−1}β_t/β̄_t) | zero"),
    steps: int = typer.Option(0, help="0 = all T steps; else a respaced chain of this many steps"),
    ddim: bool = typer.Option(False, help="DDIM's update (with --sigma zero: deterministic)"),
    clip_x0: bool = typer.Option(False, help="clip x̂_0 to [−1, 1] at every step (Ho's sampler)"),
    label: Optional[int] = typer.Option(None, help="class label for a class-conditional model "
                                                   "(default: 0..n−1 cycled)"),
    guidance: float = typer.Option(0.0, help="classifier-free guidance weight w"),
    raw: bool = typer.Option(False, help="use the raw weights instead of the EMA weights"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    out: Path = typer.Option(Path("samples.png"), help="PNG grid; the images also go to the same name .npy"),
    overwrite: bool = typer.Option(False, help="replace an existing --out (and its .npy)"),
) -> None:
    """Sample n images from a checkpoint alone → a PNG grid and an .npy array [n, C, H, W] in [−1, 1]."""
    import numpy as np
    import torch
    from kexue.diffusion.ddpm import sample
    from kexue.diffusion.images import save_grid

    if n < 1:
        raise ValueError(f"--n {n}: give the number of images to sample, at least 1")
    _file_out(out, overwrite)
    checkpoint = _run_folder(model, checkpoint)
    model, schedule, cfg = _load(checkpoint, raw, device)
    dev = _device(device)
    y = None
    if getattr(model, "num_classes", 0):
        y = torch.full((n,), label, dtype=torch.int64) if label is not None else torch.arange(n) % model.num_classes
        y = y.to(dev)
    x = sample(model, schedule, (n, *_shape(cfg)), sigma, steps or None, ddim=ddim, clip_x0=clip_x0, y=y,
               guidance_w=guidance, generator=torch.Generator(dev).manual_seed(seed), progress=True)
    x = x.clamp(-1, 1).cpu()
    save_grid(x, out)
    np.save(out.with_suffix(".npy"), x.numpy())
    results.print(f"wrote {out} and {out.with_suffix('.npy')} ({n} images, σ = {sigma}, "
                  f"{steps or schedule.T} steps{', DDIM' if ddim else ''})", soft_wrap=True, markup=False)


@app.command("interpolate")
def interpolate_cmd(
    model: Optional[Path] = typer.Option(None, help="a run folder of `kexue diffusion train`"),
    checkpoint: Optional[Path] = C.alias("--checkpoint", "--model"),
    a: Path = typer.Option(..., help="first image file"),
    b: Path = typer.Option(..., help="second image file"),
    t0: int = typer.Option(500, help="noise the mixtures to t0, then run the chain from t0 (Keras-DDPM: 500)"),
    k: int = typer.Option(8, help="mixtures (1 − λ) a + λ b, λ from 0 to 1"),
    sigma: str = typer.Option("beta"),
    raw: bool = typer.Option(False, help="use the raw weights instead of the EMA weights"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto"),
    out: Path = typer.Option(Path("interpolate.png"), help="PNG: the inputs' mixtures above, the samples below"),
    overwrite: bool = typer.Option(False, help="replace an existing --out (and its .npy)"),
) -> None:
    """Keras-DDPM's interpolation: mix two images, noise them to t0, denoise. The images are read as the
    model's (centre-cropped, resized, grey or RGB), and what that changed is said."""
    import numpy as np
    import torch
    from kexue.diffusion.ddpm import sample_inter
    from kexue.diffusion.images import image_note, read_image, save_grid

    _file_out(out, overwrite)
    checkpoint = _run_folder(model, checkpoint)
    model, schedule, cfg = _load(checkpoint, raw, device)
    dev = _device(device)
    c, side, _ = _shape(cfg)
    for p in (a, b):
        note = image_note(p, side, c)
        if note:
            C.say(note)
    x_a, x_b = (read_image(p, side, c).unsqueeze(0).to(dev) for p in (a, b))
    x = sample_inter(model, schedule, x_a, x_b, t0, k, sigma, generator=torch.Generator(dev).manual_seed(seed),
                     progress=True)
    lam = torch.linspace(0, 1, k, device=dev).view(k, 1, 1, 1)
    mixed = (1 - lam) * x_a + lam * x_b
    save_grid(torch.cat([mixed, x[0]]).clamp(-1, 1).cpu(), out, nrow=k)
    np.save(out.with_suffix(".npy"), x[0].clamp(-1, 1).cpu().numpy())
    results.print(f"wrote {out} (top: mixtures, bottom: denoised from t0 = {t0}) and {out.with_suffix('.npy')}",
                  soft_wrap=True, markup=False)


@app.command("evaluate")
def evaluate_cmd(
    model: Optional[Path] = typer.Option(None, help="a run folder of `kexue diffusion train`"),
    checkpoint: Optional[Path] = C.alias("--checkpoint", "--model"),
    n: int = typer.Option(500, help="samples per σ"),
    sigmas: str = typer.Option("beta,posterior", help="comma-separated σ choices"),
    steps: int = typer.Option(0, help="0 = all T steps"),
    raw: bool = typer.Option(False, help="use the raw weights instead of the EMA weights"),
    classifier_steps: int = typer.Option(500, help="training steps of the feature classifier"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto"),
) -> None:
    """FD-<data> (a small classifier's features, not FID), precision/recall (k = 5), label entropy."""
    import torch
    from kexue.diffusion.ddpm import sample
    from kexue.diffusion.metrics import ClassifierConfig, ImageMetrics, load_or_fit_classifier
    from kexue.diffusion.train import load_data

    checkpoint = _run_folder(model, checkpoint)
    model, schedule, cfg = _load(checkpoint, raw, device)
    dev = _device(device)
    x, y, name = load_data(cfg)
    with console.status("classifier for the features (trained once, cached in the run directory)"):
        clf, info = load_or_fit_classifier(name, x, y, checkpoint / "metrics-cache",
                                           ClassifierConfig(steps=classifier_steps))
    measure = ImageMetrics(name, x, clf, info["num_classes"])
    t = Table(title=f"{checkpoint}: {n} samples, {steps or schedule.T} steps")
    for col in ("σ", measure.fd_key, "precision", "recall", "label entropy"):
        t.add_column(col, justify="right")
    scores = {}
    for sigma in [s.strip() for s in sigmas.split(",") if s.strip()]:
        xs = sample(model, schedule, (n, *_shape(cfg)), sigma, steps or None,
                    generator=torch.Generator(dev).manual_seed(seed), progress=True).clamp(-1, 1).cpu()
        r = scores[sigma] = measure(xs)
        t.add_row(sigma, f"{r[measure.fd_key]:.2f}", f"{r['precision']:.3f}", f"{r['recall']:.3f}",
                  f"{r.get('label_entropy', float('nan')):.3f}")
    console.print(t)  # the table on stderr, the numbers as JSON on stdout
    print(json.dumps(scores))


def _shape(cfg) -> tuple[int, int, int]:
    from kexue.diffusion.train import grid_shape

    return grid_shape(cfg)


C.adopt(app)
