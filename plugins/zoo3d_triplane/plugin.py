"""Registers the triplane model with zoo3d (kept import-light: no torch here)."""

from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec

HERE = Path(__file__).resolve().parent  # presets and card ship inside the package


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(
        name="triplane",
        factory="zoo3d_triplane.model:TriplaneModel",
        aliases=("eg3d",),
        kind="generator",
        summary="EG3D-style tri-plane GAN: StyleGAN2 tri-planes, volume rendering, 2D super-resolution, dual D",
        presets_dir=HERE / "presets",
        card=HERE / "card.yaml",
        roles=("bench:zoo",),
    ))
