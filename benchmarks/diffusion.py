"""DDPM sampling and training speed, measured on this machine (kexue.fm/archives/9119, 9152).

    .venv/bin/python benchmarks/diffusion.py            # CPU, one thread by default
    .venv/bin/python benchmarks/diffusion.py --device cuda --threads 0

Three measurements, each against the alternative a user would pick:
1. **sampler overhead**: `kexue.diffusion.sample` over K steps vs K calls of the U-Net's own forward
   on the same inputs; overhead = t_sample / (K · t_forward) − 1 (target ≤ 3 %). Su's U-Net, two sizes.
2. **vs diffusers**: a `DDPMScheduler` loop (trained_betas = Su's β_t², clip_sample=False,
   variance_type fixed_small) driving the same network from the same x_T and the same generator,
   against our sampler with σ = posterior (σ_1 = 0, so neither adds noise at the last step): the
   largest difference of the outputs and the time ratio (skipped when diffusers is not installed).
3. **train steps/s** of Su's and Ho's U-Nets at equal image size (28 px, MNIST presets, batch 32):
   forward + summed loss + backward + Adam step.
Times are the best of `--repeats` runs after one warm-up (other load only ever adds time).
Writes benchmarks/results/diffusion.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from kexue.diffusion import Schedule, UNetHo, UNetHoConfig, UNetSu, UNetSuConfig, ddpm_loss, sample


def best(fn, repeats: int, sync) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def overhead(name: str, cfg: UNetSuConfig, batch: int, steps: int, device: str, repeats: int, sync) -> dict:
    model = UNetSu(cfg).to(device).eval()
    schedule = Schedule.preset("su", cfg.T)
    shape = (batch, cfg.in_channels, cfg.image_size, cfg.image_size)
    x = torch.randn(shape, device=device)
    ts = [torch.full((batch,), t, device=device, dtype=torch.int64) for t in range(cfg.T, 0, -cfg.T // steps)][:steps]

    @torch.no_grad()
    def forwards() -> None:
        for t in ts:
            model(x, t)

    def sampler() -> None:
        sample(model, schedule, shape, "beta", steps, generator=torch.Generator(device).manual_seed(0))

    t_fwd = t_sample = float("inf")
    for _ in range(repeats):  # interleaved, so that a burst of other load hits both alike
        t_fwd, t_sample = min(t_fwd, best(forwards, 1, sync)), min(t_sample, best(sampler, 1, sync))
    return {"model": name, "batch": batch, "steps": steps, "forward_ms": 1e3 * t_fwd / steps,
            "sample_ms_per_step": 1e3 * t_sample / steps, "overhead": t_sample / t_fwd - 1}


def versus_diffusers(cfg: UNetSuConfig, batch: int, device: str, repeats: int, sync) -> dict | None:
    try:
        from diffusers import DDPMScheduler
    except ImportError:
        return None
    model = UNetSu(cfg).to(device).eval()
    schedule = Schedule.preset("su", cfg.T)
    shape = (batch, cfg.in_channels, cfg.image_size, cfg.image_size)
    sched = DDPMScheduler(num_train_timesteps=cfg.T, trained_betas=schedule.to_diffusers_betas().tolist(),
                          clip_sample=False, variance_type="fixed_small")
    sched.set_timesteps(cfg.T)

    def ours() -> torch.Tensor:
        return sample(model, schedule, shape, "posterior", generator=torch.Generator(device).manual_seed(0))

    @torch.no_grad()
    def theirs() -> torch.Tensor:
        gen = torch.Generator(device).manual_seed(0)
        x = torch.randn(shape, generator=gen, device=device)
        for k in sched.timesteps:  # diffusers' index k = Su's t − 1; our network takes Su's t
            eps = model(x, torch.full((batch,), int(k) + 1, device=device, dtype=torch.int64))
            x = sched.step(eps, k, x, generator=gen).prev_sample
        return x

    diff_stock = float((ours() - theirs()).abs().max())
    t_ours, t_theirs = best(ours, repeats, sync), best(theirs, repeats, sync)
    # stock diffusers keeps its schedule in float32 (1 − ᾱ_t² loses digits near t = 1, ≤ 2e−4 per step,
    # tests/diffusion/test_ddpm.py); with our float64 schedule swapped in, the two chains agree
    sched.betas, sched.alphas_cumprod = schedule.to_diffusers_betas(), schedule.to_diffusers_alphas_cumprod()
    sched.alphas, sched.one = 1 - sched.betas, torch.tensor(1.0, dtype=torch.float64)
    diff = float((ours() - theirs()).abs().max())
    return {"batch": batch, "steps": cfg.T, "max_abs_diff": diff, "max_abs_diff_stock_float32": diff_stock,
            "ours_s": t_ours, "diffusers_s": t_theirs, "diffusers_over_ours": t_theirs / t_ours}


def train_speed(device: str, repeats: int, sync, batch: int = 32, steps: int = 3) -> list[dict]:
    rows = []
    schedule = Schedule.preset("su", 1000)
    for name, model in (("su (mnist28)", UNetSu(UNetSuConfig.preset("mnist28"))),
                        ("ho2020 (mnist28)", UNetHo(UNetHoConfig.preset("mnist28")))):
        model = model.to(device).train()
        opt = torch.optim.Adam(model.parameters(), 1e-4)
        x0 = torch.rand(batch, 1, 28, 28, device=device) * 2 - 1

        def run() -> None:
            for _ in range(steps):
                loss = ddpm_loss(model, x0, schedule)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        t = best(run, repeats, sync)
        rows.append({"model": name, "params": sum(p.numel() for p in model.parameters()), "batch": batch,
                     "steps_per_s": steps / t})
    return rows


def markdown(result: dict) -> str:
    lines = ["| measurement | setting | kexue | reference | ratio |", "|---|---|---|---|---|"]
    for r in result["overhead"]:
        lines.append(f"| sampler loop overhead | {r['model']}, batch {r['batch']}, {r['steps']} steps | "
                     f"{r['sample_ms_per_step']:.2f} ms/step | U-Net forward {r['forward_ms']:.2f} ms | "
                     f"{100 * r['overhead']:+.1f} % |")
    d = result["diffusers"]
    if d:
        lines.append(f"| vs diffusers DDPMScheduler | {d['steps']}-step chain, batch {d['batch']}, max diff "
                     f"{d['max_abs_diff']:.1e} (stock float32 schedule: {d['max_abs_diff_stock_float32']:.1e}) | "
                     f"{d['ours_s']:.2f} s | {d['diffusers_s']:.2f} s | "
                     f"diffusers/kexue {d['diffusers_over_ours']:.2f}× |")
    su, ho = result["train"]
    lines.append(f"| train steps/s, 28 px, batch {su['batch']} | su {su['params'] / 1e6:.2f}M vs ho2020 "
                 f"{ho['params'] / 1e6:.2f}M params | {su['steps_per_s']:.2f} | {ho['steps_per_s']:.2f} | "
                 f"su/ho {su['steps_per_s'] / ho['steps_per_s']:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads on CPU (0: leave torch's default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "diffusion.json")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    sync = torch.cuda.synchronize if dev.startswith("cuda") else (lambda: None)
    big = dev.startswith("cuda")
    digits = UNetSuConfig.preset("digits8")
    mnist = UNetSuConfig.preset("mnist28")
    result = {
        "overhead": [overhead("su digits8", digits, 256 if big else 64, 100, dev, args.repeats, sync),
                     overhead("su mnist28", mnist, 256 if big else 16, 50, dev, args.repeats, sync)],
        "diffusers": versus_diffusers(UNetSuConfig.preset("digits8", embedding_size=16, channels=(1, 2), blocks=1),
                                      64, dev, args.repeats, sync),
        "train": train_speed(dev, args.repeats, sync, batch=128 if big else 32),
        "machine": {"device": torch.cuda.get_device_name(0) if big else platform.processor() or platform.machine(),
                    "threads": torch.get_num_threads(), "torch": torch.__version__},
    }
    print(markdown(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
