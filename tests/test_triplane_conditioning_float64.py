"""A float64 tri-plane generator's default mapping label, the prior's frontal camera, is computed in float64."""

from __future__ import annotations

import math

import torch

from test_triplane_training import _config
from zoo3d.cameras import CameraPrior
from zoo3d_triplane.generator import TriplaneGenerator


def test_the_default_label_of_a_float64_generator_is_the_frontal_camera_in_float64():
    cfg = _config(["generator.c_scale=2.0"])
    yaw, pitch, radius, fov = 0.3, 0.2, 2.7, 18.0
    prior = CameraPrior(yaw_mean=yaw, pitch_mean=pitch, radius=radius, fov=fov)
    label = TriplaneGenerator(cfg.generator, prior).double().conditioning(2)
    assert label.dtype == torch.float64
    # closed form: the camera centre r (-cos p sin y, sin p, cos p cos y) (row-major 4x4 entries 3, 7, 11) and
    # the normalised focal 0.5 / tan(fov / 2) (entries 16 and 20), each times c_scale; float32 misses by ~1e-7
    eye = [-math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)]
    focal = 0.5 / math.tan(math.radians(fov) / 2)
    expected = torch.tensor([2.0 * radius * e for e in eye] + [2.0 * focal] * 2, dtype=torch.float64)
    torch.testing.assert_close(label[:, [3, 7, 11, 16, 20]], expected.expand(2, 5), rtol=0, atol=1e-14)
