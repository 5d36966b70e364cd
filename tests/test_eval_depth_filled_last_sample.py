"""The depth metric takes the surface's distance also from renders that fill their last sample.

pi-GAN's inference (``eval_last_back``, its default) and upstream StyleSDF's give a ray's last sample the weight the
others leave, so every ray is opaque, while ``alpha`` stays the opacity before that fill. ``surface_depth`` divided
the filled sum w t by it: a uniform medium of opacity 0.70 between 0.88 and 1.12 measured 1.45, beyond the far
bound, where its surface (sum w t / sum w over the samples) is at 0.98. The metric's foreground sum now leaves the
fill out, as the depth pictures do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.core.outputs import RenderOutput
from zoo3d.eval.depth import surface_depth
from zoo3d.eval.metric import render_instance
from zoo3d.render import VolumeRenderer


class Medium:
    """A uniform medium of density 5 (a stand-in field)."""

    kind, bounds = "density", 1.0

    def query(self, points, dirs):
        from zoo3d.core.representation import Radiance

        return Radiance(rgb=torch.full_like(points, 0.5), sigma=torch.full_like(points[..., :1], 5.0))


class MediumGenerator:
    """A stand-in generator: every latent is the medium, rendered by the shared volume renderer."""

    z_dim = 1

    def __init__(self, fill_last: bool):
        self.renderer = VolumeRenderer(6, near=0.88, far=1.12, density_activation="relu",
                                       eval_fill_last=fill_last).eval()

    def represent(self, z, psi=1.0):
        return Medium()

    def render(self, rep, cameras, resolution=None):
        return self.renderer.render(rep, cameras, resolution)


def _closed_form() -> float:
    a = 1 - np.exp(-0.04 * 5.0)  # six samples at 0.90 + 0.04 k, each section 0.04 long
    w = a * (1 - a) ** np.arange(6)
    return float((w * (0.90 + 0.04 * np.arange(6))).sum() / w.sum())


@pytest.mark.parametrize("fill_last", [False, True])
def test_the_metric_s_surface_distance_ignores_the_filled_last_sample(fill_last):
    cams = Camera.from_angles(torch.tensor([0.0, 0.2]), 0.0, 1.0, 12.0, dtype=torch.float64)
    out = render_instance(MediumGenerator(fill_last), torch.zeros(1, 1, dtype=torch.float64), cams, 1)
    depth = surface_depth(out["depth"], out["alpha"], out["foreground_depth"])
    assert depth.flatten().tolist() == pytest.approx([_closed_form()] * 2, rel=1e-6)
    assert float(out["alpha"].max()) < 0.75  # the opacity before any fill: the fill is not counted as surface


def test_a_render_that_gives_its_foreground_sum_keeps_it():
    depth, fg = torch.full((1, 1, 1, 1), 3.0), torch.full((1, 1, 1, 1), 0.5)
    out = RenderOutput(rgb=torch.zeros(1, 3, 1, 1), depth=depth, alpha=torch.full((1, 1, 1, 1), 0.5),
                       extras={"foreground_depth": fg})
    assert out.foreground_depth_sum() is fg  # GRAM's plane: the renderer's own foreground sum
    plain = RenderOutput(rgb=torch.zeros(1, 3, 1, 1), depth=depth, alpha=torch.ones(1, 1, 1, 1))
    assert plain.foreground_depth_sum() is depth  # nothing to take out
