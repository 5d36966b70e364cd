"""StyleSDF's sharpness alpha (``sigma = sigmoid(-d / alpha) / alpha``) is used as it is, never kept positive.

royorel/StyleSDF ``volume_renderer.py`` makes ``sigmoid_beta`` a bare ``nn.Parameter(0.1)`` and divides by it in
``sdf_activation`` (no abs, clamp or softplus); zoo3d's ``volume.sdf_sharpness`` and ``stylesdf_density`` do the
same. What a render then is on either side of 0, on a field of constant SDF c over [near, far] (length L, which
zoo3d's sections tile exactly): opacity 1 - exp(-L sigmoid(-c / alpha) / alpha), negative for alpha < 0, and
non-finite just below 0, where the engine's rollback takes the step back. Both sample placements give it: the
sections tile [near, far], and EG3D's (``sampling="eg3d"``) intervals between eval-mode samples from near to far
add up to L too.
"""

from __future__ import annotations

import math

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.core.representation import Radiance
from zoo3d.render.volume import VolumeRenderer

NEAR, FAR, C = 0.88, 1.12, 0.01


class ConstantSDF:
    kind = "sdf"
    bounds = 1.0

    def __init__(self, sharpness: float):
        self.sdf_sharpness = torch.tensor(sharpness, dtype=torch.float64)

    def query(self, points, dirs):
        return Radiance(rgb=torch.full_like(points, 0.5), sigma=torch.full_like(points[..., :1], C))


def _alpha(sharpness: float, sampling: str = "sections") -> torch.Tensor:
    renderer = VolumeRenderer(num_samples=8, near=NEAR, far=FAR, sdf_mode="stylesdf", sampling=sampling).eval()
    cam = Camera.from_angles([0.1], [0.0], dtype=torch.float64)
    with torch.no_grad():
        return renderer.render(ConstantSDF(sharpness), cam, (2, 2)).alpha


@pytest.mark.parametrize("sampling", ["sections", "eg3d"])
@pytest.mark.parametrize("a", [0.05, -0.05])
def test_the_opacity_follows_the_sharpness_through_its_sign(a, sampling):
    expected = 1 - math.exp(-(FAR - NEAR) / (1 + math.exp(C / a)) / a)
    assert (expected > 0) == (a > 0)
    torch.testing.assert_close(_alpha(a, sampling), torch.full((1, 1, 2, 2), expected, dtype=torch.float64), rtol=1e-8,
                               atol=0)


@pytest.mark.parametrize("sampling", ["sections", "eg3d"])
def test_just_below_zero_a_render_is_not_finite(sampling):
    """An Adam step of lr (3e-4 in the tiny preset) across 0: sigma about -1 / |alpha| overflows the opacities."""
    assert not torch.isfinite(_alpha(-3e-4, sampling)).all()
