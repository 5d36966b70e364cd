"""Efficient GRAM's generator against independent answers: the truncation trick, the decoder written out, the
feature layouts, the validity mask on alpha, the caches and the free-view cache's input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo3d.cameras import Camera
from zoo3d_gram import ManifoldConfig, RenderConfig
from zoo3d_gram_inverter.config import EfficientGramConfig
from zoo3d_gram_inverter.efficient_gram import EfficientGramGenerator, FeatureManifolds, RadianceDecoder

pytestmark = pytest.mark.usefixtures("single_thread")


def micro(**overrides) -> EfficientGramGenerator:
    """A generator of seconds' cost: 5 levels, 8 px textures, narrow nets."""
    manifold = overrides.pop("manifold", {})
    cfg = EfficientGramConfig(**{"resolution": 8, "texture_resolution": 8, "z_dim": 6, "w_dim": 6, "mapping_layers": 2,
                                 "feature_dim": 4, "channel_base": 32, "channel_max": 8, "decoder_hidden": 8,
                                 "truncation_samples": 300, **overrides},
                              manifold=ManifoldConfig(hidden=16, num_levels=5, **manifold),
                              render=RenderConfig(num_samples=10))
    torch.manual_seed(0)
    return EfficientGramGenerator(cfg).eval()


def leaky(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, 0.2 * x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_feature_manifolds_add_per_part_and_skip_none():
    """coarse + detail adds foreground to foreground and background to background; + None is the coarse."""
    a = FeatureManifolds(torch.ones(2, 3, 4, 5, 5), torch.full((2, 4, 5, 5), 2.0, requires_grad=True))
    b = FeatureManifolds(torch.full((2, 3, 4, 5, 5), 10.0), torch.full((2, 4, 5, 5), 20.0))
    s = a + b
    assert torch.equal(s.foreground, torch.full((2, 3, 4, 5, 5), 11.0))
    assert torch.equal(s.background, torch.full((2, 4, 5, 5), 22.0))
    assert (a + None) is a
    assert a.batch_size == 2
    d = a.detach()
    assert not d.background.requires_grad and torch.equal(d.background, a.background)
    assert torch.equal(d.foreground, a.foreground)


def test_radiance_decoder_is_the_three_layer_mlp_written_out():
    """Per texel: two 1x1 convs with LeakyReLU(0.2), then rgb = sigmoid(o) (1 + 2e-3) - 1e-3 (GRAM's widened
    sigmoid) from the first three outputs and alpha = sigmoid of the fourth."""
    torch.manual_seed(1)
    dec = RadianceDecoder(feature_dim=3, hidden=5).double()
    with torch.no_grad():
        for p in dec.parameters():
            p.normal_()  # biases too, so a dropped bias would show
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    rgb, alpha = dec(x)
    w = [m.weight.detach().numpy()[:, :, 0, 0] for m in dec.net if isinstance(m, torch.nn.Conv2d)]
    b = [m.bias.detach().numpy() for m in dec.net if isinstance(m, torch.nn.Conv2d)]
    h = x.numpy().transpose(0, 2, 3, 1)  # (B, H, W, C)
    h = leaky(h @ w[0].T + b[0])
    h = leaky(h @ w[1].T + b[1])
    o = (h @ w[2].T + b[2]).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(rgb.detach().numpy(), sigmoid(o[:, :3]) * 1.002 - 0.001, rtol=1e-10)
    np.testing.assert_allclose(alpha.detach().numpy(), sigmoid(o[:, 3:]), rtol=1e-10)


def test_radiance_decoder_init_is_he_for_hidden_layers_and_unit_fan_in_for_the_last():
    """Hidden weights std sqrt(2 / (1 + 0.2²)) / sqrt(fan_in) (He for LeakyReLU(0.2)), the last layer's
    1 / sqrt(fan_in), every bias zero: measured on 65536 weights, to 1% (He for ReLU, sqrt(2), is 2% off)."""
    torch.manual_seed(0)
    dec = RadianceDecoder(feature_dim=256, hidden=256)
    convs = [m for m in dec.net if isinstance(m, torch.nn.Conv2d)]
    he = math.sqrt(2 / 1.04) / 16
    for conv in convs[:2]:
        assert abs(conv.weight.std().item() / he - 1) < 0.01
    assert abs(convs[2].weight.std().item() * 16 - 1) < 0.1  # only 1024 weights: a looser bound
    assert all(torch.count_nonzero(c.bias) == 0 for c in convs)


def w_statistics(gen: EfficientGramGenerator) -> tuple[torch.Tensor, torch.Tensor]:
    """The mapping's mean and spread of w over 20000 z of their own seed."""
    with torch.no_grad():
        w = gen.mapping(torch.randn(20000, gen.z_dim, generator=torch.Generator().manual_seed(7)), update_w_avg=False)
    return w.mean(0), w.std(0)


def test_mean_latent_is_the_mean_w_and_follows_the_mapping():
    """mean_latent is the mapping's mean w (within 0.25 spread of an independent 20000-sample mean: ~4 standard
    errors of a 300-sample mean), the same for two generators built alike; it is computed once (the same tensor on a second call) and again when the
    mapping's weights change in place."""
    gen = micro()
    reference, spread = w_statistics(gen)
    mean = gen.mean_latent()
    assert mean.shape == (1, gen.w_dim)
    assert ((mean[0] - reference).abs() < 0.25 * spread).all()
    assert gen.mean_latent() is mean
    other = micro()
    torch.randn(5)  # the process RNG elsewhere: the mean w takes its own fixed draws, so truncation is reproducible
    assert torch.equal(other.mean_latent(), mean)
    with torch.no_grad():
        gen.mapping.layers[-1].weight.mul_(-2.0)
    shifted, spread = w_statistics(gen)
    moved = gen.mean_latent()
    assert ((moved[0] - shifted).abs() < 0.25 * spread).all()
    assert ((moved[0] - mean[0]).abs() > 0.25 * spread).any()


def test_map_latent_truncates_towards_the_mean_and_repeats_w_over_every_style():
    """StyleGAN's truncation: w' = w_avg + psi (w - w_avg); psi = 1 leaves w; W+ repeats w num_ws times."""
    gen = micro()
    z = torch.randn(3, gen.z_dim)
    with torch.no_grad():
        w = gen.mapping(z, update_w_avg=False)
        avg = gen.mean_latent()
        for psi in (1.0, 0.7, 0.0):
            ws = gen.map_latent(z, psi)
            assert ws.shape == (3, gen.num_ws, gen.w_dim)
            wanted = avg + psi * (w - avg)
            for i in range(gen.num_ws):
                assert torch.allclose(ws[:, i], wanted, atol=1e-6)
        assert torch.allclose(gen.represent(z, 0.7).foreground, gen.represent_ws(gen.map_latent(z, 0.7)).foreground)
        assert torch.equal(gen.map_latent(z)[:, 0], w)  # no truncation unless asked
        assert torch.equal(gen.represent(z).foreground, gen.represent_ws(gen.map_latent(z, 1.0)).foreground)


def test_one_group_per_level_then_the_background_group():
    """Without depth slices or planes the synthesis map holds N + 1 groups of feature_dim channels: level n's
    texture is group n, the background plane's the last group."""
    gen = micro()
    N, C = gen.num_manifolds, gen.feature_dim
    assert gen.synthesis.out_channels == (N + 1) * C
    ws = gen.map_latent(torch.randn(2, gen.z_dim))
    with torch.no_grad():
        maps = gen.synthesis(ws, noise_mode="none")
        features = gen.represent_ws(ws)
    for n in range(N):
        assert torch.equal(features.foreground[:, n], maps[:, n * C:(n + 1) * C])
    assert torch.equal(features.background, maps[:, N * C:])


def test_feature_planes_layout_reads_the_first_three_groups_as_planes():
    """With feature_planes the synthesis map holds the XY, XZ, YZ planes then the background group; the levels'
    textures are the planes read at their texels (plane_features of those three groups)."""
    gen = micro(feature_planes=True)
    C = gen.feature_dim
    ws = gen.map_latent(torch.randn(2, gen.z_dim))
    with torch.no_grad():
        maps = gen.synthesis(ws, noise_mode="none").reshape(2, 4, C, 8, 8)
        features = gen.represent_ws(ws)
        assert torch.allclose(features.foreground, gen.plane_features(maps[:, :3]), atol=1e-6)
    assert features.foreground.shape[1] == gen.num_manifolds and torch.equal(features.background, maps[:, 3])


def test_networks_follow_the_config_and_the_synthesis_has_no_noise_inputs():
    """Synthesis width at side r is min(channel_base / r, channel_max): 32 / 4 = 8 (the cap) and 32 / 8 = 4; no
    noise inputs (W+ alone determines the scene); the mapping's depth and the decoder's width are the config's."""
    from zoo3d.nn.modconv import NoiseInjection

    gen = micro()
    assert not any(isinstance(m, NoiseInjection) for m in gen.modules())
    assert len(gen.mapping.layers) == 2 and gen.decoder.net[0].out_channels == 8
    assert gen.synthesis.const.shape[1] == 8
    assert [conv.conv.weight.shape[-4] for conv in gen.synthesis.convs] == [4, 4]
    assert gen.num_ws == gen.synthesis.num_ws == 4


def test_depth_weights_interpolate_one_hot_slices_and_clamp_outside():
    """Slice k's weight at depth z is the linear interpolation of the k-th one-hot over slices evenly spaced on
    [1 - far, 1 - near] (np.interp, which holds the end values outside)."""
    gen = micro(depth_slices=4)
    rc = gen.config.render
    zs = np.linspace(1 - rc.far, 1 - rc.near, 4)
    z = np.array([-0.3, 1 - rc.far, -0.05, 0.0, 0.02, 1 - rc.near, 0.4])
    got = gen.depth_weights(torch.tensor(z, dtype=torch.float64)).numpy()
    wanted = np.stack([np.interp(z, zs, np.eye(4)[k]) for k in range(4)], -1)
    np.testing.assert_allclose(got, wanted, atol=1e-12)


def test_slice_weights_are_the_depth_weights_of_the_gridded_points_and_cached():
    gen = micro(depth_slices=3)
    points, _ = gen.gridded(8)
    weights = gen.slice_weights(8)
    assert weights.shape == (gen.num_manifolds, 3, 8, 8)
    assert torch.allclose(weights, gen.depth_weights(points[0, ..., 2]).permute(0, 3, 1, 2))
    assert gen.slice_weights(8) is weights


def test_camera_prior_is_kept_or_defaults():
    from zoo3d.cameras import CameraPrior

    prior = CameraPrior(radius=2.5)
    assert isinstance(micro().camera_prior, CameraPrior)
    assert EfficientGramGenerator(micro().config, prior).camera_prior is prior


def test_background_plane_is_required():
    with pytest.raises(ValueError, match="^Efficient GRAM needs the background plane"):
        micro(manifold={"background_z": None})


def test_gridded_is_cached_until_the_manifold_changes():
    """The grid is computed once per resolution and again after the scalar field's weights change."""
    gen = micro()
    first = gen.gridded(8)
    assert gen.gridded(8) is first
    assert gen.gridded(4)[0].shape[2:4] == (4, 4)
    with torch.no_grad():
        for p in gen.manifold.parameters():
            p.mul_(0.5)
    again = gen.gridded(8)
    assert again is not first
    assert not torch.equal(again[1], first[1]) or not torch.equal(again[0], first[0])


def test_gridded_points_are_the_first_crossings_of_each_level_below_the_texel():
    """Against a dense search of our own: a texel of level n is valid where s - level changes sign on the
    segment z in [1 - far, 1 - near] under it (all but a few grazing texels agree), and its point lies on the
    level, at the corner-aligned texel centre (x, y)."""
    gen = micro()
    rc, R, e = gen.config.render, 8, gen.extent
    points, valid = gen.gridded(R)
    axis = torch.linspace(-e, e, R)
    assert torch.allclose(points[0, ..., 0], axis.expand(gen.num_manifolds, R, R))
    assert torch.allclose(points[0, ..., 1], axis[:, None].expand(gen.num_manifolds, R, R))
    zs = torch.linspace(1 - rc.far, 1 - rc.near, 400)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    dense = torch.stack([x[..., None].expand(R, R, 400), y[..., None].expand(R, R, 400), zs.expand(R, R, 400)], -1)
    with torch.no_grad():
        s = gen.manifold(dense.reshape(-1, 3)).reshape(1, R, R, 400) - gen.levels[:, None, None, None]
        crossed = (s[..., :-1].sign() != s[..., 1:].sign()).any(-1)
        assert 0 < crossed.sum() < crossed.numel()
        assert (crossed != valid[0]).sum() <= 0.02 * crossed.numel()
        level = gen.levels[:, None, None].expand_as(valid[0])[valid[0]]
        on = gen.manifold(points[valid].reshape(-1, 3)).reshape(-1) - level
    assert on.abs().max() < 0.1 * (gen.levels[0] - gen.levels[1])  # linear between 10 samples


def test_geometry_is_the_scalar_field_at_the_generators_levels():
    gen = micro()
    geometry = gen.geometry(3)
    x = torch.randn(7, 3)
    assert geometry.batch_size == 3 and geometry.levels is gen.levels and gen.geometry().batch_size == 1
    assert torch.equal(geometry.scalar(x), gen.manifold(x))
    assert torch.allclose(gen.levels, torch.linspace(23.0, 8.0, 5))


def test_radiance_maps_decode_every_level_and_zero_alpha_where_the_level_is_not_crossed():
    """rgba of level n is the decoder applied to level n's features, alpha times the gridding's validity;
    the background is the decoder's rgb of the background features."""
    gen = micro()
    features = gen.represent(torch.randn(2, gen.z_dim))
    _, valid = gen.gridded(8)
    assert valid.any() and not valid.all()
    with torch.no_grad():
        maps, bg = gen.radiance_maps(features)
        for n in range(gen.num_manifolds):
            rgb, alpha = gen.decoder(features.foreground[:, n])
            assert torch.allclose(maps[:, n, :3], rgb, atol=1e-6)
            assert maps.shape[2] == 4 and torch.allclose(maps[:, n, 3:], alpha * valid[0, n].float(), atol=1e-6)
        assert torch.allclose(bg, gen.decoder(features.background)[0], atol=1e-6)


def test_render_defaults_to_the_generators_resolution_and_textured_layers_carry_the_render_settings():
    """Cameras without a resolution render at generator.resolution; a camera's own resolution wins. The free-view
    cache's input holds the decoded maps, the texture side and the renderer's crossing search."""
    gen = micro(extent=0.1, manifold={"background_z": -0.1})  # not the texture scene's defaults
    features = gen.represent(torch.randn(1, gen.z_dim))
    with torch.no_grad():
        out = gen.render(features, Camera.from_angles(0.1, 0.0))
        assert out.rgb.shape == (1, 3, 8, 8) and out.normals is None
        assert gen.render(features, Camera.from_angles(0.1, 0.0, resolution=(4, 6))).rgb.shape == (1, 3, 4, 6)
        assert gen.render(features, Camera.from_angles(0.1, 0.0), resolution=5).rgb.shape == (1, 3, 5, 5)
        with_normals = gen.render(features, Camera.from_angles(0.1, 0.0), normals=True)
        assert with_normals.normals is not None and with_normals.normals.shape[1] == 3
        assert torch.allclose(with_normals.rgb, out.rgb, atol=1e-5)  # the same crossing search, normals added
    layers = gen.textured_layers(features, Camera.from_angles(0.1, 0.0))
    rc = gen.config.render
    assert (layers.grid_resolution, layers.near, layers.far, layers.num_samples) == (8, rc.near, rc.far, 10)
    maps, bg = gen.radiance_maps(features)
    assert not layers.textured.maps.requires_grad  # a cache, made without the autograd graph
    assert torch.allclose(layers.textured.maps, maps) and torch.allclose(layers.textured.background_map, bg)
    assert layers.textured.background_z == gen.background_z and layers.textured.extent == gen.extent


def test_the_manifold_predictor_starts_at_the_configured_radius():
    """GRAM's geometric initialisation: the output bias is -init_radius, so the scalar field at the centre starts
    init_radius lower than with radius 0 (the hidden layers, zero-biased, give the same activations there)."""
    fields = []
    for radius in (0.0, 0.25):
        torch.manual_seed(0)
        gen = micro(manifold={"init_radius": radius})
        centre = torch.tensor([gen.config.manifold.center], dtype=torch.float32)
        fields.append(gen.manifold(centre).reshape(()).item())
    assert fields[1] == pytest.approx(fields[0] - 0.25, abs=1e-6)
