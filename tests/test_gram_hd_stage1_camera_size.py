"""Before stage 2 begins GRAM-HD's render() is its LR GRAM's, and a renderer given no resolution draws the cameras'
own (``Camera.from_angles(..., resolution=(H, W))``; zoo3d/core/renderer.py), as GRAM does and as GRAM-HD does once
stage 2 begins. A stage-1 GRAM-HD drew the LR square instead: a non-square camera came back square, at another
size than the same checkpoint's GRAM and than the camera asked for."""

from __future__ import annotations

import torch

from zoo3d.cameras import Camera
from zoo3d_gram_hd.generator import GramHDGenerator

from test_gram_hd_consistency import LR, toy_generator


def test_a_stage_one_generator_renders_the_size_its_cameras_hold_as_its_lr_gram_does():
    gen = GramHDGenerator(toy_generator().config).eval()
    assert not bool(gen.super_resolve) and gen.resolution == (LR, LR)
    size = (LR - 2, LR + 4)
    cams = Camera.from_angles(torch.tensor([-0.2, 0.25]), torch.tensor([0.05, -0.1]), resolution=size)
    with torch.no_grad():
        z = gen.sample_z(2, generator=torch.Generator().manual_seed(1))
        out = gen(z, cams)
        gram = gen.lowres(z, cams)
        asked = gen(z, cams, resolution=(LR, LR))  # a resolution given still wins over the cameras'
    assert tuple(out.rgb.shape[-2:]) == size
    assert torch.equal(out.rgb, gram.rgb) and torch.equal(out.depth, gram.depth)
    assert tuple(asked.rgb.shape[-2:]) == (LR, LR)
