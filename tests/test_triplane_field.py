"""Tri-plane sampling and the decoder as a FieldRepresentation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from zoo3d_triplane.field import TriplaneDecoder, TriplaneScene, inverse_softplus
from zoo3d.nn.triplane import aggregate, project_onto_planes, sample_planes, texel_centre

R, C, BOX = 8, 4, 0.25


def _planted_planes(index: tuple[int, int, int], features: torch.Tensor) -> torch.Tensor:
    """Zero planes (1, 3, C, R, R) with features[k] written at the texel of the 3D point with texel indices ``index``.

    The layout is written out here (not taken from the module) so a wrong axis order fails:
    XY has x along the width and y along the height, XZ has x and z, YZ has y and z.
    """
    x, y, z = index
    planes = torch.zeros(1, 3, C, R, R)
    planes[0, 0, :, y, x] = features[0]
    planes[0, 1, :, z, x] = features[1]
    planes[0, 2, :, z, y] = features[2]
    return planes


def test_a_feature_planted_at_a_point_is_read_back_from_all_three_planes():
    index = (1, 4, 6)  # distinct texel indices along x, y, z, so swapped axes look elsewhere
    point = torch.tensor([[[texel_centre(i, R, BOX) for i in index]]])
    features = torch.arange(1.0, 1.0 + 3 * C).reshape(3, C)
    out = sample_planes(_planted_planes(index, features), point, BOX)  # (1, 3, 1, C)
    for k in range(3):
        torch.testing.assert_close(out[0, k, 0], features[k])
    torch.testing.assert_close(aggregate(out)[0, 0], features.mean(0))


def test_the_third_plane_is_yz_not_the_upstream_zx():
    index = (1, 4, 6)
    features = torch.ones(3, C)
    planes = _planted_planes(index, features)
    # only the YZ plane holds the feature: (y, z) = (4, 6) must read it; a point whose (z, x) lands there must not
    only_yz = planes.clone()
    only_yz[:, :2] = 0
    at_point = torch.tensor([[[texel_centre(i, R, BOX) for i in index]]])
    zx_slip = torch.tensor([[[texel_centre(6, R, BOX), texel_centre(0, R, BOX), texel_centre(4, R, BOX)]]])
    assert sample_planes(only_yz, at_point, BOX)[0, 2, 0].sum() == C
    assert sample_planes(only_yz, zx_slip, BOX)[0, 2, 0].abs().sum() == 0


def test_a_point_elsewhere_on_the_planes_does_not_read_the_planted_feature():
    index = (1, 4, 6)
    planes = _planted_planes(index, torch.ones(3, C))
    other = torch.tensor([[[texel_centre(i, R, BOX) for i in (5, 0, 2)]]])
    outside = torch.tensor([[[0.3, 0.0, 0.0]]])  # beyond the cube (half-side 0.125): zeros on XY and XZ
    assert sample_planes(planes, other, BOX).abs().sum() == 0
    far = sample_planes(torch.ones(1, 3, C, R, R), outside, BOX)
    assert far[0, 0].abs().sum() == 0 and far[0, 1].abs().sum() == 0 and far[0, 2].sum() == C


def test_bilinear_reading_between_two_texels_is_their_average():
    planes = torch.zeros(1, 3, 1, R, R)
    planes[0, 0, 0, 3, 2] = 1.0  # XY plane, x texel 2, y texel 3
    planes[0, 0, 0, 3, 3] = 3.0  # x texel 3
    x = 0.5 * (texel_centre(2, R, BOX) + texel_centre(3, R, BOX))
    p = torch.tensor([[[x, texel_centre(3, R, BOX), 0.5]]])  # z outside the cube: other planes read zeros
    assert sample_planes(planes, p, BOX)[0, 0, 0, 0].item() == 2.0


def _scene(density_scale: float) -> TriplaneScene:
    torch.manual_seed(0)
    return TriplaneScene(planes=torch.randn(2, 3, C, R, R), decoder=TriplaneDecoder(C, 16), box_warp=BOX,
                         density_scale=density_scale)


def test_query_answers_any_points_without_a_camera_and_the_renderer_softplus_gives_the_density():
    for scale in (1.0, 4.0):
        scene = _scene(scale)
        points = (torch.rand(2, 500, 3) - 0.5) * 0.3
        rad = scene.query(points, None)
        assert scene.kind == "density" and scene.bounds == BOX / 2
        torch.testing.assert_close(F.softplus(rad.sigma), scene.density(points), rtol=1e-4, atol=1e-6)
        assert rad.rgb.min() >= 0 and rad.rgb.max() <= 1
        torch.testing.assert_close(rad.rgb, rad.features[..., :3].clamp(0, 1))
    # the density per world unit is EG3D's softplus(raw - 1) times the scale
    points = torch.zeros(2, 1, 3)
    torch.testing.assert_close(_scene(4.0).density(points), 4.0 * _scene(1.0).density(points))


def test_inverse_softplus_round_trips():
    y = torch.tensor([1e-6, 0.01, 0.5, 3.0, 50.0])
    torch.testing.assert_close(F.softplus(inverse_softplus(y)), y, rtol=1e-5, atol=0)


class _PeakDecoder(torch.nn.Module):
    """Dense only where all three planes carry channel 0 (their mean is 1 there, at most 2/3 elsewhere)."""

    def forward(self, features):
        raw = 400.0 * (features[..., :1] - 0.8)
        return raw, torch.ones_like(features)


def test_a_point_planted_on_all_three_planes_renders_where_the_camera_projects_it():
    from zoo3d.cameras import Camera
    from zoo3d.render.volume import VolumeRenderer

    res = 8  # coarse texels (0.03 world units), so the dense core (mean > 0.8) spans a few pixels
    index = (5, 2, 6)  # x, y, z texels: the point (0.047, -0.047, 0.078), all three coordinates distinct
    planes = _planted_planes_at(index, res)
    scene = TriplaneScene(planes=planes, decoder=_PeakDecoder(), box_warp=BOX)
    point = torch.tensor([[texel_centre(i, res, BOX) for i in index]])
    renderer = VolumeRenderer(num_samples=96, num_importance=32, near=0.88, far=1.12).eval()
    for yaw in (0.0, 0.3):
        cam = Camera.from_angles([yaw], 0.1)
        out = renderer.render(scene, cam, (48, 48))
        alpha = out.alpha[0, 0]
        assert alpha.max() > 0.3
        row, col = divmod(int(alpha.argmax()), 48)
        uv, _ = cam.project(point[None])
        assert abs((col + 0.5) / 48 - uv[0, 0, 0]) <= 1.5 / 48 and abs((row + 0.5) / 48 - uv[0, 0, 1]) <= 1.5 / 48
        distance = (point[0] - cam.origins[0]).norm()
        assert abs(out.depth[0, 0, row, col] / alpha[row, col] - distance) < 0.01


def _planted_planes_at(index, res):
    x, y, z = index
    planes = torch.zeros(1, 3, 4, res, res)
    planes[0, 0, 0, y, x] = 1.0
    planes[0, 1, 0, z, x] = 1.0
    planes[0, 2, 0, z, y] = 1.0
    return planes


def test_an_imported_eg3d_model_reads_its_third_plane_as_zx():
    """EG3D's projection puts z along the third plane's width and x along its height."""
    index = (1, 4, 6)
    planes = torch.zeros(1, 3, C, R, R)
    planes[0, 2, :, 1, 6] = 1.0  # height = x texel 1, width = z texel 6
    point = torch.tensor([[[texel_centre(i, R, BOX) for i in index]]])
    assert sample_planes(planes, point, BOX, third_plane="zx")[0, 2, 0].sum() == C
    assert sample_planes(planes, point, BOX)[0, 2, 0].abs().sum() == 0


def test_the_decoder_is_eg3ds_osg_decoder_written_out():
    """FC -> softplus -> FC with equalised learning rate; channel 0 is the raw density, the rest the widened sigmoid."""
    torch.manual_seed(1)
    lr_mul = 0.3
    dec = TriplaneDecoder(C, 16, lr_mul=lr_mul)
    with torch.no_grad():  # non-zero biases, so a dropped or unscaled bias shows
        dec.fc1.bias.normal_()
        dec.fc2.bias.normal_()
    f = torch.randn(2, 5, C)
    with torch.no_grad():
        h = F.softplus(f @ (dec.fc1.weight * lr_mul / 2.0).T + dec.fc1.bias * lr_mul)  # 1 / sqrt(C = 4)
        x = h @ (dec.fc2.weight * lr_mul / 4.0).T + dec.fc2.bias * lr_mul  # 1 / sqrt(hidden = 16)
        raw, features = dec(f)
    assert raw.shape == (2, 5, 1) and features.shape == (2, 5, C)
    torch.testing.assert_close(raw, x[..., :1])
    torch.testing.assert_close(features, torch.sigmoid(x[..., 1:]) * 1.002 - 0.001)
    default = TriplaneDecoder()  # EG3D's: 32 plane channels, 64 hidden, lr multiplier 1
    assert default.fc1.weight.shape == (64, 32) and default.fc2.weight.shape == (33, 64) and default.fc1.lr_mul == 1


class _RawDecoder(torch.nn.Module):
    """Raw density = channel 0 of the mean plane feature times 10; features = the mean features themselves."""

    def forward(self, features):
        return 10.0 * features[..., :1], features


def test_density_is_softplus_of_raw_minus_one_per_eg3d_unit_times_the_scale():
    planes = torch.randn(1, 3, C, R, R, generator=torch.Generator().manual_seed(2))
    points = (torch.rand(1, 50, 3, generator=torch.Generator().manual_seed(3)) - 0.5) * BOX
    mean = sample_planes(planes, points, BOX).mean(1)
    raw = 10.0 * mean[..., :1]
    for scale in (1.0, 2.0, 3.0):
        scene = TriplaneScene(planes=planes, decoder=_RawDecoder(), box_warp=BOX, density_scale=scale)
        expected = scale * torch.log1p(torch.exp(raw - 1.0))
        torch.testing.assert_close(scene.density(points), expected)
        rad = scene.query(points)
        torch.testing.assert_close(torch.log1p(torch.exp(rad.sigma)), expected, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(rad.features, mean)
        torch.testing.assert_close(rad.rgb, mean[..., :3].clamp(0, 1))
    # with the scale 1 the renderer's pre-activation is exactly raw - 1
    torch.testing.assert_close(TriplaneScene(planes, _RawDecoder(), BOX).query(points).sigma, raw - 1.0)


def test_a_scene_of_an_imported_model_decodes_its_third_plane_as_zx():
    index = (1, 4, 6)
    planes = torch.zeros(1, 3, C, R, R)
    planes[0, 2, :, 1, 6] = 3.0  # ZX: height = x texel 1, width = z texel 6
    point = torch.tensor([[[texel_centre(i, R, BOX) for i in index]]])
    _, zx = TriplaneScene(planes, _RawDecoder(), BOX, third_plane="zx").decode(point)
    _, yz = TriplaneScene(planes, _RawDecoder(), BOX).decode(point)
    torch.testing.assert_close(zx[0, 0], torch.ones(C))  # the mean over three planes of (0, 0, 3)
    assert yz.abs().sum() == 0
    # box_warp reaches the sampling: in a cube twice as large the same point lands on another texel
    _, wide = TriplaneScene(planes, _RawDecoder(), 2 * BOX, third_plane="zx").decode(point)
    assert wide.abs().sum() < zx.abs().sum()


def test_inverse_softplus_of_zero_is_finite_and_of_a_large_value_is_about_the_value():
    """Zero and underflowing densities are clamped to sqrt(tiny) (about 1e-19 in float32), not -inf."""
    x = inverse_softplus(torch.tensor([0.0, 1e-30]))
    tiny = torch.finfo(torch.float32).tiny ** 0.5
    torch.testing.assert_close(x, torch.full((2,), math.log(tiny)), rtol=1e-5, atol=0)
    torch.testing.assert_close(inverse_softplus(torch.tensor([30.0])), torch.tensor([30.0]))


def test_sampling_runs_in_at_least_float32_whatever_the_planes_and_points_dtypes():
    """bf16 plane coordinates would be off by about a texel at R = 256: planes and points are read in float32."""
    planes = torch.randn(1, 3, C, 256, 256, generator=torch.Generator().manual_seed(4))
    points = (torch.rand(1, 20, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64) - 0.5) * BOX
    expected = sample_planes(planes.bfloat16().float(), points.float(), BOX)
    for p in (points, points.float()):
        out = sample_planes(planes.bfloat16(), p, BOX)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, expected)
    assert sample_planes(planes.double(), points.float(), BOX).dtype == torch.float64


def test_projection_gives_each_planes_two_coordinates_scaled_to_the_cube():
    points = torch.tensor([[[0.05, -0.02, 0.1], [-0.1, 0.0, 0.03]]])  # (1, 2, 3)
    x, y, z = (points[..., i] * 2 / BOX for i in range(3))
    for third, pairs in (("yz", ((x, y), (x, z), (y, z))), ("zx", ((x, y), (x, z), (z, x)))):
        expected = torch.stack([torch.stack(pair, -1) for pair in pairs], 1)  # (1, 3, 2, 2)
        torch.testing.assert_close(project_onto_planes(points, BOX, third), expected)
    torch.testing.assert_close(project_onto_planes(points, BOX), project_onto_planes(points, BOX, "yz"))


def test_each_instance_of_a_batch_reads_its_own_planes_at_its_own_points():
    planes = torch.randn(3, 3, C, R, R, generator=torch.Generator().manual_seed(6))
    points = (torch.rand(3, 7, 3, generator=torch.Generator().manual_seed(7)) - 0.5) * BOX
    batch = sample_planes(planes, points, BOX)
    for b in range(3):
        torch.testing.assert_close(batch[b], sample_planes(planes[b:b + 1], points[b:b + 1], BOX)[0])
