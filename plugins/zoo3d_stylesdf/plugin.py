"""Registers the stylesdf model with zoo3d (kept import-light: no torch here)."""

from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec

HERE = Path(__file__).resolve().parent  # presets and card ship inside the package


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(
        name="stylesdf",
        factory="zoo3d_stylesdf.model:StyleSDFModel",
        aliases=("style_sdf",),  # "styleSDF" already matches "stylesdf" after normalisation
        summary="StyleSDF-style: FiLM-SIREN SDF volume renderer (sigmoid SDF->density) + StyleGAN2 2D decoder",
        kind="generator",
        presets_dir=HERE / "presets",
        card=HERE / "card.yaml",
        roles=("bench:zoo",),
    ))
