"""Registers the oracle models with zoo3d (kept import-light: no torch here).

``oracle`` renders the procedural synthetic-heads family itself: the perfectly 3D-consistent
reference for consistency metrics. ``oracle_inconsistent`` (kind ``calibration``) renders it
at a quarter of the resolution and upsamples with a view-dependent 2D warp and per-view
noise, so metrics can be shown to rank consistency correctly.
"""

from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec

HERE = Path(__file__).resolve().parent  # presets and card ship inside the package


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(
        name="oracle",
        factory="zoo3d_oracle.model:OracleModel",
        kind="generator",
        summary="The synthetic-heads family as a generator: exact geometry, depth and 3D consistency (nothing to train).",
        presets_dir=HERE / "presets",
        card=HERE / "card.yaml",
        roles=("bench:zoo-control",),
    ))
    register(ModelSpec(
        name="oracle_inconsistent",
        factory="zoo3d_oracle.model:InconsistentOracleModel",
        kind="calibration",
        summary="The oracle at 1/4 resolution brought up by a view-dependent 2D warp plus per-view noise "
                "(a deliberately inconsistent model for checking metrics).",
        presets_dir=HERE / "presets",
        card=HERE / "inconsistent_card.yaml",
        roles=("bench:zoo-control",),
    ))
