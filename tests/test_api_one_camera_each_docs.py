"""plugins.md tells a generator with a ``forward`` of its own to call the base class's one-camera-per-latent check;
the name it gives resolves, and a forward that calls it refuses one latent with three cameras in the sentence the
base class's call gives (naming render_instance), where the page gave a bare name no ``zoo3d`` module exports."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import torch

from zoo3d.cameras import CameraPrior
from zoo3d.core import Generator, RenderOutput

PAGE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def _documented_check():
    text = re.sub(r"\s+", " ", PAGE.read_text(encoding="utf-8"))
    found = re.search(r"`(zoo3d(?:\.\w+)+)\.check_one_camera_each\(z, cameras\)`; call it in a `forward` of your own",
                      text)
    assert found, "plugins.md no longer names the check a forward of one's own calls"
    return getattr(importlib.import_module(found.group(1)), "check_one_camera_each")


class Flat(Generator):
    """A generator whose own forward calls the documented check, then paints each image its latent's first value."""

    def __init__(self):
        super().__init__()
        self.z_dim, self.resolution, self.camera_prior = 2, (4, 4), CameraPrior()
        self.check = _documented_check()

    def represent(self, z, psi=1.0):
        return z

    def render(self, representation, cameras, resolution=None):
        rgb = representation[:, :1, None, None].expand(-1, 3, 4, 4).tanh()
        return RenderOutput(rgb=rgb, depth=torch.ones(len(rgb), 1, 4, 4), alpha=torch.ones(len(rgb), 1, 4, 4))

    def forward(self, z, cameras, psi=1.0, resolution=None):
        self.check(z, cameras)
        return self.render(self.represent(z, psi), cameras, resolution)


def test_a_forward_of_ones_own_refuses_a_latent_with_several_cameras_as_the_base_class_does():
    gen, cameras = Flat(), CameraPrior().sample(3)
    z = torch.zeros(1, 2)
    with pytest.raises(ValueError) as own:
        gen(z, cameras)
    with pytest.raises(ValueError) as base:
        Generator.forward(gen, z, cameras)
    assert str(own.value) == str(base.value)
    assert str(own.value).startswith("1 latent and 3 cameras: a generator renders each latent from its own camera")
    assert "zoo3d.eval.metric.render_instance" in str(own.value)
    out = gen(torch.tensor([[0.5, 0.0], [-0.5, 0.0], [0.0, 0.0]]), cameras)
    assert torch.allclose(out.rgb[:, 0, 0, 0], torch.tanh(torch.tensor([0.5, -0.5, 0.0])))
