"""DDPM: the forward jump, the training loss and the reverse ("建楼") samplers, in Su's notation.

kexue.fm/archives/9119 and kexue.fm/archives/9152, with Su's code github.com/bojone/Keras-DDPM.

The network. `model(x_t, t, y=None) -> eps` predicts the merged noise ε of x_t = ᾱ_t x_0 + β̄_t ε
(Ho's ε-network; the post's own ε_θ is (β_t/β̄_t) times it, see 9119 "降低方差"). t is an int64
tensor [b] with Su's t in 1..T; y is an int64 tensor [b] of class labels or None. A class-conditional
model has an attribute `num_classes`, and the label `num_classes` is its null class ∅ (no condition).

The loss (9119, after merging ε̄_{t−1}, ε_t into one ε and dropping the weights):
    ‖ε − ε_θ(ᾱ_t x_0 + β̄_t ε, t)‖²,  t uniform on 1..T,
**summed over pixels** and averaged over the batch. Su insists on the sum: the mean divides by
H·W·C, the loss gets so small that some gradients underflow and training diverges (9152, lesson 1).

The reverse step (9119 "递归生成", with ε from Ho's network):
    x_{t−1} = (x_t − β_t²/β̄_t · ε_θ(x_t, t)) / α_t + σ_t z,
σ_t = β_t ("beta", Su's default), β̄_{t−1}β_t/β̄_t ("posterior"; 9152 shows it is optimal for a
single data point, as β_t is for N(0, I) data), or 0 ("zero", Su's greedy search).
Strided sampling (`steps=K`) runs the same step between t and an earlier s with the jump's own
α_{t|s} = ᾱ_t/ᾱ_s, β_{t|s} = √(1 − α_{t|s}²) (a respaced DDPM), on diffusers' "trailing" grid
t = round(T − iT/K), i = 0..K−1; `ddim=True` takes DDIM's update instead (σ = "zero" is the
deterministic DDIM). Classifier-free guidance: ε̃ = (1 + w) ε_θ(x, y) − w ε_θ(x, ∅); w = 0 is the
plain conditional model (the MAD topic's sampling bias is λ = 1/(1 + w)).

Where we depart from Keras-DDPM, and why:
- Like Su's loop, noise σ_1 z is added at the last step too (diffusers and Ho's code add none at
  t = 1); with σ = "posterior" σ_1 = 0 anyway, and β_1 = 0.0045 for "beta". Unlike Su's loop, the
  result is not clipped to [−1, 1] (the Gaussian checks need it unclipped): clip images yourself.
- `clip_x0=True` (not in the post, Ho's sampler does it) clips x̂_0 = (x_t − β̄_t ε)/ᾱ_t to [−1, 1]
  and uses the mean written through x̂_0; without clipping that mean equals Su's formula exactly.
- `sample_inter` noises the mixture to t0 and runs the chain from t0. Keras-DDPM noises to its
  0-based index t0 (our t0 + 1) and runs from T − t0; the two agree only at its t0 = T/2 = 500.
- The network gets Su's t (1..T); our U-Nets subtract 1 internally, as Keras-DDPM and Ho feed 0..T−1.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from kexue.diffusion.schedule import Schedule
from kexue.train.progress import StepProgress

Noise = Sequence[Tensor] | Callable[[int], Tensor] | None


class SamplingStopped(KeyboardInterrupt):
    """sample()'s should_stop said so between two steps (a signal came): the chain was left unfinished."""


def q_sample(x0: Tensor, t: Tensor | int, eps: Tensor, schedule: Schedule) -> Tensor:
    """The forward jump x_t = ᾱ_t x_0 + β̄_t ε, with t an int or an int64 tensor [b] in 0..T."""
    if eps.shape != x0.shape:
        raise ValueError(f"q_sample: eps has shape {tuple(eps.shape)}, x0 has {tuple(x0.shape)}")
    bar_alpha, bar_beta = schedule.on(x0.device, x0.dtype)
    if isinstance(t, int):
        _check_t(torch.tensor([t]), schedule, "t", low=0)
        # x_t = ᾱ_t x_0 + β̄_t ε
        return bar_alpha[t] * x0 + bar_beta[t] * eps
    t = _check_t(t, schedule, "t", low=0, batch=x0.shape[0])
    shape = (-1,) + (1,) * (x0.dim() - 1)
    # (index_select, not bar_alpha[t]: advanced indexing costs ~16 ms on this CPU build of torch)
    # x_t = ᾱ_t x_0 + β̄_t ε
    return bar_alpha.index_select(0, t).view(shape) * x0 + bar_beta.index_select(0, t).view(shape) * eps


