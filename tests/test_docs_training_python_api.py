"""docs/training.md's block for images and depths of given seeds from Python, run as a notebook runs it.

The block is executed as written on a toy run, with ``m`` loaded as the page's first block loads it: its latents must
be the seeds' (``zoo3d sample``'s instances), its cameras the yaws and pitch it names, and its images those that
``zoo3d sample`` renders (``zoo3d.train.sampling.render_views``) mapped to [0, 1].
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from test_runs_load import toy  # noqa: F401 (a fixture: the toy models with a runs root in tmp_path)
from zoo3d.cameras import Camera
from zoo3d.launch import train_model
from zoo3d.runs import load_model
from zoo3d.train.sampling import render_views, seed_latents

TRAINING_MD = Path(__file__).resolve().parents[1] / "docs" / "training.md"


def sampling_block() -> str:
    section = TRAINING_MD.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "seed_latents" in b)


def test_the_sampling_block_draws_the_seeds_zoo3d_sample_draws(toy):
    run = train_model("toy", steps=1, progress=False).run_dir
    scope = {"m": load_model(str(run), device="cpu")}
    exec(sampling_block(), scope)
    g, p = scope["g"], scope["p"]
    assert torch.equal(scope["z"], seed_latents([0, 1, 2], g.z_dim))
    cams = Camera.from_angles([-0.3, 0.0, 0.3], p.centre_pitch, p.radius, p.fov)
    assert torch.equal(scope["cams"].to_eg3d(), cams.to_eg3d())
    expected = render_views(g, scope["z"], cams, psi=0.7)
    assert torch.equal(scope["images"], ((expected.rgb + 1) / 2).clamp(0, 1))
    assert scope["out"].rgb.grad_fn is None and scope["images"].shape == (3, 3, *g.resolution)
