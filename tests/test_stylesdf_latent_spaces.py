"""StyleSDF's W and W+ (royorel/StyleSDF ``model.py``): the renderer's mapping gives one w that each FiLM-SIREN
layer reads through an affine of its own; the decoder's mapping, fed that w, gives the w its StyleGAN2 layers read.
A W+ code is the renderer's depth + 1 codes then, while the decoder renders, the decoder's, each in a row of the wider
size (the rest zeros), each row read by its own layer and the zeros by none. The code of a z renders that z's pixels
exactly, truncated or not; the mean is both mappings' mean over the seeded latents (StyleSDF's ``mean_latent``); W is
offered only without the decoder; a short W+ search fits a render of the same generator."""

from __future__ import annotations

import pytest
import torch

from test_stylesdf_generator import _generator
from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.invert import OptimizationInverter, OptimizeSettings, SupportsLatentSpaces, available_spaces, resolve_space

RENDERER_CODES = 3  # depth 2 + the view layer


def generator(decoder: bool | None, decoder_w: int = 12):
    """z 8, decoder w 12 (wider, as upstream's 512 against 256) unless given, the decoder rendering or not (None: a
    model without one)."""
    if decoder is None:
        return _generator("generator.decoder.enabled=false").eval()
    gen = _generator(f"generator.decoder.w_dim={decoder_w}").eval()
    gen.decoder_active.fill_(decoder)
    return gen


@pytest.mark.parametrize("decoder", [None, False, True])
@pytest.mark.parametrize("psi", [1.0, 0.7])
def test_the_w_plus_code_of_a_z_renders_its_pixels_exactly(decoder, psi):
    gen = generator(decoder)
    assert (gen.num_ws, available_spaces(gen)) == ((RENDERER_CODES, ("z", "w", "w+")) if not decoder else
                                                   (RENDERER_CODES + gen.decoder.synthesis.num_ws, ("z", "w+")))
    z = torch.randn(2, gen.z_dim, generator=torch.Generator().manual_seed(3))
    cam = Camera.from_angles([0.2, -0.3], -0.1, 1.0, 12.0)
    with torch.no_grad():
        want = gen.render(gen.represent(z, psi), cam).rgb
        got = gen.render(gen.represent_ws(gen.map_latent(z, psi)), cam).rgb
        other = gen.render(gen.represent_ws(gen.map_latent(z.flip(0), psi)), cam).rgb
    assert torch.equal(got, want)
    assert not torch.allclose(other, want)  # the codes are read, not the latents left behind


@pytest.mark.parametrize("decoder, decoder_w, w_dim", [(False, 12, 8), (True, 12, 12), (True, 4, 8)])
def test_the_codes_are_the_renderer_w_per_film_layer_then_the_decoder_w_per_decoder_layer(decoder, decoder_w, w_dim):
    gen = generator(decoder, decoder_w)
    assert isinstance(gen, SupportsLatentSpaces)
    n_dec = gen.decoder.synthesis.num_ws if decoder else 0
    assert (gen.num_ws, gen.w_dim) == (RENDERER_CODES + n_dec, w_dim)  # rows as wide as the wider w
    z = torch.randn(2, gen.z_dim)
    with torch.no_grad():
        ws, w = gen.map_latent(z), gen.volume.mapping(z)
        assert torch.equal(ws[:, :RENDERER_CODES, :8], w[:, None].expand(-1, RENDERER_CODES, -1))
        assert not ws[:, :RENDERER_CODES, 8:].any()  # a narrower renderer row padded with zeros
        if decoder:
            assert torch.equal(ws[:, RENDERER_CODES:, :decoder_w],
                               gen.decoder.mapping(w)[:, None].expand(-1, n_dec, -1))
            assert not ws[:, RENDERER_CODES:, decoder_w:].any()  # and a narrower decoder row