def ddpm_loss(model: Callable, x0: Tensor, schedule: Schedule, y: Tensor | None = None,
              cond_drop: float = 0.0, *, t: Tensor | None = None, eps: Tensor | None = None,
              generator: torch.Generator | None = None) -> Tensor:
    """‖ε − ε_θ(ᾱ_t x_0 + β̄_t ε, t)‖² summed over all but the batch dimension, averaged over the batch.

    t ~ Uniform{1..T} and ε ~ N(0, I) unless given. With `cond_drop` = p > 0 each label is replaced
    by the null class `model.num_classes` with probability p (classifier-free guidance training).
    """
    if not 0.0 <= cond_drop <= 1.0:
        raise ValueError(f"ddpm_loss: cond_drop={cond_drop} must lie in [0, 1]")
    b = x0.shape[0]
    if t is None:
        t = _draw(lambda dev: torch.randint(1, schedule.T + 1, (b,), generator=generator, device=dev),
                  generator, x0.device)
    t = _check_t(t, schedule, "t", low=1, batch=b)
    if eps is None:
        eps = _draw(lambda dev: torch.randn(x0.shape, generator=generator, device=dev, dtype=x0.dtype),
                    generator, x0.device)
    if y is not None and cond_drop > 0:
        drop = _draw(lambda dev: torch.rand(b, generator=generator, device=dev), generator, x0.device) < cond_drop
        y = torch.where(drop, torch.full_like(y, null_class(model)), y)
    x_t = q_sample(x0, t, eps, schedule)
    eps_pred = model(x_t, t) if y is None else model(x_t, t, y)
    # ‖ε − ε_θ‖², a sum over pixels (not the mean), then the batch mean
    dtype = torch.promote_types(eps_pred.dtype, torch.float32)  # float32 at least, under AMP too
    return (eps.to(dtype) - eps_pred.to(dtype)).pow(2).flatten(1).sum(1).mean()


def step(model_eps: Tensor, x_t: Tensor, t: int, schedule: Schedule, sigma: str | float = "beta",
         noise: Tensor | None = None, *, s: int | None = None, ddim: bool = False, clip_x0: bool = False,
         generator: torch.Generator | None = None) -> Tensor:
    """One reverse step x_t → x_s (s = t − 1 unless given), from the network's ε at x_t.

    `noise` is the z of σ z (drawn with `generator` when None and σ > 0). See the module docstring
    for σ, `ddim` and `clip_x0`.
    """
    s = t - 1 if s is None else s
    sig = schedule.sigma(sigma, t, s)
    alpha_ts, beta_ts = schedule.alpha_between(t, s), schedule.beta_between(t, s)
    bar_alpha_t, bar_beta_t = float(schedule.bar_alpha[t]), float(schedule.bar_beta[t])
    bar_alpha_s, bar_beta_s = float(schedule.bar_alpha[s]), float(schedule.bar_beta[s])
    eps = model_eps
    if ddim or clip_x0:
        # x̂_0 = (x_t − β̄_t ε) / ᾱ_t
        x0 = (x_t - bar_beta_t * eps) / bar_alpha_t
        if clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
            # ε = (x_t − ᾱ_t x̂_0) / β̄_t, consistent with the clipped x̂_0
            eps = (x_t - bar_alpha_t * x0) / bar_beta_t
    if ddim:
        # x_s = ᾱ_s x̂_0 + √(β̄_s² − σ²) ε + σ z   (DDIM; the radicand is clipped at 0)
        mean = bar_alpha_s * x0 + math.sqrt(max(bar_beta_s**2 - sig**2, 0.0)) * eps
    elif clip_x0:
        # μ = ᾱ_s β_{t|s}²/β̄_t² x̂_0 + α_{t|s} β̄_s²/β̄_t² x_t   (= Su's mean when x̂_0 is not clipped)
        mean = (bar_alpha_s * beta_ts**2 / bar_beta_t**2) * x0 + (alpha_ts * bar_beta_s**2 / bar_beta_t**2) * x_t
    else:
        # x_s = (x_t − β_{t|s}²/β̄_t ε) / α_{t|s}   (Su: x_{t−1} = (x_t − β_t²/β̄_t ε)/α_t)
        mean = x_t.mul(1.0 / alpha_ts).add_(eps, alpha=-beta_ts**2 / (bar_beta_t * alpha_ts))
    if sig == 0.0:
        return mean
    if noise is None:
        noise = _draw(lambda dev: torch.randn(x_t.shape, generator=generator, device=dev, dtype=x_t.dtype),
                      generator, x_t.device)
    elif noise.shape != x_t.shape:
        raise ValueError(f"step: noise has shape {tuple(noise.shape)}, x_t has {tuple(x_t.shape)}")
    # + σ z
    return mean.add_(noise, alpha=sig)


