"""TriplaneGenerator's render and latent glue against independent answers.

The output's depth and alpha are the neural render's, resized (antialiased bilinear, as EG3D's
``filtered_resizing``) to the image side; an image side other than the native one resizes the SR output
likewise, and a non-square one is refused; ``raw`` keeps the volume renderer's weights (their sum is the
composited alpha) and sample depths; ``forward`` is represent-then-render; W+ is the truncated w repeated.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from test_triplane_training import _config
from zoo3d.cameras import CameraPrior
from zoo3d.nn.modconv import NoiseInjection
from zoo3d.render.volume import SampleDraws
from zoo3d_triplane.generator import TriplaneGenerator


def _filtered(images: torch.Tensor, side: int) -> torch.Tensor:
    """EG3D's filtered_resizing: bilinear, antialiased, half-pixel centres."""
    return F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


@pytest.fixture(scope="module")
def setup():
    cfg = _config()
    torch.manual_seed(0)
    gen = TriplaneGenerator(cfg.generator, cfg.camera).eval()
    z = torch.randn(2, cfg.generator.z_dim, generator=torch.Generator().manual_seed(0))
    cams = cfg.camera.sample(2, generator=torch.Generator().manual_seed(1))
    return gen, z, cams


def test_depth_and_alpha_are_the_neural_renders_resized_to_the_image(setup):
    gen, z, cams = setup
    with torch.no_grad():
        out = gen(z, cams)
    assert out.raw.depth.shape[-1] == 8 and out.rgb.shape[-1] == 16
    torch.testing.assert_close(out.depth, _filtered(out.raw.depth, 16))
    torch.testing.assert_close(out.alpha, _filtered(out.raw.alpha, 16))


def test_raw_keeps_the_volume_renderers_weights_and_sample_depths(setup):
    gen, z, cams = setup
    with torch.no_grad():
        raw = gen(z, cams).raw
    torch.testing.assert_close(raw.weights.sum(1, keepdim=True), raw.alpha)  # alpha = sum of the ray's weights
    t = raw.extras["t"]
    assert t.shape[1] == raw.weights.shape[1]
    near, far = gen.cfg.near, gen.cfg.far
    assert float(t.min()) >= near - 1e-5 and float(t.max()) <= far + 1e-5 and float(t.max() - t.min()) > 0.1


def test_another_image_side_resizes_the_sr_output_and_a_non_square_one_is_refused(setup):
    gen, z, cams = setup
    with torch.no_grad():
        native = gen(z, cams)
        same = gen(z, cams, resolution=(16, 16))
        small = gen(z, cams, resolution=(12, 12))
    torch.testing.assert_close(same.rgb, native.rgb, rtol=0, atol=0)
    torch.testing.assert_close(small.rgb, _filtered(native.rgb, 12))
    torch.testing.assert_close(small.depth, _filtered(native.raw.depth, 12))
    with pytest.raises(ValueError, match=r"square images, got \(12, 16\)"):
        gen(z, cams, resolution=(12, 16))


def test_forward_is_represent_then_render_with_its_psi_and_label(setup):
    gen, z, cams = setup
    c = cams.to_eg3d()
    with torch.no_grad():
        gen.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(3))  # a truncation centre away from 0
        plain = gen.render(gen.represent(z), cams)
        assert torch.equal(gen(z, cams).rgb, plain.rgb)
        for psi, label in ((0.5, None), (1.0, c.flip(0)), (0.7, c)):
            expected = gen.render(gen.represent(z, psi, label), cams, (12, 12))
            torch.testing.assert_close(gen(z, cams, psi, (12, 12), label).rgb, expected.rgb, rtol=0, atol=0)
    assert not torch.allclose(gen(z, cams, 0.5).rgb, plain.rgb)


