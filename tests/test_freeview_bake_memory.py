"""GRAM's free-view bake (``zoo3d export --texture-resolution R``) is refused in one sentence when its maps cannot fit
in the memory a command may hold, before the radiance network is asked for a texel: at R = 4096 the tiny preset's 24
maps need some 26 GB (64 bytes a texel; 60 measured at R = 1024), and the bake began, half an hour of work bound to
run out of memory on a machine that holds less."""

from __future__ import annotations

import pytest
import torch

from test_gram_generator_glue import tiny
from zoo3d import limits
from zoo3d.cameras import Camera
from zoo3d.errors import UserError


def test_a_bake_over_the_memory_budget_is_refused_before_any_texel_and_one_within_it_is_made(monkeypatch):
    gen = tiny()  # 6 levels and the background plane: 7 maps
    rep = gen.represent(torch.randn(1, 8))
    asked = []
    query = rep.query
    rep.query = lambda points, dirs: asked.append(points.shape[1]) or query(points, dirs)
    monkeypatch.setattr(limits, "memory_budget", lambda: 2**20)
    with pytest.raises(UserError) as err, torch.no_grad():
        gen.textured_layers(rep, Camera.from_angles(0.0, 0.0), texture_resolution=64)  # 7 x 64² x 64 bytes
    assert str(err.value) == ("--texture-resolution 64 asks for 7 maps of 64x64 texels, which need about 1.8 MiB of "
                              "memory, more than the 1.0 MiB a command may hold (half the memory available now); ask "
                              "for a smaller resolution.")
    assert asked == []
    with torch.no_grad():  # 7 x 32² x 64 bytes: 0.4 MiB
        layers = gen.textured_layers(rep, Camera.from_angles(0.0, 0.0), texture_resolution=32)
    assert layers.textured.maps.shape == (1, 6, 4, 32, 32) and sum(asked) == 7 * 32 * 32


def test_the_bake_counts_no_background_map_for_a_model_without_the_plane(monkeypatch):
    gen = tiny(background_z=None)  # GRAM's CARLA setting: 6 maps
    monkeypatch.setattr(limits, "memory_budget", lambda: 6 * 16 * 16 * 64)
    with torch.no_grad():
        rep = gen.represent(torch.randn(1, 8))
        assert gen.textured_layers(rep, Camera.from_angles(0.0, 0.0), texture_resolution=16).textured.maps.shape[1] == 6
        with pytest.raises(UserError, match=r"^--texture-resolution 17 asks for 6 maps of 17x17 texels"):
            gen.textured_layers(rep, Camera.from_angles(0.0, 0.0), texture_resolution=17)