def sampling_timesteps(t_start: int, steps: int | None = None) -> list[int]:
    """The times visited, descending from t_start: all of t_start..1, or `steps` of them on the
    "trailing" grid round(t_start − i·t_start/steps), i = 0..steps−1 (always starts at t_start)."""
    if steps is None or steps == t_start:
        return list(range(t_start, 0, -1))
    if not 1 <= steps <= t_start:
        raise ValueError(f"steps={steps} must lie in 1..{t_start}")
    ratio = t_start / steps
    return [int(round(t_start - i * ratio)) for i in range(steps)]


@torch.no_grad()
def sample(model: Callable, schedule: Schedule, shape: Sequence[int] | None, sigma: str | float = "beta",
           steps: int | None = None, ddim: bool = False, clip_x0: bool = False, y: Tensor | None = None,
           guidance_w: float = 0.0, generator: torch.Generator | None = None, progress: bool = False,
           x_T: Tensor | None = None, noise: Noise = None, *, t_start: int | None = None,
           device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
           should_stop: Callable[[], bool] | None = None, description: str = "sample") -> Tensor:
    """Run the reverse chain from x_T ~ N(0, I) (or the given `x_T`, taken to be at time `t_start`,
    default T) down to x_0, and return x_0 (not clipped).

    `progress`: a bar on a terminal, a line every 30 s in a log (kexue.train.progress.StepProgress), named
    `description`. `should_stop()`, asked between steps (e.g. "has SIGTERM come?"), ends the chain early
    with SamplingStopped.

    `noise`: optional per-step z's, a list in the order of the steps or a function of t (for parity
    tests). An `nn.Module` model is put in eval mode for the loop and restored after.
    """
    t_start = schedule.T if t_start is None else t_start
    times = sampling_timesteps(t_start, steps)
    if x_T is None:
        if shape is None:
            raise ValueError("sample: give shape or x_T")
        device = device if device is not None else _model_device(model)
        x = _draw(lambda dev: torch.randn(tuple(shape), generator=generator, device=dev, dtype=dtype),
                  generator, torch.device(device))
    else:
        x = x_T.clone()
    if noise is not None and not callable(noise) and len(noise) != len(times):
        raise ValueError(f"sample: noise has {len(noise)} entries for {len(times)} steps")
    b = x.shape[0]
    if y is not None and y.shape != (b,):
        raise ValueError(f"sample: y has shape {tuple(y.shape)}, expected ({b},)")
    if guidance_w != 0.0 and y is None:
        raise ValueError("sample: guidance_w ≠ 0 needs class labels y")
    null = null_class(model) if guidance_w != 0.0 else None
    t_all = torch.tensor(times, dtype=torch.int64, device=x.device)
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    bar = StepProgress(len(times), 0, progress, description=description)
    try:
        for i, t in enumerate(times):
            if should_stop is not None and should_stop():
                raise SamplingStopped(f"{description}: stopped at step {i} of {len(times)}")
            s = times[i + 1] if i + 1 < len(times) else 0
            eps = _guided_eps(model, x, t_all[i].expand(b), y, guidance_w, null)
            z = None if noise is None else (noise(t) if callable(noise) else noise[i])
            x = step(eps, x, t, schedule, sigma, z, s=s, ddim=ddim, clip_x0=clip_x0, generator=generator)
            bar.advance()
    finally:
        bar.close()
        if was_training:
            model.train()
    return x


