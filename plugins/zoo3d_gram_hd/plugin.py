"""Registers the gram_hd model with zoo3d (kept import-light: no torch here)."""

from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec

HERE = Path(__file__).resolve().parent  # presets and card ship inside the package


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(
        name="gram_hd",
        factory="zoo3d_gram_hd.model:GramHDModel",
        aliases=["gramhd"],
        kind="generator",
        summary="GRAM-HD: super-resolution on GRAM's radiance manifolds, strictly 3D-consistent HR images, ICCV 2023.",
        presets_dir=HERE / "presets",
        card=HERE / "card.yaml",
        requires=("gram",),  # builds on zoo3d_gram's public API
        roles=("demo", "bench:models", "bench:freeview", "bench:zoo"),
        default_preset="tiny",
    ))
