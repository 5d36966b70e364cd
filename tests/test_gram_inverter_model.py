"""GRAMInverter's parts: exact coarse fallback of the detail branch, the pose error, the regularisers."""

from __future__ import annotations

import math

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.config import load_run_config
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError
from zoo3d.plugins import get_model_spec
from zoo3d.render.texture import TexturedManifolds

#: A micro version of the tiny preset (seconds on 2 CPU cores): 6 levels, 16 px, narrow nets.
MICRO = ["data.spec=synthetic:heads?count=4", "stages.gram_inverter.efficient_gram.batch_size=2",
         "stages.gram_inverter.encoder.batch_size=2",
         "stages.gram_inverter.detail.batch_size=2", "generator.resolution=16", "generator.texture_resolution=16",
         "generator.manifold.num_levels=6", "generator.render.num_samples=12", "generator.feature_dim=4",
         "generator.channel_max=16", "generator.channel_base=128", "generator.truncation_samples=200",
         "detail.voxel_resolution=4", "detail.voxel_depth=4", "detail.lr_resolution=4", "detail.unet_depth=2",
         "detail.unet_channels=4", "detail.sr_channels=8", "encoder.channels=8", "encoder.max_channels=16",
         "train.sample_seeds=[0,1]", "train.sample_every=0", "train.checkpoint_every=0"]


pytestmark = pytest.mark.usefixtures("single_thread")


def micro_config(*extra: str):
    spec = get_model_spec("graminverter")
    plugin = spec.load()
    return plugin, load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny", None, MICRO + list(extra))


def _inverter(*extra: str):
    plugin, cfg = micro_config(*extra)
    torch.manual_seed(0)
    modules = plugin.build(cfg)
    inv = plugin.build_inverter(cfg, modules).eval()
    return inv, modules


def _images(n: int = 2, res: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 3, res, res, generator=g) * 2 - 1


@torch.no_grad()
def test_zeroed_detail_branch_renders_exactly_the_coarse_inversion():
    inv, modules = _inverter()
    images = _images()
    cams = Camera.from_angles([0.2, -0.3], [0.05, -0.1], 1.0, 12.0)
    last = modules["detail"].sr.conv_last
    last.weight.normal_(0, 0.5)
    last.bias.normal_(0, 0.5)
    detailed = inv.render(inv.invert(images, cams), cams).rgb
    ws, _ = inv.encode(images)
    gen = modules["generator"]
    coarse = gen.render(gen.represent_ws(ws), cams).rgb
    assert (detailed - coarse).abs().max() > 1e-3  # the branch does act when it is not zero

    last.weight.zero_()
    last.bias.zero_()
    assert torch.equal(inv.render(inv.invert(images, cams), cams).rgb, coarse)
    assert torch.equal(inv.render(inv.invert(images, cams, use_detail=False), cams).rgb, coarse)


def test_missing_pose_without_pose_head_is_a_clear_error():
    inv, _ = _inverter("encoder.pose_head=false")
    with pytest.raises(UserError, match="pose"):
        inv.invert(_images(1))
    with torch.no_grad():  # with a camera it inverts
        result = inv.invert(_images(1), Camera.from_angles(0.1, 0.0, 1.0, 12.0))
    assert torch.isfinite(inv.render(result, result.cameras).rgb).all()


def test_pose_head_gives_cameras_at_the_prior_radius_and_fov():
    inv, modules = _inverter()
    enc = modules["encoder"]
    with torch.no_grad():
        enc.pose_head.bias.copy_(torch.tensor([0.25, -0.1]))
        result = inv.invert(_images(1))
    angles = result.cameras.to_angles()
    assert angles["yaw"].item() == pytest.approx(0.25, abs=1e-5)
    assert angles["pitch"].item() == pytest.approx(-0.1, abs=1e-5)
    assert angles["radius"].item() == pytest.approx(1.0, abs=1e-5)
    assert angles["fov"].item() == pytest.approx(12.0, abs=1e-4)


