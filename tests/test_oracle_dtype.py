"""The oracle renders in its own dtype, as every generator does (cameras are cast to it): a float64 oracle is
float64 from float32 cameras, and its images are the float64 renders of the same heads."""

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.data.head_model import params_from_latent
from zoo3d.data.synthetic import render_heads
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
    if name == "oracle":
        ref = render_heads(params_from_latent(z), cams.to(dtype=torch.float64), 12)
        torch.testing.assert_close(out.depth, ref["depth"], rtol=0, atol=0)


def test_a_float32_oracle_renders_float64_cameras_in_float32():
    plugin = get_model_spec("oracle").load()
    gen = plugin.build(plugin.config_class())["generator"]
    z = torch.randn(1, gen.z_dim, generator=torch.Generator().manual_seed(3))
    out = gen(z, Camera.from_angles([0.25], [0.1], dtype=torch.float64), resolution=(12, 12))
    assert out.rgb.dtype == torch.float32
