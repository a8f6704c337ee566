"""DDPM (kexue.fm/archives/9119, 9152): schedules in Su's notation, the loss, the samplers, two U-Nets."""
from typing import TYPE_CHECKING

from kexue.lazy import exports

if TYPE_CHECKING:  # the names, for type checkers and editors
    from kexue.diffusion.ddpm import (GaussianEps, ddpm_loss, null_class, q_sample, sample, sample_inter,
                                      sampling_timesteps, step)
    from kexue.diffusion.schedule import PRESETS, SIGMAS, Schedule
    from kexue.diffusion.unet_ho import UNetHo, UNetHoConfig
    from kexue.diffusion.unet_su import UNetSu, UNetSuConfig

__getattr__, __dir__ = exports(__name__, {
    "GaussianEps": "ddpm",
    "ddpm_loss": "ddpm",
    "null_class": "ddpm",
    "q_sample": "ddpm",
    "sample": "ddpm",
    "sample_inter": "ddpm",
    "sampling_timesteps": "ddpm",
    "step": "ddpm",
    "PRESETS": "schedule",
    "SIGMAS": "schedule",
    "Schedule": "schedule",
    "UNetHo": "unet_ho",
    "UNetHoConfig": "unet_ho",
    "UNetSu": "unet_su",
    "UNetSuConfig": "unet_su",
})

__all__ = [
    "PRESETS", "SIGMAS", "Schedule",
    "q_sample", "ddpm_loss", "step", "sample", "sample_inter", "sampling_timesteps", "null_class", "GaussianEps",
    "UNetSu", "UNetSuConfig", "UNetHo", "UNetHoConfig",
]