@torch.no_grad()
def sample_inter(model: Callable, schedule: Schedule, x_a: Tensor, x_b: Tensor, t0: int = 500, k: int = 8,
                 sigma: str | float = "beta", steps: int | None = None, ddim: bool = False,
                 clip_x0: bool = False, y: Tensor | None = None, guidance_w: float = 0.0,
                 generator: torch.Generator | None = None, progress: bool = False) -> Tensor:
    """Keras-DDPM's interpolation: mix x_a, x_b [b, C, H, W] as (1 − λ) x_a + λ x_b for k values of
    λ in [0, 1], noise to t0 (x_{t0} = ᾱ_{t0} x + β̄_{t0} z), run the chain from t0; → [b, k, C, H, W]."""
    if x_a.shape != x_b.shape:
        raise ValueError(f"sample_inter: x_a has shape {tuple(x_a.shape)}, x_b has {tuple(x_b.shape)}")
    if not 1 <= t0 <= schedule.T:
        raise ValueError(f"sample_inter: t0={t0} must lie in 1..{schedule.T}")
    b = x_a.shape[0]
    lam = torch.linspace(0, 1, k, device=x_a.device, dtype=x_a.dtype).view(1, k, *([1] * (x_a.dim() - 1)))
    # x = (1 − λ) x_a + λ x_b
    x = ((1 - lam) * x_a.unsqueeze(1) + lam * x_b.unsqueeze(1)).flatten(0, 1)
    z = _draw(lambda dev: torch.randn(x.shape, generator=generator, device=dev, dtype=x.dtype), generator, x.device)
    x_t0 = q_sample(x, t0, z, schedule)
    y = None if y is None else y.repeat_interleave(k)
    out = sample(model, schedule, None, sigma=sigma, steps=steps, ddim=ddim, clip_x0=clip_x0, y=y,
                 guidance_w=guidance_w, generator=generator, progress=progress, x_T=x_t0, t_start=t0)
    return out.view(b, k, *x_a.shape[1:])


class GaussianEps:
    """The exact ε-predictor for data N(μ, s² I): E[ε | x_t] = β̄_t (x_t − ᾱ_t μ) / (ᾱ_t² s² + β̄_t²).

    With it a correct sampler must return N(μ, s²) samples; no training needed (tests, reproduce).
    μ and s broadcast against x_t without its batch dimension.
    """

    def __init__(self, mu: Tensor | float, s: Tensor | float, schedule: Schedule):
        self.mu, self.s, self.schedule = torch.as_tensor(mu), torch.as_tensor(s), schedule

    def __call__(self, x_t: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        bar_alpha, bar_beta = self.schedule.on(x_t.device, torch.float64)
        shape = (-1,) + (1,) * (x_t.dim() - 1)
        a, b = bar_alpha.index_select(0, t).view(shape), bar_beta.index_select(0, t).view(shape)
        mu, s = self.mu.to(x_t.device, torch.float64), self.s.to(x_t.device, torch.float64)
        # E[ε | x_t] = β̄_t (x_t − ᾱ_t μ) / (ᾱ_t² s² + β̄_t²)
        return (b * (x_t.double() - a * mu) / (a**2 * s**2 + b**2)).to(x_t.dtype)


def null_class(model: Callable) -> int:
    """The null label ∅ of a class-conditional model: its `num_classes` (looked up through DDP's
    `.module` and torch.compile's `._orig_mod`)."""
    for m in (model, getattr(model, "module", None), getattr(model, "_orig_mod", None)):
        n = getattr(m, "num_classes", None)
        if isinstance(n, int) and n > 0:
            return n
    raise ValueError("model has no num_classes > 0: condition dropout and guidance need a class-conditional "
                     "model, whose null class is the label num_classes")


def _guided_eps(model: Callable, x: Tensor, t: Tensor, y: Tensor | None, w: float, null: int | None) -> Tensor:
    if y is None:
        return model(x, t)
    if w == 0.0:
        return model(x, t, y)
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null)]))
    eps_y, eps_null = out.chunk(2)
    # ε̃ = (1 + w) ε_θ(x, y) − w ε_θ(x, ∅)
    return eps_y.mul(1.0 + w).sub_(eps_null, alpha=w)


def _check_t(t: Tensor, schedule: Schedule, name: str, low: int, batch: int | None = None) -> Tensor:
    if not isinstance(t, Tensor) or t.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must be an int64 tensor of Su's t, got {type(t).__name__} "
                         f"{getattr(t, 'dtype', '')}")
    if batch is not None and t.shape != (batch,):
        raise ValueError(f"{name} has shape {tuple(t.shape)}, expected ({batch},)")
    if t.device.type == "cpu" and t.numel() and (int(t.min()) < low or int(t.max()) > schedule.T):
        raise ValueError(f"{name} must lie in {low}..{schedule.T}, got {int(t.min())}..{int(t.max())}")
    return t


def _draw(make: Callable[[torch.device], Tensor], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Random numbers on the generator's device (so a seed gives the same numbers), moved to `device`."""
    if generator is None:
        return make(device)
    return make(generator.device).to(device)


def _model_device(model: Callable) -> torch.device:
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")
