"""GramHDGenerator's glue between GRAM, gridding, the SR nets and the HR render, each part against its own answer.

The stages (GRAM's LR render until stage 2 begins), truncation of the LR field and the SR styles, the texels
(the radiance field at the gridded manifold points, seen along -z without view dependence), the extent and the
background plane the HR render reads the maps with, the render resolutions, the one LR intersection, the
free-view layers and the delegation of geometry to the LR scene.
"""

from __future__ import annotations

import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.render.gridding import background_grid, grid_manifolds
from zoo3d_gram_hd import generator as gram_hd_generator
from zoo3d_gram_hd.generator import GramHDGenerator
from zoo3d_gram_hd.superres import StyleRRDBNet

from test_gram_hd_consistency import HR, LR, _visible_points, toy_generator


def _cameras(yaw=(-0.2, 0.25), pitch=(0.05, -0.1), **kw) -> Camera:
    return Camera.from_angles(torch.tensor(yaw), torch.tensor(pitch), **kw)


def _with(gen: GramHDGenerator, prior: CameraPrior | None = None, **changes) -> GramHDGenerator:
    """A generator of ``gen``'s config with ``changes`` made ('a.b': value for nested keys), its weights seeded."""
    cfg = gen.config.model_copy(deep=True)
    for key, value in changes.items():
        *path, last = key.split(".")
        target = cfg
        for p in path:
            target = getattr(target, p)
        setattr(target, last, value)
    torch.manual_seed(0)
    out = GramHDGenerator(type(cfg).model_validate(cfg.model_dump()), prior).eval()
    out.super_resolve.fill_(True)
    return out


def test_a_new_generator_renders_grams_lr_image_until_stage_two_begins():
    """Stage 1 trains GRAM: until ``super_resolve`` is set, render() and the free-view layers are the LR GRAM's."""
    gen = GramHDGenerator(toy_generator().config).eval()
    cams = _cameras()
    with torch.no_grad():
        rep = gen.represent(gen.sample_z(2, generator=torch.Generator().manual_seed(1)))
        assert gen.resolution == (LR, LR)
        for asked, side in ((None, LR), ((8, 8), 8)):
            out = gen.render(rep, cams, asked)
            expected = gen.lowres.render(rep.lowres, cams, (side, side))
            assert out.rgb.shape[-2:] == (side, side) and torch.equal(out.rgb, expected.rgb)
            assert torch.equal(out.depth, expected.depth)
        one = gen.represent(rep.z[:1])
        layers = gen.textured_layers(one, cams[:1])
        lr_layers = gen.lowres.textured_layers(one.lowres, cams[:1], LR)
        finer = gen.textured_layers(one, cams[:1], 2 * LR)
    assert layers.grid_resolution == lr_layers.grid_resolution
    assert torch.equal(layers.textured.maps, lr_layers.textured.maps)
    assert finer.textured.maps.shape[-1] == 2 * LR  # a texture side asked of the GRAM bake


def test_stage_one_draws_cameras_from_the_generators_prior():
    """The LR GRAM trained in stage 1 samples the cameras of the prior the GRAM-HD generator was given."""
    prior = CameraPrior(yaw_std=0.7, pitch_std=0.01, fov=18.0)
    gen = _with(toy_generator(), prior)
    a = gen.lowres.sample_cameras(64, generator=torch.Generator().manual_seed(4))
    b = prior.sample(64, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.cam2world, b.cam2world) and torch.equal(a.intrinsics, b.intrinsics)


def test_psi_zero_collapses_every_instance_to_the_mean_lr_field_and_the_mean_sr_style():
    """Truncation applies to both latent paths: at psi = 0 two latents give the same LR maps and HR maps."""
    gen = toy_generator()
    z = gen.sample_z(2, generator=torch.Generator().manual_seed(5))
    cams = _cameras(yaw=(0.1, 0.1), pitch=(0.0, 0.0))
    with torch.no_grad():
        full = gen.textures(gen.represent(z), cams)
        zero = gen.textures(gen.represent(z, psi=0.0), cams)
    assert not torch.allclose(full.lr_maps[0], full.lr_maps[1])
    assert not torch.allclose(full.hr_maps[0], full.hr_maps[1], atol=1e-3)
    torch.testing.assert_close(zero.lr_maps[0], zero.lr_maps[1], rtol=0, atol=1e-6)
    torch.testing.assert_close(zero.hr_maps[0], zero.hr_maps[1], rtol=0, atol=1e-5)


