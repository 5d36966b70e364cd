"""Registers the pigan model with zoo3d (kept import-light: no torch here)."""

from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec

HERE = Path(__file__).resolve().parent  # presets and card ship inside the package


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(
        name="pigan",
        factory="zoo3d_pigan.model:PiGanModel",
        aliases=("pi-gan",),
        summary="pi-GAN-style: FiLM-SIREN NeRF with mapping network, hierarchical sampling, pose-regressing D",
        kind="generator",
        presets_dir=HERE / "presets",
        card=HERE / "card.yaml",
        roles=("bench:zoo",),
    ))
