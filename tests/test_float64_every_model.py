"""Every built-in model renders in float64, and from cameras of another dtype, as it does in float32.

No model may hard-code a dtype: a float64 generator (a gradient check, a parity run) must compute in
float64 throughout, and cameras are cast to the generator's dtype and device before rendering.
"""

import pytest
import torch

from zoo3d.config import load_run_config
from zoo3d.plugins import get_model_spec

MODELS = ["gram", "gram_hd", "gram_inverter", "pigan", "stylesdf", "triplane"]

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("name", MODELS)
def test_float64_render_matches_float32_and_takes_cameras_of_any_dtype(name):
    spec = get_model_spec(name)
    plugin = spec.load()
    config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny")
    torch.manual_seed(0)
    gen = plugin.build(config)["generator"].eval()
    z = gen.sample_z(2, generator=torch.Generator().manual_seed(0))
    cams = gen.camera_prior.sample(2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        single = gen(z, cams, resolution=(16, 16)).rgb
        other_cams = gen(z, cams.to(dtype=torch.float64), resolution=(16, 16)).rgb
    assert single.dtype == other_cams.dtype == torch.float32
    torch.testing.assert_close(other_cams, single, rtol=0, atol=1e-6)
    gen = gen.double()
    with torch.no_grad():
        double = gen(z.double(), cams, resolution=(16, 16)).rgb  # float32 cameras into a float64 model
    assert double.dtype == torch.float64
    assert float(single.std()) > 1e-3  # not a blank image: the comparison has something to compare
    torch.testing.assert_close(double, single.double(), rtol=0, atol=1e-4)
    out = gen(z.double(), cams.to(dtype=torch.float64), resolution=(8, 8)).rgb
    out.square().mean().backward()  # the training path (autograd graph) in float64 too
    assert all(p.grad is None or p.grad.dtype == torch.float64 for p in gen.parameters())
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in gen.parameters())


def _tiny(name):
    spec = get_model_spec(name)
    plugin = spec.load()
    torch.manual_seed(0)
    return plugin.build(load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny"))["generator"].eval()


@pytest.mark.parametrize("name", MODELS)
def test_seeded_samples_and_caches_of_a_float64_generator_are_its_float32_ones(name):
    """The seed helpers behind sample, render, export and the viewer draw a seed's latent in float32 and hand it
    over in the generator's dtype."""
    from zoo3d.freeview.cache import cache_instance
    from zoo3d.freeview.protocol import SupportsManifoldCache
    from zoo3d.train.sampling import sample_grid_images

    gen = _tiny(name)
    single = sample_grid_images(gen, [3, 4], psi=0.7, yaws=[0.2], resolution=(8, 8))
    cache = cache_instance(gen, 3) if isinstance(gen, SupportsManifoldCache) else None
    gen = gen.double()
    double = sample_grid_images(gen, [3, 4], psi=0.7, yaws=[0.2], resolution=(8, 8))
    assert float(single.std()) > 1e-3  # images come back in float32 for writing either way
    torch.testing.assert_close(double, single, rtol=0, atol=1e-4)
    if cache is not None:
        cache64 = cache_instance(gen, 3)
        assert len(cache64.layers) == len(cache.layers)
        for a, b in zip(cache64.layers, cache.layers):  # caches are stored in float32 for the rasterizers
            torch.testing.assert_close(a.texture, b.texture, rtol=0, atol=1e-4)
