"""A float64 generator computes in float64 throughout: its render is smooth in the latent at float64's scale.

Agreement with the float32 render (``test_float64_every_model.py``) cannot tell a float64 pass from one that
rounds somewhere through float32 and back; difference quotients can. Along a direction v in latent space,
(f(z + h v) - f(z - h v)) / 2h at h = 1e-7 agrees with h = 1e-5 to ~1e-8 in float64, while a float32 step on
the way rounds f by ~1e-7 and makes the smaller quotient noise of order one.
"""

import pytest
import torch

from zoo3d.config import load_run_config
from zoo3d.plugins import get_model_spec

MODELS = ["gram", "gram_hd", "gram_inverter", "pigan", "stylesdf", "triplane"]

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("name", MODELS)
def test_float64_render_difference_quotients_agree_at_float64_steps(name):
    spec = get_model_spec(name)
    plugin = spec.load()
    torch.manual_seed(0)
    gen = plugin.build(load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny"))["generator"]
    gen = gen.eval().double()
    z = gen.sample_z(1, generator=torch.Generator().manual_seed(0)).double()
    cams = gen.camera_prior.sample(1, generator=torch.Generator().manual_seed(1))
    v = torch.randn(z.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    w = torch.randn(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def f(latent):  # a fixed random projection of the 8x8 image (not at the native resolution: resized too)
        out = gen(latent, cams, resolution=(8, 8)).rgb
        assert out.dtype == torch.float64
        return float((out * w).sum())

    with torch.no_grad():
        coarse, fine = ((f(z + h * v) - f(z - h * v)) / (2 * h) for h in (1e-5, 1e-7))
    assert abs(coarse) > 1e-2  # the render moves with the latent: there is something to differentiate
    assert fine == pytest.approx(coarse, rel=1e-3)
