"""Every built-in model runs as a bf16 module on the CPU (``gen.to(torch.bfloat16)``, no autocast) and renders
about what it renders in float32: no layer hands a wider dtype to a bf16 one."""

import pytest
import torch

from zoo3d.config import load_run_config
from zoo3d.plugins import get_host, get_model_spec

MODELS = ["gram", "gram_hd", "gram_inverter", "pigan", "stylesdf", "triplane"]

pytestmark = pytest.mark.usefixtures("single_thread")


def test_the_list_is_every_built_in_model_with_weights():
    """A built-in model added later is in the list (the procedural oracles, with no weights, are not)."""
    host = get_host()
    trained = {spec.name for spec in host.models
               if host.plugins[spec.plugin].source == "zoo3d" and spec.load().requires_checkpoint}
    assert trained == set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_a_bf16_generator_renders_in_bf16_close_to_float32(name):
    spec = get_model_spec(name)
    plugin = spec.load()
    torch.manual_seed(0)
    gen = plugin.build(load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny"))["generator"].eval()
    z = torch.randn(2, gen.z_dim, generator=torch.Generator().manual_seed(0))
    cams = gen.camera_prior.sample(2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        single = gen(z, cams, resolution=(8, 8)).rgb
        half = gen.to(torch.bfloat16)(z.to(torch.bfloat16), cams, resolution=(8, 8)).rgb
    assert half.dtype == torch.bfloat16
    # bf16 keeps 8 bits of mantissa: an error of about 1e-2 after a few layers, below the images' own spread
    error = float((half.float() - single).abs().mean())
    assert error < 0.03 and error < 0.5 * float(single.std())
