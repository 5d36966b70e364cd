"""The decoder's ``w_avg`` an imported StyleSDF release gets: upstream's ``mean_latent`` (``model.py``) written out
(the decoder's mapping of the renderer's mapping of many latents, averaged), over the fixed latents zoo3d draws; and
zeros, left for the strict load to name the tensor, when the file is not the generator this config builds."""

from __future__ import annotations

import torch

from test_stylesdf_generator import PRESETS, SMALL
from zoo3d.config import load_run_config
from zoo3d_stylesdf.config import StyleSDFConfig
from zoo3d_stylesdf.model import StyleSDFModel, _decoder_w_avg

W_AVG = "decoder.mapping.w_avg"


def _release_state():
    cfg = load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "tiny", overrides=SMALL)
    torch.manual_seed(0)
    gen = StyleSDFModel().build(cfg)["generator"]
    with torch.no_grad():  # away from the initial weights, so a mean of another mapping would differ
        for p in gen.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return cfg, gen, {k: v for k, v in gen.state_dict().items() if k != W_AVG}


def test_w_avg_is_the_mean_decoder_w_of_the_renderers_w_of_10000_fixed_latents():
    cfg, gen, state = _release_state()
    z = torch.randn(10000, gen.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        renderer_latent = gen.volume.mapping(z)                          # upstream: self.style(latent_in)
        expected = gen.decoder.mapping(renderer_latent).mean(0)          # decoder.mean_latent(renderer_latent)
    got = _decoder_w_avg(cfg, state)
    assert got.shape == gen.decoder.mapping.w_avg.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert expected.abs().max() > 1e-3  # not the zero fallback


def test_a_state_that_is_not_this_generator_gets_zeros_for_the_strict_load_to_name():
    cfg, gen, state = _release_state()
    zeros = torch.zeros_like(gen.decoder.mapping.w_avg)
    other = dict(state)
    other["decoder.extra"] = torch.ones(1)                     # a tensor this config does not have
    torch.testing.assert_close(_decoder_w_avg(cfg, other), zeros, rtol=0, atol=0)
    short = {k: v for k, v in state.items() if not k.startswith("volume.mapping")}  # more than w_avg missing
    torch.testing.assert_close(_decoder_w_avg(cfg, short), zeros, rtol=0, atol=0)
    key = next(k for k, v in state.items() if v.dim() == 2)
    wrong = {**state, key: torch.zeros(state[key].shape[0] + 1, state[key].shape[1])}  # a shape that differs
    torch.testing.assert_close(_decoder_w_avg(cfg, wrong), zeros, rtol=0, atol=0)
