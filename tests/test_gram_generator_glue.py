"""GRAM's generator glue: truncation towards the mean style, the representation's queries, the free-view bake.

Each check states the formula of GRAM's paper or code (alpha = 1 - exp(-0.04 sigma), psi-lerp of the FiLM
parameters towards their mean, radiance seen from the camera centre) and recomputes it here by hand.
"""

from __future__ import annotations

import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.render.gridding import background_grid, grid_manifolds
from zoo3d_gram.config import GeneratorConfig
from zoo3d_gram.generator import _AVERAGE_STYLE_SEED, GramGenerator
from zoo3d_gram.representation import GramRepresentation


def tiny(feature_dim: int = 0, **manifold) -> GramGenerator:
    """GRAM's architecture at widths that query in milliseconds."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=8)
    cfg.manifold.hidden, cfg.manifold.num_levels = 16, 6
    for k, v in manifold.items():
        setattr(cfg.manifold, k, v)
    cfg.radiance.z_dim, cfg.radiance.mapping_hidden, cfg.radiance.hidden = 8, 16, 16
    cfg.radiance.truncation_samples, cfg.radiance.feature_dim = 64, feature_dim
    cfg.render.num_samples = 12
    return GramGenerator(cfg).eval()


def points_and_dirs(n: int = 40, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    p = (torch.rand(1, n, 3, generator=g) * 2 - 1) * 0.15
    return p, torch.nn.functional.normalize(torch.randn(1, n, 3, generator=g), dim=-1)


def test_representation_defaults_are_grams_interval_and_cube():
    """GRAM's alpha uses the constant interval 0.04; the meshed cube is [-0.12, 0.12]^3 (near 0.88, far 1.12)."""
    gen = tiny()
    rep = GramRepresentation(gen.manifold, gen.radiance_net, *gen.style(torch.zeros(1, 8)), gen.levels, None)
    assert rep.delta_alpha == 0.04 and rep.bounds == 0.12
    gen.config.render.near, gen.config.render.far = 0.7, 1.3
    assert gen.represent(torch.zeros(1, 8)).bounds == pytest.approx((1.3 - 0.7) / 2)


def test_query_alpha_is_one_minus_exp_of_minus_delta_sigma_and_keeps_sigma():
    gen = tiny()
    gen.delta_alpha = 0.3
    rep = gen.represent(torch.randn(1, 8))
    with torch.no_grad():
        r = rep.query(*points_and_dirs())
    assert r.sigma is not None and r.sigma.abs().max() > 0.1
    torch.testing.assert_close(r.alpha, 1 - torch.exp(-0.3 * r.sigma))


