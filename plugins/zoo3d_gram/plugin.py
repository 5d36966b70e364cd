"""Registers the gram model with zoo3d (kept import-light: no torch here)."""

from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec

HERE = Path(__file__).resolve().parent  # presets and card ship inside the package


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(
        name="gram",
        factory="zoo3d_gram.model:GramModel",
        kind="generator",
        summary="GRAM: generative radiance manifolds (shared scalar-field manifolds + FiLM-SIREN radiance), CVPR 2022.",
        presets_dir=HERE / "presets",
        card=HERE / "card.yaml",
        roles=("bench:models", "bench:zoo"),
    ))
