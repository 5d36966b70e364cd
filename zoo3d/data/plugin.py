"""Registers the built-in dataset schemes (import-light: no torch here).

Folder and zip paths (EG3D ``dataset.json``, GRAM ``poses/``, zoo3d ``poses.json``) need no
registration: :func:`zoo3d.data.build_dataset` detects them.
"""

from zoo3d import hookimpl
from zoo3d.specs import DatasetSpec


@hookimpl
def zoo3d_register_datasets(register):
    register(DatasetSpec(
        name="synthetic:heads",
        factory="zoo3d.data.synthetic:build_synthetic_heads",
        aliases=("synthetic", "heads"),
        summary="Procedural heads with ground-truth camera, depth and mask, rendered on the fly "
                "(options: ?count=10000&seed=0&cache=1).",
    ))
