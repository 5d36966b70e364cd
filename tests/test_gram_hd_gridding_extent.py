"""GRAM-HD grids its manifolds over [-fov/100, fov/100]^2 (``generators/renderers/manifold_sr_renderer.py``:
``linspace(-fov/100, fov/100)``), the fov of its cameras: 0.12 at the 12 degrees of every configuration it ships.
zoo3d takes the camera prior's fov the same way unless ``generator.extent`` is given."""

from __future__ import annotations

import math

import pytest
import torch

from test_gram_hd_config import _load
from test_gram_hd_consistency import LR, toy_generator
from test_gram_hd_generator import _with
from zoo3d.cameras import Camera, CameraPrior
from zoo3d.render.gridding import fov_extent
from zoo3d_gram_hd.model import GramHDModel


@pytest.mark.parametrize("fov", [12.0, 18.0])
def test_the_gridded_square_holds_everything_the_priors_frontal_camera_sees(fov):
    """Rays of the prior's mean camera, out to ``far`` along them, stay inside the square the HR maps cover. The
    farthest reach in x is the edge pixel next to the middle row, its ray along (a, b, 1) / |.| with a = tan(fov / 2)
    15 / 16 and b = tan(fov / 2) / 16 (pixel centres of 16): |x| = 1.12 a / sqrt(1 + a^2 + b^2), 0.110 at 12 degrees
    and 0.164 at 18, inside 0.12 and 0.18."""
    gen = _with(toy_generator(), CameraPrior(fov=fov))
    far = gen.config.lowres.render.far
    origins, dirs = Camera.from_angles(0.0, 0.0, fov=fov).rays(LR, LR)
    reach = (origins + far * dirs)[..., :2].abs().max().item()
    assert gen.extent == pytest.approx(fov / 100)
    a, b = (math.tan(math.radians(fov / 2)) * k / LR for k in (LR - 1, 1))
    assert reach == pytest.approx(far * a / math.sqrt(1 + a * a + b * b), rel=1e-5)
    assert reach < gen.extent


def test_a_given_extent_is_kept_whatever_the_fov():
    assert _with(toy_generator(), CameraPrior(fov=18.0), extent=0.15).extent == 0.15


def test_a_preset_run_at_another_fov_grids_at_that_fov():
    """``zoo3d train gram-hd --preset tiny --set camera.fov=18``: the generator grids +-0.18, not the 0.12 of 12
    degrees; at the preset's own 12 degrees it grids +-0.12, as before."""
    assert fov_extent(12.0) == 0.12
    for fov, extent in ((None, 0.12), (18.0, 0.18)):
        cfg = _load("tiny", [] if fov is None else [f"camera.fov={fov}"])
        assert cfg.generator.extent is None
        torch.manual_seed(0)
        assert GramHDModel().build(cfg)["generator"].extent == pytest.approx(extent)
