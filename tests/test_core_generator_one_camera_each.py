"""A generator's call renders latent i from camera i: a count mismatch is one sentence, for every built-in model.

Before, one latent with three cameras failed deep inside GRAM's, GRAM-HD's, GRAMInverter's and the tri-plane's
renderers with a shape error, and pi-GAN and StyleSDF broadcast it without a word (three views where the caller may
have meant three instances)."""

from __future__ import annotations

import pytest
import torch

from zoo3d.plugins import get_host

pytestmark = pytest.mark.usefixtures("single_thread")

MODELS = ["gram", "gram_hd", "gram_inverter", "triplane", "stylesdf", "pigan", "oracle"]


def test_the_list_is_every_built_in_generator_and_inverter():
    """A built-in model added later is in the list (kind ``calibration``, ``oracle_inconsistent``, is left out)."""
    host = get_host()
    assert {spec.name for spec in host.models
            if host.plugins[spec.plugin].source == "zoo3d" and spec.kind != "calibration"} == set(MODELS)


@pytest.fixture(scope="module")
def generators():
    from conftest import load_tiny_config

    out = {}
    for name in MODELS:
        torch.manual_seed(0)
        out[name] = get_host().models.get(name).load().build(load_tiny_config(name))["generator"].eval()
    return out


@pytest.mark.parametrize("name", MODELS)
def test_one_latent_and_three_cameras_is_refused_naming_both_counts(generators, name):
    gen = generators[name]
    g = torch.Generator().manual_seed(1)
    with pytest.raises(ValueError) as caught:
        gen(gen.sample_z(1, generator=g), gen.sample_cameras(3, generator=g), resolution=(8, 8))
    assert str(caught.value).startswith("1 latent and 3 cameras: a generator renders each latent from its own camera")


@pytest.mark.parametrize("name", ["gram", "pigan", "oracle"])
def test_the_latent_repeated_per_camera_renders_each_view(generators, name):
    gen = generators[name]
    g = torch.Generator().manual_seed(2)
    z, cams = gen.sample_z(1, generator=g), gen.sample_cameras(3, generator=g)
    with torch.no_grad():
        views = gen(z.expand(3, -1), cams, resolution=(8, 8)).rgb
        second = gen(z, cams[1:2], resolution=(8, 8)).rgb
    assert torch.allclose(views[1:2], second, atol=1e-5)  # view i is the instance from camera i
