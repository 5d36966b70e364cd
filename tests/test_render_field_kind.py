"""A field representation's ``kind`` is ``"density"`` or ``"sdf"``: the volume renderer refuses any other in one
sentence naming the class and the kind it likely meant, where a misspelt ``"densty"`` was rendered as an SDF and
refused for the ``sdf_sharpness`` an SDF needs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.core import Radiance
from zoo3d.errors import PluginError
from zoo3d.render import VolumeRenderer


@dataclass
class Fog:
    """A uniform grey field of raw density 1 in the box [-0.3, 0.3]^3."""

    kind: str = "density"
    bounds: float = 0.3

    def query(self, points, dirs):
        return Radiance(rgb=torch.full_like(points, 0.5), sigma=torch.ones(*points.shape[:-1], 1))


def test_a_kind_that_is_neither_density_nor_sdf_is_named():
    renderer, camera = VolumeRenderer(num_samples=4), Camera.from_angles([0.0], 0.0)
    with pytest.raises(PluginError) as refused:
        renderer.render(Fog(kind="densty"), camera, (2, 2))
    assert str(refused.value) == ("Fog.kind is 'densty', and a field's kind is 'density' or 'sdf' (did you mean "
                                  "'density'?); the volume renderer turns the one into opacity by density, the other "
                                  "by signed distance (docs/plugins.md, The model interface).")
    out = renderer.render(Fog(), camera, (2, 2))  # spelt right, it renders: the same grey on every pixel
    assert torch.allclose(out.rgb, out.rgb[:, :, :1, :1].expand_as(out.rgb))


@pytest.mark.parametrize("sampling", ["sections", "eg3d"])
def test_render_rays_refuses_it_too(sampling):
    """``render_rays`` is public (a plugin's own ray batches), so it checks the kind itself, under either sampling."""
    renderer = VolumeRenderer(num_samples=4, sampling=sampling)
    origins, dirs = torch.tensor([[[0.0, 0.0, 1.0]]]), torch.tensor([[[0.0, 0.0, -1.0]]])
    with pytest.raises(PluginError, match=r"^Fog.kind is 'sdff', and a field's kind is 'density' or 'sdf' \(did you "
                                          r"mean 'sdf'\?\)"):
        renderer.render_rays(Fog(kind="sdff"), origins, dirs)
