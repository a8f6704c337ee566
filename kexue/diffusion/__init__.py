"""DDPM (kexue.fm/archives/9119, 9152): schedules in Su's notation, the loss, the samplers, two U-Nets."""
from kexue.diffusion.ddpm import (GaussianEps, ddpm_loss, null_class, q_sample, sample, sample_inter,
                                  sampling_timesteps, step)
from kexue.diffusion.schedule import PRESETS, SIGMAS, Schedule
from kexue.diffusion.unet_ho import UNetHo, UNetHoConfig
from kexue.diffusion.unet_su import UNetSu, UNetSuConfig

__all__ = [
    "PRESETS", "SIGMAS", "Schedule",
    "q_sample", "ddpm_loss", "step", "sample", "sample_inter", "sampling_timesteps", "null_class", "GaussianEps",
    "UNetSu", "UNetSuConfig", "UNetHo", "UNetHoConfig",
]
