"""Registers the gram_inverter model with zoo3d (kept import-light: no torch here)."""

from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec

HERE = Path(__file__).resolve().parent  # presets and card ship inside the package


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(
        name="gram_inverter",
        aliases=("graminverter",),
        factory="zoo3d_gram_inverter.model:GramInverterModel",
        kind="inverter",
        summary="GRAMInverter: single-pass portrait inversion into Efficient GRAM's radiance manifolds plus "
                "detail manifolds, CVPR 2023.",
        presets_dir=HERE / "presets",
        card=HERE / "card.yaml",
        requires=("gram",),  # builds on zoo3d_gram's public API
        roles=("bench:invert",),
    ))
