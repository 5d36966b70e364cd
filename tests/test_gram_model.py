"""GRAM generator: geometric init, shared manifolds, FiLM conditioning, truncation, presets and card."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.render.intersect import intersect_manifolds
import zoo3d_gram
from zoo3d_gram.config import GeneratorConfig, GramConfig
from zoo3d_gram.generator import GramGenerator
from zoo3d_gram.networks import ManifoldPredictor, RadianceNetwork

PRESETS = Path(zoo3d_gram.__file__).parent / "presets"  # found the same in a checkout and in an installed package


def small_generator(seed: int = 0, **radiance) -> GramGenerator:
    """The real architecture, narrowed so a test renders in well under a second."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(resolution=16)
    cfg.manifold.hidden = 32
    cfg.radiance.z_dim, cfg.radiance.mapping_hidden, cfg.radiance.hidden = 16, 32, 32
    cfg.radiance.truncation_samples = 256
    cfg.render.num_samples = 24
    for k, v in radiance.items():
        setattr(cfg.radiance, k, v)
    return GramGenerator(cfg).eval()


def test_geometric_init_gives_concentric_spheres_about_the_centre():
    medians = []
    for seed in range(5):
        torch.manual_seed(seed)
        m = ManifoldPredictor(hidden=128)
        x = torch.randn(2000, 3) * 0.1
        with torch.no_grad():
            s, s2 = m(x), m((x - torch.tensor([0.0, 0.0, -0.18])) * 2 + torch.tensor([0.0, 0.0, -0.18]))
        dist = m.warp(x).norm(dim=-1)
        # zero biases make the field positively homogeneous about the centre: doubling the offset doubles s
        torch.testing.assert_close(s2, 2 * s, rtol=1e-4, atol=1e-4)
        medians.append((s / dist).median().item())
    # the output weight 10*sqrt(pi/h) makes s ~ 10 |x_warped - c| in expectation (upstream: 9-11x)
    assert 9.0 < sum(medians) / len(medians) < 11.5
    # world (0, 0, -0.18) is the centre: s vanishes there
    assert m(torch.tensor([[0.0, 0.0, -0.18]])).abs().item() < 1e-5


def test_all_23_levels_cross_the_central_ray_at_init():
    torch.manual_seed(0)
    gen = GramGenerator(GeneratorConfig(resolution=8))
    cam = Camera.from_angles(0.0, 0.0)
    origin, direction = cam.origins[:, None], torch.tensor([[[0.0, 0.0, -1.0]]])
    rep = gen.represent(gen.sample_z(1))
    with torch.no_grad():
        points, valid, t = intersect_manifolds(rep, origin, direction, 0.88, 1.12, 64)
    assert valid.shape[1] == 23 and bool(valid.all())
    # descending levels are met one after another as the ray goes deeper
    assert bool((t[0, 1:, 0] > t[0, :-1, 0]).all())
    assert bool(((t > 0.88) & (t < 1.12)).all())


def test_scalar_field_is_shared_and_film_conditions_only_radiance():
    gen = small_generator()
    z = gen.sample_z(2, generator=torch.Generator().manual_seed(1))
    rep_a, rep_b = gen.represent(z[:1]), gen.represent(z[1:])
    x = torch.rand(1, 500, 3) * 0.24 - 0.12
    with torch.no_grad():
        torch.testing.assert_close(rep_a.scalar(x), rep_b.scalar(x))
        cam = Camera.from_angles(0.1, 0.05)
        img_a, img_b = gen.render(rep_a, cam).rgb, gen.render(rep_b, cam).rgb
        assert (img_a - img_b).abs().mean() > 1e-3  # two z: two different images at one camera
        # one z seen from two cameras: the same world ray meets the same manifold points
        rays_o = torch.tensor([[[0.01, 0.02, 1.0]]])
        rays_d = torch.nn.functional.normalize(torch.tensor([[[0.0, 0.0, -1.0]]]), dim=-1)
        p_a, v_a, _ = intersect_manifolds(rep_a, rays_o, rays_d, 0.88, 1.12, 24)
        p_b, v_b, _ = intersect_manifolds(rep_b, rays_o, rays_d, 0.88, 1.12, 24)
        torch.testing.assert_close(p_a, p_b)
        assert torch.equal(v_a, v_b)


def test_density_is_view_independent_and_colour_view_dependent():
    torch.manual_seed(0)
    net = RadianceNetwork(z_dim=16, mapping_hidden=32, hidden=32)
    freq, phase = net.style(torch.randn(1, 16))
    p = torch.rand(1, 64, 3) * 0.2 - 0.1
    d1 = torch.nn.functional.normalize(torch.randn(1, 64, 3), dim=-1)
    d2 = torch.nn.functional.normalize(torch.randn(1, 64, 3), dim=-1)
    with torch.no_grad():
        rgb1, sigma1, _ = net(p, d1, freq, phase)
        rgb2, sigma2, _ = net(p, d2, freq, phase)
    torch.testing.assert_close(sigma1, sigma2)
    assert (rgb1 - rgb2).abs().max() > 1e-4
    assert rgb1.min() >= -1e-3 and rgb1.max() <= 1 + 1e-3 and sigma1.min() >= 0