def test_a_network_without_the_folded_path_gives_the_same_radiance():
    """The plain call (freq, phase given per query) and the folded fast path are the same network."""
    gen = tiny()
    rep = gen.represent(torch.randn(2, 8))
    p, d = points_and_dirs()
    p, d = p.expand(2, -1, -1), d.expand(2, -1, -1)
    net = gen.radiance_net
    plain = GramRepresentation(rep.manifold, lambda *a: net(*a), rep.freq, rep.phase, rep.levels, None)
    with torch.no_grad():
        fast, slow = rep.query(p, d), plain.query(p, d)
    for a, b in ((fast.rgb, slow.rgb), (fast.sigma, slow.sigma), (fast.alpha, slow.alpha)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(fast.rgb[0], fast.rgb[1])  # two styles: freq and phase reach the network


def test_the_folded_network_is_kept_until_a_weight_changes_and_rebuilt_under_autograd():
    gen = tiny()
    z = torch.randn(1, 8)
    freq, phase = (t.detach().clone().requires_grad_() for t in gen.style(z))
    rep = gen.representation_from_style(freq, phase)
    p, d = points_and_dirs()
    rep.query(p, d).rgb.sum().backward()  # with a graph: a fresh fold that carries the gradient to the style
    assert freq.grad is not None and freq.grad.abs().sum() > 0 and phase.grad.abs().sum() > 0
    with torch.no_grad():
        before = rep.query(p, d).rgb
        folded = rep._folded_network()
        assert rep._folded_network() is folded  # nothing changed: the fold is reused
        siren = [w for name, w in gen.radiance_net.named_parameters() if not name.startswith("mapping")]
        siren[0].mul_(1.5)
        assert rep._folded_network() is not folded
        assert not torch.allclose(rep.query(p, d).rgb, before)  # the new weights are used


def test_radiance_on_manifolds_is_the_query_of_every_point_with_its_rays_direction():
    gen = tiny(feature_dim=4)  # GRAM-HD's feature heads: features travel with the radiance
    rep = gen.represent(torch.randn(2, 8))
    g = torch.Generator().manual_seed(3)
    B, N, P = 2, 3, 5
    pts = (torch.rand(B, N, P, 3, generator=g) * 2 - 1) * 0.1
    dirs = torch.nn.functional.normalize(torch.randn(B, P, 3, generator=g), dim=-1)
    with torch.no_grad():
        r = rep.radiance(pts, dirs)
        for n in range(N):
            q = rep.query(pts[:, n], dirs)
            torch.testing.assert_close(r.rgb[:, n], q.rgb)
            torch.testing.assert_close(r.alpha[:, n], q.alpha)
            torch.testing.assert_close(r.sigma[:, n], q.sigma)
            torch.testing.assert_close(r.features[:, n], q.features)
        assert tiny().represent(torch.randn(2, 8)).radiance(pts, dirs).features is None  # none without heads


def test_mesh_field_is_the_frontal_alpha_inside_the_band_of_levels_and_zero_outside():
    gen = tiny()
    rep = gen.represent(torch.randn(1, 8))
    g = torch.Generator().manual_seed(4)
    pts = (torch.rand(1, 400, 3, generator=g) * 2 - 1) * 0.12
    with torch.no_grad():
        field, level = rep.mesh_field(pts)
        front = torch.tensor([0.0, 0.0, -1.0]).expand(1, 400, 3)
        alpha = rep.query(pts, front).alpha[..., 0]
        s = rep.scalar(pts)
    inside = (s >= rep.levels.min()) & (s <= rep.levels.max())
    assert level == 0.2 and 0 < inside.sum() < 400  # both cases are present
    torch.testing.assert_close(field, torch.where(inside, alpha, torch.zeros_like(alpha)))


def test_background_radiance_is_the_same_network_without_alpha():
    gen = tiny(feature_dim=4)
    rep = gen.represent(torch.randn(1, 8))
    p, d = points_and_dirs()
    with torch.no_grad():
        bg, q = rep.background_radiance(p, d), rep.query(p, d)
    torch.testing.assert_close(bg.rgb, q.rgb)
    torch.testing.assert_close(bg.features, q.features)
    assert bg.alpha is None and bg.sigma is None and q.features.shape[-1] == 4


def test_average_style_is_the_mean_film_over_the_seeded_latents_and_follows_the_weights():
    """GRAM's get_avg_w: the mean mapping output over truncation_samples latents (here drawn from a fixed seed)."""
    gen = tiny()
    mapping = gen.radiance_net.mapping
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(_AVERAGE_STYLE_SEED))
    with torch.no_grad():
        f, ph = mapping(z)
        freq, phase = gen.average_style()
    torch.testing.assert_close(freq, f.mean(0, keepdim=True), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(phase, ph.mean(0, keepdim=True), rtol=1e-5, atol=1e-6)
    assert gen.average_style()[0] is freq  # kept while the weights stay
    with torch.no_grad():
        mapping.out.bias.add_(1.0)
    assert not torch.allclose(gen.average_style()[0], freq)


def test_style_truncation_is_a_lerp_towards_the_mean_and_psi_one_is_the_plain_style():
    gen = tiny()
    z = torch.randn(3, 8)
    with torch.no_grad():
        freq, phase = gen.radiance_net.style(z)
        avg_f, avg_p = gen.average_style()
        f1, p1 = gen.style(z)
        f2, p2 = gen.style(z, psi=2.0)
    torch.testing.assert_close(f1, freq, rtol=0, atol=0)
    torch.testing.assert_close(p1, phase, rtol=0, atol=0)
    torch.testing.assert_close(f2, avg_f + 2.0 * (freq - avg_f))  # psi > 1 extrapolates away from the mean
    torch.testing.assert_close(p2, avg_p + 2.0 * (phase - avg_p))


def test_generator_wires_its_config_and_camera_prior():
    gen = tiny(init_radius=0.05)
    assert torch.allclose(gen.manifold.out.bias, torch.tensor(-0.05))
    assert gen.renderer.chunk == gen.config.render.chunk
    assert gen.radiance_net.autocast is True
    cfg = GeneratorConfig()
    cfg.radiance.autocast = False
    assert GramGenerator(cfg).radiance_net.autocast is False
    assert isinstance(gen.camera_prior, CameraPrior)
    prior = CameraPrior()
    assert GramGenerator(gen.config, camera_prior=prior).camera_prior is prior


def test_render_takes_the_cameras_resolution_and_given_intersections():
    gen = tiny()
    rep = gen.represent(torch.randn(1, 8))
    cams = Camera.from_angles([0.1], [0.05], resolution=(4, 6))
    with torch.no_grad():
        out = gen.render(rep, cams)
        assert out.rgb.shape[-2:] == (4, 6)  # the cameras' own size, not the generator's 8 x 8
        assert gen.render(rep, Camera.from_angles([0.1], [0.05])).rgb.shape[-2:] == (8, 8)
        hits = gen.renderer.intersect(rep, cams, (4, 6))

        def no_second_intersection(*a, **k):
            raise AssertionError("given intersections must be used")

        gen.renderer.intersect = no_second_intersection
        again = gen.render(rep, cams, intersections=hits)
        missed = gen.render(rep, cams, intersections=(hits[0], torch.zeros_like(hits[1])))
    torch.testing.assert_close(again.rgb, out.rgb)
    assert not torch.allclose(missed.rgb, out.rgb)  # hits that cross no level: only the background is seen


def test_textured_layers_bake_the_radiance_seen_from_the_camera_centre():
    """Maps hold rgb and alpha of each manifold's grid point seen along (point - camera centre), alpha zero where a
    level is not crossed; the background map holds the background plane's rgb seen the same way."""
    gen = tiny(background_z=-0.15)  # not the gridding module's default plane
    rep = gen.represent(torch.randn(1, 8))
    cam = Camera.from_angles([0.2, -0.3], [0.1, 0.0])  # the first camera's centre is the one seen from
    R, e, rc = 5, gen.cache_extent, gen.config.render
    with torch.no_grad():
        layers = gen.textured_layers(rep, cam, texture_resolution=R, chunk=7)  # several chunks
        pts, valid = grid_manifolds(rep, R, e, rc.near, rc.far, rc.num_samples)
        N = pts.shape[1]
        eye = cam.cam2world[0, :3, 3]
        flat = pts.reshape(1, -1, 3)
        q = rep.query(flat, torch.nn.functional.normalize(flat - eye, dim=-1))
        bg = background_grid(R, -0.15).reshape(1, -1, 3)
        qb = rep.background_radiance(bg, torch.nn.functional.normalize(bg - eye, dim=-1))
    maps = layers.textured.maps
    assert maps.shape == (1, N, 4, R, R) and 0 < valid.sum() < valid.numel()
    torch.testing.assert_close(maps[0, :, :3].permute(0, 2, 3, 1), q.rgb.reshape(N, R, R, 3))
    torch.testing.assert_close(maps[0, :, 3], (q.alpha[..., 0] * valid.reshape(1, -1)).reshape(N, R, R))
    torch.testing.assert_close(layers.textured.background_map[0].permute(1, 2, 0), qb.rgb.reshape(R, R, 3))
    assert (layers.textured.extent, layers.textured.background_z) == (e, -0.15)
    assert (layers.grid_resolution, layers.near, layers.far, layers.num_samples) == (R, rc.near, rc.far, 12)
    assert layers.backdrop is None
    with pytest.raises(ValueError, match="one instance"):
        gen.textured_layers(gen.represent(torch.randn(2, 8)), cam)


def test_textured_layers_of_a_white_scene_without_background_plane():
    """CARLA's white background is the backdrop behind the layers; without a plane there is no background map."""
    gen = tiny(background_z=None)
    gen.config.render.white_background = True
    with torch.no_grad():
        layers = gen.textured_layers(gen.represent(torch.randn(1, 8)), Camera.from_angles([0.0], [0.0]), 4)
    assert layers.textured.background_map is None and layers.backdrop == (1.0, 1.0, 1.0)