@pytest.mark.parametrize("decoder, decoder_w", [(False, 12), (True, 12), (True, 4)])
def test_each_row_of_a_w_plus_code_is_read_by_its_own_layer_and_the_padding_by_none(decoder, decoder_w):
    gen = generator(decoder, decoder_w)
    ws = torch.randn(2, gen.num_ws, gen.w_dim, generator=torch.Generator().manual_seed(5))  # every row its own
    net, cam = gen.volume.network, Camera.from_angles([0.2, -0.3], -0.1, 1.0, 12.0)
    padded = ws.clone()
    padded[:, :RENDERER_CODES, 8:] = 7.0
    if decoder:
        padded[:, RENDERER_CODES:, decoder_w:] = 7.0
    with torch.no_grad():
        rep = gen.represent_ws(ws)
        for i in range(RENDERER_CODES):  # the trunk layers in order, then the view layer
            torch.testing.assert_close(rep.freq[:, i], 15 * net.film_freq[i](ws[:, i, :8]) + 30)
            torch.testing.assert_close(rep.phase[:, i], 0.25 * net.film_phase[i](ws[:, i, :8]))
        if decoder:  # the decoder's rows in its synthesis order
            assert torch.equal(rep.decoder_ws, ws[:, RENDERER_CODES:, :decoder_w])
        assert torch.equal(gen.render(gen.represent_ws(padded), cam).rgb, gen.render(rep, cam).rgb)


@pytest.mark.parametrize("decoder", [False, True])
def test_the_mean_w_is_both_mappings_mean_over_the_seeded_latents_and_truncation_lerps_to_it(decoder):
    gen = generator(decoder)
    z = torch.randn(10000, gen.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w = gen.volume.mapping(z)
        mean = gen.mean_latent()
        near, far = gen.map_latent(z[:2], psi=0.7), gen.map_latent(z[:2])
    assert mean.shape == (1, gen.num_ws, gen.w_dim)
    torch.testing.assert_close(mean[0, :RENDERER_CODES, :8], w.mean(0).expand(RENDERER_CODES, -1))
    # StyleSDF lerps the renderer's w, then the decoder's w of it towards the mean decoder w of untruncated ws
    torch.testing.assert_close(near[:, :RENDERER_CODES], torch.lerp(mean[:, :RENDERER_CODES],
                                                                    far[:, :RENDERER_CODES], 0.7))
    if decoder:
        with torch.no_grad():
            dec_mean = gen.decoder.mapping(w).mean(0)
            dec_near = torch.lerp(dec_mean, gen.decoder.mapping(near[:, 0, :8]), 0.7)
        torch.testing.assert_close(mean[0, RENDERER_CODES:], dec_mean.expand(gen.num_ws - RENDERER_CODES, -1))
        torch.testing.assert_close(near[:, RENDERER_CODES:], dec_near[:, None].expand_as(near[:, RENDERER_CODES:]))


def test_a_code_of_the_volume_stage_is_refused_once_the_decoder_renders_naming_both_shapes():
    gen = generator(False)
    ws = gen.map_latent(torch.randn(2, gen.z_dim))
    gen.decoder_active.fill_(True)
    n = RENDERER_CODES + gen.decoder.synthesis.num_ws
    for code in (ws, ws[:, :, None]):  # a W+ code of too few rows; one of too many dimensions
        with pytest.raises(ValueError) as err:
            gen.represent_ws(code)
        assert str(err.value) == f"expected W+ codes (B, {n}, 12), got {tuple(code.shape)}"


def test_w_is_offered_until_the_decoder_renders():
    gen = generator(False)
    assert available_spaces(gen) == ("z", "w", "w+") and resolve_space(gen, "auto") == "w+"
    gen.decoder_active.fill_(True)
    assert available_spaces(gen) == ("z", "w+")
    with pytest.raises(UserError) as err:
        resolve_space(gen, "w")
    assert str(err.value) == (
        "This generator can be inverted in z, w+ only, not 'w' (its 2D decoder reads the w of a mapping network of "
        "its own, fed the renderer's, so no single w is broadcast to the renderer's and the decoder's layers).")


def test_a_short_w_plus_optimisation_fits_a_render_of_the_same_generator():
    gen = generator(True)
    cam = Camera.from_angles(0.1, 0.05, 1.0, 12.0)
    with torch.no_grad():
        target = gen.render(gen.represent(torch.randn(1, gen.z_dim, generator=torch.Generator().manual_seed(9))),
                            cam).rgb
    torch.manual_seed(0)
    inv = OptimizationInverter(gen, OptimizeSettings(space="w+", steps=12, lr=0.05, pixel="l2",
                                                     perceptual_weight=0.0))
    result = inv.invert(target, cam)
    assert result.extras["space"] == "w+" and result.latent.shape == (1, gen.num_ws, gen.w_dim)
    losses = result.extras["losses"]
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        moved = (result.latent - gen.mean_latent()).abs().amax(-1)[0]
    assert (moved > 0).all(), moved  # from the mean, every FiLM layer's code searched and every decoder layer's
    assert not result.latent[0, :RENDERER_CODES, 8:].any()  # and the padding, which nothing reads, not
