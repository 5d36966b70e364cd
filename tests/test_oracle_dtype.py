"""The oracle renders in its own dtype, as every generator does (cameras are cast to it): a float64 oracle is
float64 from float32 cameras, and computes in float64 throughout.

The second is told by difference quotients along a latent direction v, as in ``test_float64_models_smooth.py``:
(f(z + h v) - f(z - h v)) / 2h at h = 1e-7 agrees with h = 1e-5 when the render is float64 all the way, while a
float32 step on the way makes the smaller quotient rounding noise (off by a factor of ten or more)."""

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.plugins import get_model_spec


@pytest.mark.parametrize("name", ["oracle", "oracle_inconsistent"])
def test_a_float64_oracle_renders_float32_cameras_in_float64(name):
    plugin = get_model_spec(name).load()
    gen = plugin.build(plugin.config_class())["generator"].to(torch.float64)
    z = torch.randn(1, gen.z_dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    cams = Camera.from_angles([0.25], [0.1])  # float32
    out = gen(z, cams, resolution=(12, 12))
    assert out.rgb.dtype == out.depth.dtype == torch.float64
    assert torch.equal(out.rgb, gen(z, cams.to(dtype=torch.float64), resolution=(12, 12)).rgb)
    v = torch.randn(z.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    w = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)

    def f(latent):  # a fixed random projection of the image and of the depth
        out = gen(latent, cams, resolution=(12, 12))
        return torch.stack([(out.rgb * w).sum(), (out.depth * w[:, :1]).sum()])

    with torch.no_grad():
        coarse, fine = ((f(z + h * v) - f(z - h * v)) / (2 * h) for h in (1e-5, 1e-7))
    assert (coarse.abs() > 1e-3).all()  # image and depth move with the latent: there is something to differentiate
    torch.testing.assert_close(fine, coarse, rtol=1e-4, atol=0)


def test_a_float32_oracle_renders_float64_cameras_in_float32():
    plugin = get_model_spec("oracle").load()
    gen = plugin.build(plugin.config_class())["generator"]
    z = torch.randn(1, gen.z_dim, generator=torch.Generator().manual_seed(3))
    out = gen(z, Camera.from_angles([0.25], [0.1], dtype=torch.float64), resolution=(12, 12))
    assert out.rgb.dtype == torch.float32
