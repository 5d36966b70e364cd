"""``Generator.sample_z`` draws latents in the generator's dtype, the same latents in every dtype, so that
``gen(gen.sample_z(n), gen.sample_cameras(n))`` runs for a generator moved to float64 or bf16."""

import pytest
import torch

from zoo3d.config import load_run_config
from zoo3d.plugins import get_model_spec

MODELS = ["gram", "gram_hd", "gram_inverter", "pigan", "stylesdf", "triplane"]

pytestmark = pytest.mark.usefixtures("single_thread")


def _draws(gen, n=2):
    return (gen.sample_z(n, generator=torch.Generator().manual_seed(0)),
            gen.sample_cameras(n, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("name", MODELS)
def test_a_float64_generator_renders_its_own_latents_as_the_float32_one_does(name):
    spec = get_model_spec(name)
    plugin = spec.load()
    torch.manual_seed(0)
    gen = plugin.build(load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny"))["generator"].eval()
    z32, cams = _draws(gen)
    with torch.no_grad():
        single = gen(z32, cams, resolution=(8, 8)).rgb
    gen = gen.double()
    z64, cams = _draws(gen)
    assert z64.dtype == torch.float64
    assert torch.equal(z64, z32.double())  # drawn in float32: the same instances whatever the dtype
    with torch.no_grad():
        double = gen(z64, cams, resolution=(8, 8)).rgb
    assert double.dtype == torch.float64 and float(single.std()) > 1e-3
    torch.testing.assert_close(double, single.double(), rtol=0, atol=1e-4)


def test_a_bf16_generators_latents_are_the_float32_ones_rounded_to_bf16():
    spec = get_model_spec("gram")
    plugin = spec.load()
    gen = plugin.build(load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny"))["generator"]
    z32 = gen.sample_z(3, generator=torch.Generator().manual_seed(5))
    z16 = gen.to(torch.bfloat16).sample_z(3, generator=torch.Generator().manual_seed(5))
    assert z16.dtype == torch.bfloat16 and torch.equal(z16, z32.to(torch.bfloat16))


def test_a_float64_default_dtype_draws_the_same_latents_as_float32():
    """A script that sets ``torch.set_default_dtype(torch.float64)`` still gets the float32 instances from
    ``sample_z`` and ``seed_latents`` (a float64 draw gives other numbers from the same seed)."""
    from zoo3d.train.sampling import seed_latents

    spec = get_model_spec("gram")
    plugin = spec.load()
    gen = plugin.build(load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny"))["generator"]
    expected = torch.randn(3, gen.z_dim, generator=torch.Generator().manual_seed(5))
    row = torch.randn(1, gen.z_dim, generator=torch.Generator().manual_seed(7))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        drawn = gen.sample_z(3, generator=torch.Generator().manual_seed(5))
        seeded = seed_latents([7], gen.z_dim)
    finally:
        torch.set_default_dtype(previous)
    assert torch.equal(drawn, expected)
    assert torch.equal(seeded.float(), row)