def _plane_view(H: int = 8):
    """A frontal camera at radius 1 seeing the plane z = 0 (normal +z): rays, depth and RenderOutput."""
    cam = Camera.from_angles(0.0, 0.0, 1.0, 30.0)
    o, d = cam.rays(H, H)
    t = (o[..., 2] / -d[..., 2]).reshape(1, 1, H, H)
    normals = torch.zeros(1, 3, H, H)
    normals[:, 2] = 1
    out = RenderOutput(rgb=torch.zeros(1, 3, H, H), depth=t, normals=normals)
    return cam, d, t, out


def test_visibility_is_the_cosine_to_the_input_camera_and_zero_where_occluded():
    from zoo3d_gram_inverter.losses import visibility

    cam, d, t, out = _plane_view()
    v = visibility(out, cam, cam, t)
    expected = (-d[..., 2]).reshape(1, 1, 8, 8)  # -n . d_in with n = +z and d_in the ray itself
    assert torch.allclose(v, expected, atol=1e-5)
    assert v.min() > math.cos(math.radians(30)) - 1e-3
    occluder = t - 0.05  # something 5 cm in front of the plane in the input view
    assert visibility(out, cam, cam, occluder).abs().max() == 0


def test_surface_spread_is_the_weighted_distance_to_the_reference_depth():
    from zoo3d_gram_inverter.losses import surface_spread

    cam = Camera.from_angles(0.0, 0.0, 1.0, 12.0)
    o, d = cam.rays(2, 2)
    ts = torch.tensor([0.9, 1.0, 1.1])
    points = (o[:, None] + ts[None, :, None, None] * d[:, None]).reshape(1, 3, 2, 2, 3)
    weights = torch.tensor([0.25, 0.5, 0.25]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = RenderOutput(rgb=torch.zeros(1, 3, 2, 2), weights=weights, points=points)
    spread = surface_spread(out, cam, torch.full((1, 1, 2, 2), 1.0), scale=0.5)
    assert torch.allclose(spread, torch.full_like(spread, (0.25 * 0.1 + 0.25 * 0.1) / 0.5), atol=1e-5)


def test_depth_slices_give_each_texel_the_features_at_its_own_depth():
    """With K slices, a texel's features are the volume's at its 3D point: a texel on slice k's depth takes
    slice k, one between two slices their linear blend, whichever level it belongs to."""
    plugin, cfg = micro_config("generator.depth_slices=3")  # slices at z = -0.12, 0, 0.12 (near 0.88, far 1.12)
    torch.manual_seed(0)
    gen = plugin.build(cfg)["generator"].eval()
    C = cfg.generator.feature_dim
    assert gen.synthesis.out_channels == (3 + 1) * C
    points, valid = gen.gridded(16)
    points = points.clone()
    points[0, 0, ..., 2] = -0.12  # level 0 on slice 0
    points[0, 1, ..., 2] = 0.12  # level 1 on slice 2
    points[0, 2, ..., 2] = 0.03  # level 2 a quarter of the way from slice 1 to slice 2
    points[0, 3, ..., 2] = 0.5  # beyond the range: the nearest slice
    gen.gridded = lambda resolution: (points, valid)
    ws = gen.map_latent(torch.randn(2, gen.z_dim))
    with torch.no_grad():
        maps = gen.synthesis(ws, noise_mode="none").reshape(2, 4, C, 16, 16)
        features = gen.represent_ws(ws)
    fg = features.foreground
    assert torch.allclose(fg[:, 0], maps[:, 0], atol=1e-5)
    assert torch.allclose(fg[:, 1], maps[:, 2], atol=1e-5)
    assert torch.allclose(fg[:, 2], 0.75 * maps[:, 1] + 0.25 * maps[:, 2], atol=1e-5)
    assert torch.allclose(fg[:, 3], maps[:, 2], atol=1e-5)
    assert torch.allclose(features.background, maps[:, 3], atol=1e-6)


@pytest.mark.parametrize("background_z,blend", [(-0.12, (1.0, 0.0, 0.0)), (-0.03, (0.25, 0.75, 0.0))])
def test_background_from_volume_reads_the_volume_at_the_planes_depth(background_z, blend):
    """The plane at z = 1 - far takes the back slice; one a quarter of a slice nearer, the blend of slices 0
    and 1; the network outputs no group of its own for it."""
    plugin, cfg = micro_config("generator.depth_slices=3", "generator.background_from_volume=true",
                               f"generator.manifold.background_z={background_z}")
    torch.manual_seed(0)
    gen = plugin.build(cfg)["generator"].eval()
    C = cfg.generator.feature_dim
    assert gen.synthesis.out_channels == 3 * C
    ws = gen.map_latent(torch.randn(2, gen.z_dim))
    with torch.no_grad():
        maps = gen.synthesis(ws, noise_mode="none").reshape(2, 3, C, 16, 16)
        features = gen.represent_ws(ws)
    wanted = sum(w * maps[:, k] for k, w in enumerate(blend))
    assert torch.allclose(features.background, wanted, atol=1e-5)
    assert features.foreground.shape[1] == cfg.generator.manifold.num_levels
    with pytest.raises(Exception, match="needs depth_slices"):
        micro_config("generator.depth_slices=null", "generator.background_from_volume=true")


def test_feature_planes_give_each_texel_the_mean_of_three_planes_at_its_3d_point():
    """With feature_planes, planes holding x, z and y along their axes give every texel (x + z + y) / 3 at its
    own gridded point, for every level: the XY plane is read exactly at its texel centres, the XZ and YZ
    planes at the level's depth."""
    plugin, cfg = micro_config("generator.feature_planes=true", "generator.depth_slices=null")
    torch.manual_seed(0)
    gen = plugin.build(cfg)["generator"].eval()
    C, R, e = cfg.generator.feature_dim, 16, gen.extent
    assert gen.synthesis.out_channels == (3 + 1) * C
    axis = torch.linspace(-e, e, R)  # the planes' texel centres (the gridding's)
    planes = torch.zeros(1, 3, C, R, R)
    planes[0, 0, 0] = axis[None, :]  # XY: x along the width
    planes[0, 1, 0] = axis[:, None]  # XZ: z along the height
    planes[0, 2, 0] = axis[None, :]  # YZ: y along the width
    points, valid = gen.gridded(R)
    fg = gen.plane_features(planes)  # (1, N, C, R, R)
    x, y, z = points[0].unbind(-1)  # (N, R, R) each
    inside = valid[0] & (z.abs() <= e)
    assert inside.sum() > R * R  # several levels cross the square
    assert torch.allclose(fg[0, :, 0][inside], ((x + y + z) / 3)[inside], atol=1e-5)
    assert fg[0, :, 1:].abs().max() == 0


def test_feature_planes_and_depth_slices_are_exclusive():
    with pytest.raises(Exception, match="one"):
        micro_config("generator.feature_planes=true", "generator.depth_slices=3")


@pytest.mark.parametrize("texture_filter", ["bilinear", "bicubic"])
def test_texture_filter_sets_how_the_decoded_maps_are_read_between_texels(texture_filter):
    """Half-way between texel centres the colour is the configured filter's read of the decoded maps (a scene of
    the same maps with that filter); the two filters differ there, so a config that did not reach the read
    would fail one case."""
    plugin, cfg = micro_config(f"generator.texture_filter={texture_filter}")
    torch.manual_seed(0)
    gen = plugin.build(cfg)["generator"].eval()
    with torch.no_grad():
        textured = gen.textured(gen.represent_ws(gen.map_latent(torch.randn(1, gen.z_dim))))
        maps, extent = textured.maps, textured.extent
        N, R = maps.shape[1], maps.shape[-1]
        half = extent / (R - 1)  # half a texel: centres lie at linspace(-extent, extent, R)
        side = torch.linspace(-extent + half, extent - half, R - 1)
        y, x = torch.meshgrid(side, side, indexing="ij")
        points = torch.stack([x, y, torch.zeros_like(x)], -1).reshape(1, 1, -1, 3).expand(1, N, -1, 3)
        dirs = torch.zeros_like(points)
        got = textured.radiance(points, dirs).rgb
        read = {mode: TexturedManifolds(gen.manifold, maps, levels=textured.levels, extent=extent, filter=mode)
                .radiance(points, dirs).rgb for mode in ("bilinear", "bicubic")}
    assert (read["bilinear"] - read["bicubic"]).abs().max() > 1e-3
    assert torch.allclose(got, read[texture_filter], atol=1e-6)


def changed_by_gan_steps(tmp_path, module: str, *overrides: str) -> set[str]:
    """The names of ``module``'s parameters that two efficient-GRAM steps of a micro run change."""
    from zoo3d.train.engine import Trainer

    plugin, cfg = micro_config(*overrides, "stages.gram_inverter.efficient_gram.steps=2",
                               "stages.gram_inverter.encoder.steps=0", "stages.gram_inverter.detail.steps=0")
    trainer = Trainer(plugin, cfg, tmp_path / "run", model_name="gram_inverter", device="cpu", progress=False)
    watched = trainer.modules[module]
    before = {name: p.detach().clone() for name, p in watched.named_parameters()}
    trainer.run()
    return {name for name, p in watched.named_parameters() if not torch.equal(p, before[name])}


@pytest.mark.parametrize("learn", [False, True])
def test_fixed_manifolds_keep_the_geometric_init_while_the_textures_train(tmp_path, learn):
    """learn_manifolds=False: the efficient-GRAM stage leaves the manifold predictor as built (the levels
    stay GRAM's nested spheres) and still trains the synthesis network and decoder; True trains it too."""
    changed = changed_by_gan_steps(tmp_path, "generator", f"generator.learn_manifolds={str(learn).lower()}")
    assert any(name.startswith("manifold.") for name in changed) == learn, sorted(changed)
    assert any(name.startswith("synthesis.") for name in changed) and any(name.startswith("decoder.") for name in changed)


def test_untrained_radiance_decoder_keeps_the_features_spread():
    """A decoder that starts by squashing its features draws one flat grey, and the discriminator rejects it
    before the synthesis network learns anything."""
    from zoo3d_gram_inverter.efficient_gram import RadianceDecoder

    torch.manual_seed(0)
    decoder = RadianceDecoder(feature_dim=8, hidden=16)
    features = torch.randn(64, 8, 8, 8)
    logits = decoder.net(features)
    assert 0.5 < logits.std().item() < 2.0
    rgb, alpha = decoder(features)
    assert rgb.std(dim=(-1, -2)).mean() > 0.1  # texels of one map differ in colour
    assert 0.2 < alpha.mean() < 0.8


def test_a_point_on_the_ray_through_a_voxel_cell_reads_that_cell():
    """The U-Net's cells are pooled blocks of image pixels, centred at (j + 0.5) / V: a point on the ray through
    that centre, at any depth, must read cell j (and depth slice k at near + (k + 0.5) / D of the range)."""
    from zoo3d_gram_inverter.detail import sample_camera_voxel

    V, D, near, far = 8, 4, 0.88, 1.12
    cam = Camera.from_angles(0.2, -0.1, 1.0, 12.0, dtype=torch.float64)
    u = torch.arange(V, dtype=torch.float64)
    voxel = torch.stack([u.expand(D, V, V), u[:, None].expand(D, V, V),
                         torch.arange(D, dtype=torch.float64)[:, None, None].expand(D, V, V)])[None]
    o, d = cam.rays(V, V)  # through the V x V pixel centres
    o, d = o.expand(D, -1, -1), d.expand(D, -1, -1)
    depth_axis = cam.cam2world[0, :3, 2]  # the camera looks down its +z (OpenCV)
    slices = near + (torch.arange(D, dtype=torch.float64) + 0.5) / D * (far - near)  # camera depth of slice k
    t = slices[:, None, None] / (d @ depth_axis)[..., None]
    pts = (o + d * t).reshape(1, D * V * V, 3)
    got = sample_camera_voxel(voxel, pts, cam, near, far).reshape(3, D, V, V)
    torch.testing.assert_close(got[0], u.expand(D, V, V), rtol=0, atol=1e-6)            # column
    torch.testing.assert_close(got[1], u[:, None].expand(D, V, V), rtol=0, atol=1e-6)   # row
    torch.testing.assert_close(got[2], torch.arange(D, dtype=torch.float64)[:, None, None].expand(D, V, V),
                               rtol=0, atol=1e-6)                                         # depth slice


@pytest.mark.parametrize("yaw,pitch", [(0.0, 0.0), (0.3, 0.0), (0.6, 0.0), (0.0, 0.155)])
def test_the_background_plane_reads_the_voxels_last_depth_slice_at_full_strength_from_every_view(yaw, pitch):
    # the plane (z = -0.12) lies on the far face of the [0.88, 1.12] voxel for a frontal camera and beyond it
    # otherwise: zero padding in depth had read half of its detail, or none
    from zoo3d.render.gridding import BACKGROUND_Z, background_grid
    from zoo3d_gram_inverter.detail import sample_camera_voxel

    D, V = 4, 8
    voxel = torch.arange(1, D + 1, dtype=torch.float64)[None, None, :, None, None].expand(1, 1, D, V, V)
    cam = Camera.from_angles(yaw, pitch, 1.0, 12.0, dtype=torch.float64)
    points = background_grid(32, BACKGROUND_Z, dtype=torch.float64).reshape(1, -1, 3)
    uv, z = cam.project(points)
    seen = ((uv > 0.5 / V) & (uv < 1 - 0.5 / V)).all(-1)[0]  # texels inside the outer cells' centres
    read = sample_camera_voxel(voxel, points, cam, 0.88, 1.12)[0, 0]
    # slice k (value k + 1) is centred at near + (k + 0.5) / D of the range; past the outer centres, the outer one
    expected = 1 + ((z[0] - 0.88) / 0.24 * D - 0.5).clamp(0, D - 1)
    assert seen.sum() > 100 and (expected[seen] == D).float().mean() > 0.5
    torch.testing.assert_close(read[seen], expected[seen], rtol=0, atol=1e-9)
    # a point at the origin reads between the middle slices, and one outside the image reads nothing
    inside = sample_camera_voxel(voxel, torch.zeros(1, 1, 3, dtype=torch.float64), cam, 0.88, 1.12)
    assert inside.item() == pytest.approx((D + 1) / 2, abs=0.3)
    aside = cam.origins[:, None] + 0.5 * cam.cam2world[:, None, :3, 0]  # far to the camera's side
    assert sample_camera_voxel(voxel, aside, cam, 0.88, 1.12).item() == 0


def test_the_detail_branch_reads_the_background_where_the_generator_draws_it(monkeypatch):
    import zoo3d_gram_inverter.detail as detail

    inv, _ = _inverter("generator.manifold.background_z=-0.05")
    seen = {}
    real = detail.sample_camera_voxel
    monkeypatch.setattr(detail, "sample_camera_voxel", lambda v, p, *a: seen.setdefault("points", p) is None or
                        real(v, p, *a))
    with torch.no_grad():
        inv.invert(_images(1), Camera.from_angles(0.0, 0.0, 1.0, 12.0))
    r = inv.detail.config.lr_resolution
    assert inv.generator.background_z == -0.05
    assert torch.all(seen["points"][0, -r * r:, 2] == -0.05)  # the background manifold's texels


def test_a_float64_generator_inverts_in_every_latent_space_and_in_one_pass():
    from zoo3d.invert import OptimizationInverter, OptimizeSettings

    inv, modules = _inverter()
    inv = inv.double()
    gen = modules["generator"].double()
    image = _images(1)  # float32, as read from a file
    cam = Camera.from_angles(0.1, 0.0, 1.0, 12.0)
    for space in ("z", "w", "w+"):
        result = OptimizationInverter(gen, OptimizeSettings(space=space, steps=1, perceptual_weight=0)).invert(image, cam)
        assert result.latent.dtype == torch.float64, space
    with torch.no_grad():
        result = inv.invert(image, cam)
        assert inv.render(result, cam).rgb.dtype == torch.float64
