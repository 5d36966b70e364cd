"""pi-GAN's and GRAM's W+: per FiLM layer the mapping network's raw frequencies then its phases (what pi-GAN's
``inverse_render.py`` optimises, from their mean over 10000 latents). The W+ code of a z renders that z's scene
exactly, the mean is the seeded mean of the codes, truncation in W+ is the lerp towards it, a broadcast W is not
offered, and a short W+ optimisation fits a render of the same generator."""

from __future__ import annotations

import pytest
import torch

from test_gram_generator_glue import tiny as tiny_gram
from test_pigan_generator_glue import generator as tiny_pigan
from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.invert import (LatentSpace, OptimizationInverter, OptimizeSettings, SupportsLatentSpaces,
                          available_spaces, resolve_space)
from zoo3d_gram.generator import _AVERAGE_STYLE_SEED

BUILDERS = {"pigan": lambda: tiny_pigan().eval(), "gram": tiny_gram}


@pytest.fixture(params=sorted(BUILDERS))
def gen(request):
    return BUILDERS[request.param]()


def mapping_of(gen):
    return gen.mapping if hasattr(gen, "siren") else gen.radiance_net.mapping


def test_a_w_is_one_film_layers_raw_frequencies_then_phases(gen):
    m = mapping_of(gen)
    assert isinstance(gen, SupportsLatentSpaces)
    assert (gen.num_ws, gen.w_dim) == (m.num_film_layers, 2 * m.film_dim)
    z = torch.randn(3, gen.z_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ws = gen.map_latent(z)
        freq, phase = m(z)
    d = m.film_dim
    torch.testing.assert_close(ws[..., :d], (freq - 30.0) / 15.0)  # before upstream's frequencies * 15 + 30
    torch.testing.assert_close(ws[..., d:], phase, rtol=0, atol=0)
    assert not torch.allclose(ws[:, 0], ws[:, 1])  # every layer its own w: no single w to broadcast


def test_the_w_plus_code_of_a_z_is_its_scene_exactly(gen):
    z = torch.randn(2, gen.z_dim, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        a, b = gen.represent(z), gen.represent_ws(gen.map_latent(z))
    torch.testing.assert_close(b.freq, a.freq, rtol=0, atol=0)
    torch.testing.assert_close(b.phase, a.phase, rtol=0, atol=0)
    cam = Camera.from_angles([0.2, -0.3], -0.1, 1.0, 12.0)
    torch.manual_seed(1)
    want = gen.render(a, cam, (6, 6)).rgb
    torch.manual_seed(1)
    torch.testing.assert_close(gen.render(b, cam, (6, 6)).rgb, want, rtol=0, atol=0)


def test_the_mean_w_is_the_mean_code_over_the_seeded_latents_and_truncation_lerps_to_it(gen):
    m = mapping_of(gen)
    samples, seed = gen.mean_latent_draw
    assert (samples, seed) == ((10000, 0) if hasattr(gen, "siren") else (64, _AVERAGE_STYLE_SEED))
    g = torch.Generator().manual_seed(seed)
    z = torch.cat([torch.randn(min(2048, samples - i), gen.z_dim, generator=g) for i in range(0, samples, 2048)])
    with torch.no_grad():
        want = m.codes(z).mean(0, keepdim=True)
        mean = gen.mean_latent()
    assert mean.shape == (1, gen.num_ws, gen.w_dim)
    torch.testing.assert_close(mean, want, rtol=1e-5, atol=1e-5)
    assert gen.mean_latent() is mean  # kept while the weights stay
    z2 = torch.randn(2, gen.z_dim)
    with torch.no_grad():
        ws, near = gen.map_latent(z2), gen.map_latent(z2, psi=0.7)  # not 0.5: a lerp the wrong way round
        # the same scene as represent's truncation of the scaled frequencies, up to rounding
        torch.testing.assert_close(gen.represent_ws(near).freq, gen.represent(z2, psi=0.7).freq)
    torch.testing.assert_close(near, mean + 0.7 * (ws - mean))
    with torch.no_grad():
        m.out.bias.add_(1.0)
    assert not torch.allclose(gen.mean_latent(), mean)


def test_spaces_are_z_and_w_plus_and_auto_searches_w_plus_from_each_layers_mean(gen):
    assert available_spaces(gen) == ("z", "w+") and resolve_space(gen, "auto") == "w+"
    with pytest.raises(UserError) as err:
        resolve_space(gen, "w")
    assert str(err.value) == ("This generator can be inverted in z, w+ only, not 'w' (its mapping network gives "
                              "every layer a w of its own (W+), so no single w is broadcast to all).")
    latent = LatentSpace(gen, "auto", batch=2)
    with torch.no_grad():
        torch.testing.assert_close(latent.param, gen.mean_latent().expand(2, -1, -1), rtol=0, atol=0)


def test_a_short_w_plus_optimisation_fits_a_render_of_the_same_generator_better_than_z():
    gen = tiny_pigan().eval()
    cam = Camera.from_angles(0.1, 0.05, 1.0, 12.0)
    with torch.no_grad():
        target = gen.render(gen.represent(torch.randn(1, gen.z_dim, generator=torch.Generator().manual_seed(9))),
                            cam, (6, 6)).rgb
    losses = {}
    for space in ("z", "w+"):
        torch.manual_seed(0)
        inv = OptimizationInverter(gen, OptimizeSettings(space=space, steps=15, lr=0.01, pixel="l2",
                                                         perceptual_weight=0.0))
        result = inv.invert(target, cam)
        assert result.extras["space"] == space
        losses[space] = result.extras["losses"]
    assert losses["w+"][-1] < 0.5 * losses["w+"][0]
    assert losses["w+"][-1] < losses["z"][-1]
