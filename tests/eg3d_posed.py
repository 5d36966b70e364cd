"""Data posed as EG3D's own FFHQ release is (cameras 2.7 from the origin, focal 4.2647), for the tests of the models
that refuse such data against their own scene, and the command-line check they share: refused with status 2, one
sentence, no checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.cameras import Camera

EG3D_FOCAL = 4.2647  # EG3D's FFHQ and AFHQ labels (dataset_preprocessing/*: 2985.29 / 700)
EG3D_FOV = math.degrees(2 * math.atan(0.5 / EG3D_FOCAL))  # 13.37 deg
EG3D_RADIUS = 2.7


def write_eg3d_folder(root: Path, radius: float = EG3D_RADIUS, fov: float = EG3D_FOV) -> Path:
    """Four 16-px images and a dataset.json of EG3D's labels, cameras at ``radius`` with a ``fov`` deg view."""
    (root / "images").mkdir(parents=True)
    labels = []
    for i, yaw in enumerate([0.0, 0.2, -0.2, 0.1]):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(root / "images" / f"{i}.png")
        cam = Camera.from_angles(torch.tensor([yaw], dtype=torch.float64), 0.0, radius, fov)
        labels.append([f"images/{i}.png", cam.to_eg3d()[0].tolist()])
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


def refused_before_a_checkpoint(capsys, args: list[str], run: Path) -> str:
    """Run ``zoo3d ARGS`` in this process; assert it stops with status 2, no traceback and no checkpoint under
    ``run``; return what it printed to stderr."""
    from zoo3d.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert not list(run.glob("checkpoints/*.safetensors"))
    return err
