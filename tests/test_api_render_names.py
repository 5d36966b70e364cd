"""What docs/rendering.md calls by its bare name is importable from ``zoo3d.render``, the package the page is about.

The page writes calls such as ``render(..., draws=SampleDraws(jitter, importance))`` and ``magnified(textured,
factor=4)``; every function or class so named that one of ``zoo3d.render``'s modules defines must be one of the
package's names, so a reader never has to find the private module it lives in. ``SampleDraws`` from the package is
then used as the page says: in eval mode its coarse draws place sample k of [near, far] cut into S bins at
``near + (k + u_k) (far - near) / S``, and a uniform medium of density σ renders an opacity of
``1 - exp(-σ (far - near))`` whatever the draws (the page's midpoint quadrature).
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re
from dataclasses import dataclass

import torch

import zoo3d.render
from conftest import REPO
from zoo3d.cameras import Camera
from zoo3d.core import Radiance
from zoo3d.render import SampleDraws, VolumeRenderer


def _defined_in_render_modules() -> dict[str, str]:
    """Every function and class a ``zoo3d.render`` module defines, with the module that defines it."""
    found = {}
    for info in pkgutil.iter_modules(zoo3d.render.__path__):
        module = importlib.import_module(f"zoo3d.render.{info.name}")
        for name, obj in vars(module).items():
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
                found[name] = module.__name__
    return found


def test_every_render_name_the_page_calls_is_a_name_of_zoo3d_render():
    page = (REPO / "docs" / "rendering.md").read_text(encoding="utf-8")
    called = set(re.findall(r"(?<![\w.])([A-Za-z_]\w*)\(", page))
    defined = _defined_in_render_modules()
    named = sorted(called & set(defined))
    assert {"ManifoldRenderer", "VolumeRenderer", "SampleDraws", "magnified", "composite"} <= set(named)
    missing = [f"{name} ({defined[name]})" for name in named if name not in zoo3d.render.__all__]
    assert missing == [], f"rendering.md calls these, which only their private module gives: {missing}"
    for name in named:
        assert getattr(zoo3d.render, name) is getattr(importlib.import_module(defined[name]), name)


@dataclass
class UniformMedium:
    """A density field of the same raw density everywhere (ReLU-activated: sigma = raw), grey."""

    sigma: float
    kind: str = "density"
    bounds: float = 1.0

    def query(self, points, dirs):
        ones = torch.ones(*points.shape[:-1], 1, dtype=points.dtype)
        return Radiance(rgb=0.5 * ones.expand(*points.shape[:-1], 3), sigma=self.sigma * ones)


def test_sample_draws_from_the_package_place_the_samples_the_page_gives():
    near, far, samples, side = 0.9, 1.1, 5, 2
    renderer = VolumeRenderer(num_samples=samples, near=near, far=far, density_activation="relu").eval()
    u = torch.rand(1, side * side, samples, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    camera = Camera.from_angles(0.0, 0.0, dtype=torch.float64)
    out = renderer.render(UniformMedium(sigma=7.0), camera, (side, side), draws=SampleDraws(jitter=u))
    t = out.extras["t"].permute(0, 2, 3, 1).reshape(1, side * side, samples)      # (B, H*W, S), rays row-major
    expected = near + (torch.arange(samples, dtype=torch.float64) + u) * (far - near) / samples
    torch.testing.assert_close(t, expected, rtol=0, atol=1e-12)
    opacity = 1 - math.exp(-7.0 * (far - near))       # to the 1e-10 the transmittance adds per sample
    torch.testing.assert_close(out.alpha, torch.full_like(out.alpha, opacity), rtol=0, atol=samples * 1e-10)