def test_the_sr_style_average_is_the_mean_style_of_truncation_samples_fixed_latents():
    """The SR net's truncation centre: the mean style over ``truncation_samples`` latents of a fixed seed, so a
    generator truncates the same whatever the process RNG did before; recomputed when its mapping changes."""
    gen = toy_generator()
    net, n = gen.foreground_sr, gen.config.lowres.radiance.truncation_samples
    latents = lambda: torch.randn(n, gen.z_dim,  # noqa: E731
                                  generator=torch.Generator().manual_seed(gram_hd_generator._STYLE_AVERAGE_SEED))
    z = gen.sample_z(1, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.manual_seed(123)
        gen.textures(gen.represent(z, psi=0.5), _cameras()[:1])
        torch.testing.assert_close(net.style_avg, net.mapping(latents()).mean(0))
        net.mapping[-1].weight.mul_(1.5)  # a training step moves the mapping
        net.mapping[-1].bias.add_(0.1)
        gen.textures(gen.represent(z, psi=0.5), _cameras()[:1])
        torch.testing.assert_close(net.style_avg, net.mapping(latents()).mean(0))


def test_texels_are_the_field_at_the_gridded_points_seen_along_minus_z_without_view_dependence():
    """LR maps: rgb, alpha (zero off the crossed levels) and features of the radiance field at the manifold points
    gridded over the config's extent; background: its rgb on the config's plane; both seen along (0, 0, -1)."""
    gen = _with(toy_generator(), None, extent=0.15, **{"lowres.manifold.background_z": -0.1})
    rc = gen.config.lowres.render
    z = gen.sample_z(2, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        rep = gen.represent(z)
        maps, bg = gen.lowres_textures(rep, _cameras())
        points, valid = grid_manifolds(rep.lowres, LR, 0.15, rc.near, rc.far, rc.num_samples)
        pts = points.reshape(2, -1, 3)
        down = torch.tensor([0.0, 0.0, -1.0]).expand_as(pts)
        fg = rep.lowres.query(pts, down)
        bg_pts = background_grid(LR, -0.1).reshape(1, -1, 3).expand(2, -1, -1)
        bg_rgb = rep.lowres.query(bg_pts, torch.tensor([0.0, 0.0, -1.0]).expand_as(bg_pts)).rgb
    N = points.shape[1]
    texels = maps.permute(0, 1, 3, 4, 2).reshape(2, N * LR * LR, -1)
    assert valid.float().mean() > 0.2 and not valid.all()
    torch.testing.assert_close(texels[..., :3], fg.rgb)
    torch.testing.assert_close(texels[..., 3:4], fg.alpha * valid.reshape(2, -1, 1))
    torch.testing.assert_close(texels[..., 4:], fg.features)
    torch.testing.assert_close(bg.permute(0, 2, 3, 1).reshape(2, -1, 3), bg_rgb)


def test_hr_render_reads_the_maps_where_gridding_laid_them_out_at_any_extent_and_plane():
    """With ``residual: field`` at zero gain the HR maps hold the field gridded at the HR side; a field linear in
    world x (opaque in a cylinder) must then render at every pixel as the field at the point it shows, at a
    non-default extent; the background plane's hits lie on the configured plane (depth (z_plane - o_z) / d_z)."""

    class Ramp:
        feature_dim = 4

        def __call__(self, points, dirs, freq, phase):
            rgb = (0.5 + 2.0 * points[..., :1]).expand(*points.shape[:-1], 3)
            inside = points[..., :2].norm(dim=-1, keepdim=True) < 0.08  # opaque in a cylinder, clear outside
            return rgb, 1e4 * inside.to(rgb), points.new_zeros(*points.shape[:-1], 4)

    gen = _with(toy_generator(view_dependent=True, residual="field"), None, extent=0.16,
                **{"lowres.manifold.background_z": -0.1})
    cams = _cameras(yaw=(0.15,), pitch=(0.05,))
    with torch.no_grad():
        rep = gen.represent(gen.sample_z(1, generator=torch.Generator().manual_seed(3)))
        rep.lowres.radiance_net = Ramp()
        out = gen.render(rep, cams)
    pts, mask = _visible_points(out)
    assert mask.float().mean() > 0.2
    rgb = ((out.rgb + 1) / 2)[0, 0].reshape(-1)
    err = (rgb - (0.5 + 2.0 * pts[0, 0].reshape(-1)))[mask].abs()
    assert err.mean() < 1e-4, err.mean()  # measured 1.6e-6
    origins, dirs = cams.rays(HR, HR)
    t_plane = ((-0.1 - origins[0, :, 2]) / dirs[0, :, 2]).reshape(HR, HR)
    background = out.alpha[0, 0] < 1e-4
    assert background.float().mean() > 0.05
    torch.testing.assert_close(out.depth[0, 0][background], t_plane[background], rtol=0, atol=1e-4)


def test_hr_render_resolution_comes_from_the_call_then_the_cameras_then_the_config():
    gen = toy_generator()
    with torch.no_grad():
        rep = gen.represent(gen.sample_z(1, generator=torch.Generator().manual_seed(1)))
        assert gen.render(rep, _cameras()[:1]).rgb.shape[-2:] == (HR, HR)
        assert gen.render(rep, _cameras()[:1], (48, 48)).rgb.shape[-2:] == (48, 48)
        assert gen.render(rep, _cameras(resolution=(24, 24))[:1]).rgb.shape[-2:] == (24, 24)


def test_lr_and_hr_images_come_from_one_intersection_of_the_lr_rays(monkeypatch):
    """The LR rays are intersected once for both images (the LR render and the upsampled HR hits): the renderers
    search level crossings along B * h * w rays in all."""
    import zoo3d.render.manifold as manifold

    gen = toy_generator(view_dependent=True)
    rays = []
    search = manifold.intersect_manifolds
    monkeypatch.setattr(manifold, "intersect_manifolds", lambda rep, o, *a, **k: rays.append(o.shape[1]) or search(
        rep, o, *a, **k))
    with torch.no_grad():
        rep = gen.represent(gen.sample_z(2, generator=torch.Generator().manual_seed(1)))
        gen.render(rep, _cameras())
    assert sum(rays) == LR * LR


def test_free_view_layers_are_the_hr_maps_of_the_camera_on_the_lr_mesh_grid():
    """After stage 2 begins the free-view cache gets the HR maps made for the camera, meshed on the LR grid with
    the renderer's own crossing search, and a white backdrop where the LR GRAM has a white background."""
    for white in (False, True):
        gen = _with(toy_generator(view_dependent=True), None, **{"lowres.render.white_background": white})
        cam = _cameras()[1:]
        with torch.no_grad():
            rep = gen.represent(gen.sample_z(1, generator=torch.Generator().manual_seed(8)))
            layers = gen.textured_layers(rep, cam)
            textures = gen.textures(rep, cam)
        rc = gen.config.lowres.render
        assert (layers.grid_resolution, layers.near, layers.far, layers.num_samples) == (LR, rc.near, rc.far,
                                                                                          rc.num_samples)
        assert layers.backdrop == ((1.0, 1.0, 1.0) if white else None)
        torch.testing.assert_close(layers.textured.maps, textures.hr_maps)
        torch.testing.assert_close(layers.textured.background_map, textures.hr_background)


def test_geometry_and_point_colours_are_the_lr_scenes():
    """Super-resolution changes textures only: meshing and point queries read the LR GRAM."""
    gen = toy_generator()
    with torch.no_grad():
        rep = gen.represent(gen.sample_z(2, generator=torch.Generator().manual_seed(1)))
        p = torch.rand(2, 50, 3, generator=torch.Generator().manual_seed(2)) * 0.2 - 0.1
        d = torch.nn.functional.normalize(p - torch.tensor([0.0, 0.0, 1.0]), dim=-1)
        field, level = rep.mesh_field(p)
        lr_field, lr_level = rep.lowres.mesh_field(p)
        torch.testing.assert_close(field, lr_field, rtol=0, atol=0)
        assert level == lr_level
        a, b = rep.query(p, d), rep.lowres.query(p, d)
    for key in ("rgb", "alpha", "features"):
        torch.testing.assert_close(getattr(a, key), getattr(b, key), rtol=0, atol=0)


def test_the_foreground_net_is_built_with_the_configs_last_kernel_and_kernel_storage():
    """``last_kernel: 3`` and ``kernels: equalized`` reach the net: a StyleRRDBNet of those options takes its weights
    and computes its maps, and its 3x3 kernels are stored at unit std (upstream's: 1 / sqrt(3 fan_in))."""
    gen = _with(toy_generator(), None, **{"foreground_sr.last_kernel": 3, "foreground_sr.kernels": "equalized"})
    fg, lr = gen.config.foreground_sr, gen.config.lowres
    ref = StyleRRDBNet(in_ch=4 + lr.radiance.feature_dim, out_ch=4, nf=fg.nf, nb=fg.nb, gc=fg.gc, scale=2,
                       z_dim=lr.radiance.z_dim, up_channels=fg.up_channels, style_hidden=fg.style_hidden,
                       last_kernel=3, kernels="equalized")
    ref.load_state_dict(gen.foreground_sr.state_dict())
    x, z = torch.rand(2, 8, 6, 6), torch.randn(1, 16)
    with torch.no_grad():
        torch.testing.assert_close(gen.foreground_sr(x, z), ref(x, z))
    assert abs(float(gen.foreground_sr.hr_conv.weight.detach().std()) - 1.0) < 0.1
