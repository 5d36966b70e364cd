"""Inversion shared by every generator: the optimisation inverter (latent + optional PTI tuning), the
latent-space protocol generators implement to be inverted in W/W+, reconstruction losses, and the
per-image outputs of ``zoo3d invert`` (reconstruction, turntable, depth, metrics.json) and the inversion it saves
(inversion.safetensors), which :func:`load_inversion` loads again."""

from zoo3d.invert.latent import LatentSpace, SupportsLatentSpaces, available_spaces, resolve_space
from zoo3d.invert.losses import PerceptualLoss, perceptual_for, pixel_loss, reconstruction_loss
from zoo3d.invert.optimize import OptimizationInverter, OptimizeSettings, keeps_geometry
from zoo3d.invert.saved import load_inversion

__all__ = ["LatentSpace", "SupportsLatentSpaces", "available_spaces", "resolve_space", "PerceptualLoss",
           "perceptual_for", "pixel_loss", "reconstruction_loss", "OptimizationInverter", "OptimizeSettings",
           "keeps_geometry", "load_inversion"]