def test_w_plus_is_the_truncated_w_repeated_for_every_style_without_moving_the_mean(setup):
    gen, z, cams = setup
    c = cams.to_eg3d()
    with torch.no_grad():
        gen.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(4))
        mean = gen.mean_latent().clone()
        w = gen.mapping(z, gen.conditioning(2, c))
        ws = gen.map_latent(z, 0.6, c)
        torch.testing.assert_close(gen.mapping.w_avg.reshape(1, -1), mean, rtol=0, atol=0)
        assert ws.shape == (2, gen.num_ws, gen.w_dim)
        torch.testing.assert_close(ws, (mean + 0.6 * (w - mean)).unsqueeze(1).expand_as(ws))
        torch.testing.assert_close(gen.map_latent(z, 0.0), mean.expand(2, gen.num_ws, -1))
        torch.testing.assert_close(gen.map_latent(z), gen.mapping(z, gen.conditioning(2)).unsqueeze(1).expand_as(ws))
        # W+ renders as the latent it came from
        torch.testing.assert_close(gen.render(gen.represent_ws(ws), cams).rgb,
                                   gen.render(gen.represent(z, 0.6, c), cams).rgb)


def test_the_mean_w_moves_with_eg3ds_decay_only_when_asked():
    """EG3D updates w_avg (beta 0.998) in its discriminator phase only: training mode alone must not move it."""
    cfg = _config()
    gen = TriplaneGenerator(cfg.generator, cfg.camera).train()
    z = torch.randn(3, cfg.generator.z_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        gen.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(6))
        before = gen.mapping.w_avg.clone()
        gen.represent(z)
        gen.map_latent(z)
        torch.testing.assert_close(gen.mapping.w_avg, before, rtol=0, atol=0)
        gen.eval()
        w = gen.mapping(z, gen.conditioning(3), update_w_avg=False)
        gen.represent(z, update_w_avg=True)
    torch.testing.assert_close(gen.mapping.w_avg, 0.998 * before + 0.002 * w.mean(0))


def test_the_mapping_label_is_the_scaled_camera_or_the_default_priors_frontal_one_or_zeros():
    cfg = _config(["generator.c_scale=2.0"])
    gen = TriplaneGenerator(cfg.generator)  # no prior given: zoo3d's default one
    c = cfg.camera.sample(2, generator=torch.Generator().manual_seed(1)).to_eg3d()
    torch.testing.assert_close(gen.conditioning(2, c), 2.0 * c)
    torch.testing.assert_close(gen.conditioning(3), 2.0 * CameraPrior().frontal(3).to_eg3d())
    gen.double()  # the label follows the mapping's dtype, whatever the camera's
    assert gen.conditioning(2, c).dtype == torch.float64 and gen.conditioning(2).dtype == torch.float64
    off = TriplaneGenerator(_config(["generator.gen_pose_cond=false"]).generator).double()
    label = off.conditioning(3, c)
    assert label.dtype == torch.float64 and torch.equal(label, torch.zeros(3, 25, dtype=torch.float64))


def test_the_config_reaches_the_decoder_renderer_super_resolution_and_scene():
    """Settings away from the parts' own defaults, so a dropped argument shows."""
    cfg = _config(["generator.decoder_lr_mul=0.5", "generator.box_warp=0.5", "generator.third_plane=zx",
                   "generator.sr_conv_clamp=7.0", "generator.near=0.7", "generator.far=1.3",
                   "generator.sampling=eg3d", "generator.num_samples=5", "generator.num_importance=3"])
    gen = TriplaneGenerator(cfg.generator, cfg.camera)
    assert gen.z_dim == 16 and gen.resolution == (16, 16)
    assert gen.decoder.fc1.scale == pytest.approx(0.5 / math.sqrt(8)) and gen.decoder.fc2.lr_mul == 0.5
    r = gen.renderer
    assert (r.num_samples, r.num_importance, r.near, r.far, r.sampling) == (5, 3, 0.7, 1.3, "eg3d")
    assert r.stratified is True and r.density_activation == "softplus" and r.background is None
    assert gen.superresolution.block0.conv0.clamp == 7.0 and gen.superresolution.block1.to_rgb.clamp == 7.0
    scene = gen.represent(torch.zeros(1, 16))
    # upstream's cube has side 1: a cube of side 0.5 doubles the density per world unit
    assert (scene.box_warp, scene.density_scale, scene.third_plane) == (0.5, 2.0, "zx")
    assert TriplaneGenerator(_config(["generator.density_scale=3.0"]).generator).density_scale == 3.0


