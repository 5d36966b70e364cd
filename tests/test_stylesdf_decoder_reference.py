"""StyleSDF's 2D decoder (zoo3d_stylesdf.decoder) against the authors' model.py ``Decoder`` written out.

Upstream: the style MLP is PixelNorm then Linear(style_dim -> 2 style_dim) and 4 x Linear(2 style_dim ->
2 style_dim), each an EqualLinear with lr_mul = lr_mapping (0.01) and fused leaky ReLU (0.2, times sqrt 2);
the widths are {4..32: 512, 64: 256 m, 128: 128 m, 256: 64 m, 512: 32 m, 1024: 16 m} for channel multiplier m;
conv1 takes the rendered features at the render resolution, then two StyledConvs and a ToRGB per octave; with
truncation < 1 the decoder's w is ``truncation_latent + truncation * (w - truncation_latent)``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d_stylesdf.config import StyleSDFDecoderConfig
from zoo3d_stylesdf.decoder import StyleSDFDecoder, decoder_channels

pytestmark = pytest.mark.usefixtures("single_thread")

RESOLUTIONS = [4, 8, 16, 32, 64, 128, 256, 512, 1024]


def _upstream_channels(res, m):
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * m, 128: 128 * m, 256: 64 * m, 512: 32 * m, 1024: 16 * m}[res]


@pytest.mark.parametrize("multiplier", [1, 2, 4])
def test_widths_are_the_authors_table(multiplier):
    assert [decoder_channels(r, multiplier, max_channels=4096) for r in RESOLUTIONS] == \
        [_upstream_channels(r, multiplier) for r in RESOLUTIONS]
    assert [decoder_channels(r, multiplier, max_channels=100) for r in RESOLUTIONS] == \
        [min(100, _upstream_channels(r, multiplier)) for r in RESOLUTIONS]


def test_default_widths_are_the_release_ones_and_the_cap_is_512():
    # the releases use channel_multiplier 2 and 512 at most
    assert [decoder_channels(r) for r in RESOLUTIONS] == [min(512, _upstream_channels(r, 2)) for r in RESOLUTIONS]
    assert decoder_channels(64, 4) == decoder_channels(128, 8) == 512
    # beyond the table the 1024² width carries on; max_channels 1 (the config's least) gives 1
    assert [decoder_channels(2048, m) for m in (1, 2, 3)] == [16, 32, 48]
    assert decoder_channels(64, 2, max_channels=1) == 1


def _style_mlp_by_hand(w, layers, lr_mul=0.01):
    """Upstream's decoder ``style``: PixelNorm, then EqualLinear(fused_lrelu) layers with lr_mul 0.01."""
    h = w * torch.rsqrt(w.square().mean(1, keepdim=True) + 1e-8)
    for layer in layers:
        weight, bias = layer.weight, layer.bias
        h = F.leaky_relu(h @ (weight * (lr_mul / math.sqrt(weight.shape[1]))).T + bias * lr_mul, 0.2) * math.sqrt(2)
    return h


def _decoder():
    cfg = StyleSDFDecoderConfig(output_resolution=16, w_dim=6, mapping_layers=3, channel_multiplier=1,
                                max_channels=8)
    torch.manual_seed(0)
    dec = StyleSDFDecoder(feature_dim=5, style_dim=4, render_resolution=4, cfg=cfg).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # every parameter (biases and noise strengths too) away from its initial value
        for p in dec.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return dec


def test_the_decoder_maps_the_renderer_w_with_the_authors_style_mlp_and_truncates_it():
    dec = _decoder()
    g = torch.Generator().manual_seed(2)
    features, w = torch.randn(2, 5, 4, 4, generator=g), torch.randn(2, 4, generator=g)
    layers = list(dec.mapping.layers)
    assert [(l.weight.shape[1], l.weight.shape[0]) for l in layers] == [(4, 6), (6, 6), (6, 6)]
    style = _style_mlp_by_hand(w, layers)
    with torch.no_grad():
        torch.testing.assert_close(dec(features, w, noise_mode="const"),
                                   dec.synthesis(style, features, noise_mode="const"))
        centre = torch.randn(1, 6, generator=g)
        torch.testing.assert_close(dec(features, w, noise_mode="const", psi=0.3, centre=centre),
                                   dec.synthesis(centre + 0.3 * (style - centre), features, noise_mode="const"))
        # without noise_mode the decoder draws fresh noise, as upstream's randomize_noise
        torch.manual_seed(3)
        drawn = dec(features, w)
        torch.manual_seed(3)
        torch.testing.assert_close(drawn, dec.synthesis(style, features, noise_mode="random"))
        assert not torch.allclose(drawn, dec(features, w, noise_mode="const"))


def test_truncation_under_bf16_autocast_casts_the_fp32_centre():
    # under autocast the style MLP gives bf16 ws while the truncation centre is kept in fp32
    dec = _decoder()
    g = torch.Generator().manual_seed(4)
    features, w = torch.randn(1, 5, 4, 4, generator=g), torch.randn(1, 4, generator=g)
    centre = torch.randn(1, 6, generator=g)
    with torch.no_grad():
        want = dec(features, w, noise_mode="const", psi=0.5, centre=centre)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = dec(features, w, noise_mode="const", psi=0.5, centre=centre)
    assert (got.float() - want).abs().max() <= 0.05 * want.abs().max()


def test_the_synthesis_starts_from_the_features_at_the_render_resolution_with_the_authors_widths():
    dec = _decoder()
    syn = dec.synthesis
    out_c, in_c = syn.conv1.conv.weight.shape[:2]
    assert (in_c, out_c) == (5, min(8, _upstream_channels(4, 1)))  # the features in, the 4² width out
    widths = [c.conv.weight.shape[0] for c in syn.convs]
    assert widths == [min(8, _upstream_channels(r, 1)) for r in (8, 8, 16, 16)]
    assert [t.conv.weight.shape[0] for t in [syn.to_rgb1, *syn.to_rgbs]] == [3, 3, 3]
    out = dec(torch.zeros(1, 5, 4, 4), torch.randn(1, 4), noise_mode="none")
    assert out.shape == (1, 3, 16, 16) and dec.output_resolution == 16