def test_feature_heads_add_features_without_changing_radiance():
    torch.manual_seed(0)
    plain = RadianceNetwork(z_dim=16, mapping_hidden=32, hidden=32)
    torch.manual_seed(0)
    with_features = RadianceNetwork(z_dim=16, mapping_hidden=32, hidden=32, feature_dim=5)
    # GRAM-HD loads GRAM weights and adds only the feature heads
    missing = with_features.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("feature_heads.") for k in missing)
    freq, phase = plain.style(torch.randn(2, 16))
    p, d = torch.rand(2, 10, 3) * 0.2 - 0.1, torch.nn.functional.normalize(torch.randn(2, 10, 3), dim=-1)
    with torch.no_grad():
        a, b = plain(p, d, freq, phase), with_features(p, d, freq, phase)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    assert a[2] is None and b[2].shape == (2, 10, 5) and b[2].abs().sum() > 0


def test_truncation_to_zero_gives_the_average_instance_for_any_z():
    gen = small_generator()
    z = gen.sample_z(3, generator=torch.Generator().manual_seed(7))
    cam = Camera.from_angles([0.2] * 3, 0.0)
    with torch.no_grad():
        avg = gen(z, cam, psi=0.0).rgb
        full = gen(z, cam, psi=1.0).rgb
        freq, phase = gen.average_style()
        mean_instance = gen.render(gen.representation_from_style(freq, phase), cam[:1]).rgb
    torch.testing.assert_close(avg[0], avg[1])
    torch.testing.assert_close(avg[0], avg[2])
    torch.testing.assert_close(avg[:1], mean_instance)
    assert (full[0] - full[1]).abs().mean() > 1e-3
    # the cached average follows the weights: changing the mapping network changes it
    with torch.no_grad():
        gen.radiance_net.mapping.out.bias.add_(0.5)
    assert not torch.allclose(gen.average_style()[1], freq)


def test_render_depth_lies_between_the_foreground_and_the_background_plane():
    gen = small_generator()
    cam = Camera.from_angles(0.0, 0.0)
    with torch.no_grad():
        out = gen(gen.sample_z(1), cam)
    # depth is distance along unit rays: from the near bound to the plane z = -0.12 (1.12 on the axis)
    assert out.depth.min() > 0.87 and out.depth.max() < 1.12 / math.cos(math.radians(6)) + 1e-3
    assert out.rgb.min() >= -1 - 1e-3 and out.rgb.max() <= 1 + 1e-3


def test_paper_presets_hold_the_upstream_values():
    from zoo3d.config import load_run_config

    ffhq = load_run_config(GramConfig, "gram", PRESETS, "ffhq256")
    cats = load_run_config(GramConfig, "gram", PRESETS, "cats256")
    tiny = load_run_config(GramConfig, "gram", PRESETS, "tiny")
    assert ffhq.generator == GeneratorConfig()  # the config defaults are the upstream FFHQ values
    stage = ffhq.stage("gram")
    assert (stage.batch_size, stage.steps, ffhq.loss.lambda_realpos) == (32, 150000, 15.0)
    assert (stage.lr, stage.betas, stage.grad_clip, ffhq.train.ema_decay) == (
        {"generator": 2e-5, "discriminator": 2e-4}, (0.0, 0.9), {"generator": 0.25, "discriminator": 1.0}, 0.999)
    # upstream sums the generator's gradient over batch_split before clipping it: clip / k on the batch mean
    assert cats.stage("gram").grad_clip == {"generator": 0.5, "discriminator": 1.0}
    assert (cats.generator.manifold.hidden, cats.loss.lambda_realpos, cats.stage("gram").batch_size) == (64, 30.0, 16)
    # tiny keeps the method: same levels, background plane, ray range and loss weights
    assert tiny.generator.manifold.num_levels == 23 and tiny.generator.manifold.background_z == -0.12
    assert (tiny.generator.render.near, tiny.generator.render.far) == (0.88, 1.12)
    assert tiny.loss == ffhq.loss and tiny.camera == ffhq.camera


def test_model_card_and_registration():
    from zoo3d.cards import load_card
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("GRAM")
    assert spec.kind == "generator" and set(spec.presets()) >= {"tiny", "ffhq256", "cats256"}
    card = load_card(spec.card)
    assert card.name == "gram" and set(card.presets) == set(spec.presets())
    fid = {(r.dataset, r.resolution): r.value for r in card.results if r.metric == "FID" and "README" in r.table}
    assert fid[("FFHQ", 256)] == 14.5 and fid[("Cats", 256)] == 14.6 and fid[("CARLA", 128)] == 26.3


def test_scalar_field_stays_fp32_under_mixed_precision():
    torch.manual_seed(0)
    m = ManifoldPredictor(hidden=32)
    x = torch.rand(1, 200, 3) * 0.24 - 0.12
    net = RadianceNetwork(z_dim=16, mapping_hidden=32, hidden=32, autocast=False)
    freq, phase = net.style(torch.randn(1, 16))
    d = torch.nn.functional.normalize(torch.randn(1, 200, 3), dim=-1)
    with torch.no_grad():
        exact, (rgb, sigma, _) = m(x), net(x, d, freq, phase)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed, (rgb_mixed, sigma_mixed, _) = m(x), net(x, d, freq, phase)
    assert mixed.dtype == torch.float32 and rgb_mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, exact)
    torch.testing.assert_close(rgb_mixed, rgb)


@pytest.mark.cuda
def test_cuda_render_matches_cpu():
    gen = small_generator()
    z, cam = gen.sample_z(2, generator=torch.Generator().manual_seed(3)), Camera.from_angles([0.2, -0.1], 0.05)
    with torch.no_grad():
        cpu = gen(z, cam, psi=0.7)
        gpu = gen.cuda()(z.cuda(), cam.to("cuda"), psi=0.7)
    torch.testing.assert_close(gpu.rgb.cpu(), cpu.rgb, atol=2e-3, rtol=0)
    torch.testing.assert_close(gpu.depth.cpu(), cpu.depth, atol=2e-3, rtol=0)