def test_the_super_resolution_is_styled_by_the_last_w_of_w_plus(setup):
    gen = setup[0]
    ws = torch.randn(2, gen.num_ws, gen.w_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert torch.equal(gen.represent_ws(ws).sr_w, ws[:, -1])


def test_backbone_noise_and_ray_samples_are_random_while_training_and_fixed_in_eval():
    cfg = _config()
    gen = TriplaneGenerator(cfg.generator, cfg.camera)
    ws = torch.randn(2, gen.w_dim, generator=torch.Generator().manual_seed(8))
    cams = cfg.camera.sample(2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for layer in gen.backbone.modules():  # noise strengths start at 0: make the noise show
            if isinstance(layer, NoiseInjection):
                layer.weight.fill_(0.5)
        gen.train()
        assert not torch.equal(gen.represent_ws(ws).planes, gen.represent_ws(ws).planes)
        scene = gen.represent_ws(ws)
        assert not torch.equal(gen.render(scene, cams).raw.extras["t"], gen.render(scene, cams).raw.extras["t"])
        # given draws replace the random ones
        n, s, k = 2 * 8 * 8, cfg.generator.num_samples, cfg.generator.num_importance
        draws = SampleDraws(jitter=torch.rand(2, n // 2, s), importance=torch.rand(2, n // 2, k))
        first, second = gen.render(scene, cams, draws=draws), gen.render(scene, cams, draws=draws)
        assert torch.equal(first.raw.extras["t"], second.raw.extras["t"]) and torch.equal(first.rgb, second.rgb)
        gen.eval()
        assert torch.equal(gen.represent_ws(ws).planes, gen.represent_ws(ws).planes)


def test_cameras_in_another_dtype_render_in_the_generators(setup):
    gen, z, cams = setup
    with torch.no_grad():
        scene = gen.represent(z)
        single, double = gen.render(scene, cams), gen.render(scene, cams.to(dtype=torch.float64))
    assert double.rgb.dtype == torch.float32
    torch.testing.assert_close(double.rgb, single.rgb, rtol=1e-4, atol=1e-5)


def test_the_raw_render_is_the_composited_features_mapped_to_minus_one_one_and_feeds_the_super_resolution():
    """EG3D's marcher: 2 f - 1 of the composited features, with 1 - alpha added first on a white background."""
    for white in (False, True):
        cfg = _config([f"generator.white_background={str(white).lower()}"])
        gen = TriplaneGenerator(cfg.generator, cfg.camera).eval()
        z = torch.randn(2, cfg.generator.z_dim, generator=torch.Generator().manual_seed(9))
        cams = cfg.camera.sample(2, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            scene = gen.represent(z)
            volume = gen.renderer.render(scene, cams, (8, 8))
            out = gen.render(scene, cams)
            composited = volume.features + (1 - volume.alpha) if white else volume.features
            torch.testing.assert_close(out.raw.features, 2 * composited - 1)
            torch.testing.assert_close(out.raw.rgb, 2 * composited[:, :3] - 1)
            torch.testing.assert_close(out.rgb, gen.superresolution(2 * composited - 1, scene.sr_w))


def test_backbone_widths_are_channel_base_over_the_side_clipped_to_one_and_channel_max():
    """EG3D's channels_dict: min(channel_base // res, channel_max), here at least 1 (the 16 px layers get 0)."""
    cfg = _config(["generator.channel_base=8", "generator.channel_max=16"])
    backbone = TriplaneGenerator(cfg.generator, cfg.camera).backbone
    assert backbone.const.shape[1] == 2  # 8 // 4
    assert [conv.conv.weight.shape[0] for conv in backbone.convs] == [1, 1, 1, 1]  # 8 // 8 = 1, 8 // 16 -> 1
