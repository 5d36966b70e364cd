"""StyleSDF's generator glue: the config reaches the renderer, truncation, and the decoder stage's render path.

Upstream facts: the network sees p * 2 / (far - near) (``volume_renderer.py``, ``z_normalize``); truncation
lerps the renderer's w towards the mean w of many latents and the decoder's w towards the mean decoder w
(``model.py``'s ``mean_latent``); the "upstream" convention renders as the authors' code does (samples on
the bins' near edges at constant camera depth, NeRF differences, ``force_background`` and
``static_viewdirs`` at inference), "zoo3d" at bin centres with midpoint sections and world view directions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from zoo3d.config import load_run_config
import zoo3d_stylesdf
from zoo3d_stylesdf.config import StyleSDFConfig
from zoo3d_stylesdf.model import StyleSDFModel

PRESETS = Path(zoo3d_stylesdf.__file__).parent / "presets"
SMALL = ["generator.renderer.z_dim=8", "generator.renderer.depth=2", "generator.renderer.width=8",
         "generator.renderer.resolution=4", "generator.renderer.num_samples=5", "generator.renderer.mapping_layers=2",
         "generator.decoder.output_resolution=8", "generator.decoder.w_dim=8", "generator.decoder.max_channels=4",
         "generator.decoder.mapping_layers=2", "discriminator.channel_scale=0.03"]


def _generator(*extra):
    cfg = load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "tiny", overrides=SMALL + list(extra))
    torch.manual_seed(0)
    return StyleSDFModel().build(cfg)["generator"]


@pytest.mark.parametrize("convention, spacing, intervals, depth_along, fill_last, view_dirs", [
    ("upstream", "edges", "differences", "axis", True, "camera"),
    ("zoo3d", "bins", "sections", "ray", False, "world")])
def test_the_convention_and_the_ray_bounds_reach_the_renderer(convention, spacing, intervals, depth_along,
                                                              fill_last, view_dirs):
    gen = _generator(f"generator.renderer.convention={convention}", "generator.renderer.near=0.9",
                     "generator.renderer.far=1.3", "generator.renderer.num_samples=7")
    r = gen.renderer
    assert (r.spacing, r.intervals, r.depth_along, r.eval_fill_last, r.eval_view_dirs) == (
        spacing, intervals, depth_along, fill_last, view_dirs)
    # StyleSDF's offset sampling and SDF density, no importance pass
    assert (r.jitter, r.stratified, r.sdf_mode, r.num_importance, r.num_samples) == ("offset", True, "stylesdf", 0, 7)
    assert (r.near, r.far) == (0.9, 1.3)


def test_the_network_sees_points_scaled_by_two_over_far_minus_near():
    gen = _generator("generator.renderer.near=0.9", "generator.renderer.far=1.3",
                     "generator.renderer.sdf_sharpness_init=0.03")
    assert gen.bounds == pytest.approx(0.2)
    net = gen.volume.network
    assert net.input_scale == pytest.approx(2 / (1.3 - 0.9))
    assert (net.depth, net.width, len(gen.volume.mapping.net)) == (2, 8, 2)
    assert gen.volume.sdf_sharpness.item() == pytest.approx(0.03)
    rep = gen.represent(torch.randn(1, 8))
    assert rep.bounds == pytest.approx(0.2) and rep.sdf_sharpness is gen.volume.sdf_sharpness


def test_truncation_lerps_w_towards_the_mean_w():
    gen = _generator()
    z = torch.randn(3, 8)
    centre, dec_centre = gen.truncation_centres()
    torch.testing.assert_close(centre, gen.volume.mapping.average())  # the mean w over 10000 seeded latents
    with torch.no_grad():
        w = gen.volume.mapping(z)
        w_many = gen.volume.mapping(torch.randn(10000, 8, generator=torch.Generator().manual_seed(0)))
        torch.testing.assert_close(dec_centre, gen.decoder.mapping(w_many).mean(0, keepdim=True))
        rep = gen.represent(z, psi=0.6)
        torch.testing.assert_close(rep.w, centre + 0.6 * (w - centre))
        assert rep.psi == 0.6
        torch.testing.assert_close(gen.represent(z).w, w, rtol=0, atol=0)


def test_truncation_centres_are_cached_until_a_mapping_weight_changes():
    gen = _generator()
    first = gen.truncation_centres()
    assert gen.truncation_centres()[0] is first[0]
    with torch.no_grad():
        gen.decoder.mapping.parameters().__next__().mul_(1.5)
    second = gen.truncation_centres()
    torch.testing.assert_close(second[0], first[0])
    assert not torch.allclose(second[1], first[1])
    with torch.no_grad():
        gen.volume.mapping.net[0].bias.add_(0.5)
    third = gen.truncation_centres()
    assert not torch.allclose(third[0], first[0])
    torch.testing.assert_close(third[0], gen.volume.mapping.average())
    # another draw, or another dtype, is another cache entry
    assert not torch.equal(gen.truncation_centres(seed=1)[0], third[0])
    gen.truncation_centres()
    assert not torch.equal(gen.truncation_centres(num_samples=100)[0], third[0])
    gen.truncation_centres()
    assert [c.dtype for c in gen.double().truncation_centres()] == [torch.float64] * 2


def test_without_a_decoder_there_is_no_decoder_centre():
    gen = _generator("generator.decoder.enabled=false")
    assert gen.decoder is None and gen.truncation_centres()[1] is None


def _activate(gen):
    """Start the decoder stage, with noise strengths of 1 (they start at zero) so the noise is visible."""
    gen.decoder_active.fill_(True)
    with torch.no_grad():
        for name, p in gen.decoder.named_parameters():
            if "noise" in name:
                p.fill_(1.0)
    return gen


def test_the_decoder_render_feeds_the_volume_features_and_truncates_the_decoder_w():
    gen = _activate(_generator()).eval()
    cams = gen.camera_prior.frontal(2)
    rep = gen.represent(torch.randn(2, 8), psi=0.5)
    with torch.no_grad():
        out = gen.render(rep, cams)
        raw = gen.render_volume(rep, cams)
        want = gen.decoder(raw.features, rep.w, noise_mode="const", psi=0.5, centre=gen.truncation_centres()[1])
        untruncated = gen.decoder(raw.features, rep.w, noise_mode="const")
        small = gen.render(rep, cams, resolution=(4, 4))
    assert raw.rgb.shape[-2:] == (4, 4) and out.rgb.shape[-2:] == (8, 8)
    torch.testing.assert_close(out.rgb, want)  # the fixed noise maps at inference
    torch.testing.assert_close(out.raw.rgb, raw.rgb)
    assert not torch.allclose(out.rgb, untruncated)
    # a resolution asked of the decoder render: its image resized (antialiased bilinear, as upstream's output resize)
    torch.testing.assert_close(small.rgb, F.interpolate(want, size=(4, 4), mode="bilinear", antialias=True))


def test_while_training_the_decoder_draws_fresh_noise():
    gen = _activate(_generator()).train()
    cams = gen.camera_prior.frontal(1)
    rep = gen.represent(torch.randn(1, 8))
    with torch.no_grad():
        torch.manual_seed(5)
        out = gen.render(rep, cams).rgb
        torch.manual_seed(5)
        raw = gen.render_volume(rep, cams)
        want = gen.decoder(raw.features, rep.w, noise_mode="random")
        const = gen.decoder(raw.features, rep.w, noise_mode="const")
    torch.testing.assert_close(out, want)
    assert not torch.allclose(out, const)


def test_the_volume_render_takes_the_resolution_asked_and_the_generators_dtype():
    gen = _generator("generator.decoder.enabled=false").double().eval()
    cams = gen.camera_prior.frontal(1)  # float32 cameras
    rep = gen.represent(torch.randn(1, 8, dtype=torch.float64))
    with torch.no_grad():
        out = gen.render(rep, cams, resolution=(6, 6))
    assert out.rgb.shape == (1, 3, 6, 6) and out.rgb.dtype == torch.float64 and out.raw is None


@pytest.mark.parametrize("decoder", [True, False])
def test_until_the_decoder_stage_starts_the_generator_is_its_volume_renderer(decoder):
    """Stage 1 renders (and reports) the volume resolution and is 3D-consistent; the decoder takes over only
    when it exists and its stage has started."""
    gen = _generator(f"generator.decoder.enabled={str(decoder).lower()}").eval()
    assert not bool(gen.decoder_active)
    assert gen.resolution == (4, 4) and gen.strictly_3d_consistent
    with torch.no_grad():
        out = gen.render(gen.represent(torch.randn(1, 8)), gen.camera_prior.frontal(1))
    assert out.rgb.shape[-2:] == (4, 4) and out.raw is None
    gen.decoder_active.fill_(True)
    assert gen.resolution == ((8, 8) if decoder else (4, 4)) and gen.strictly_3d_consistent != decoder
