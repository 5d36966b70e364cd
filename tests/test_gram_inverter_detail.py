"""GRAMInverter's detail branch (zoo3d_gram_inverter.detail) part by part: the voxel read, the manifold
super-resolution, and how the reconstructor wires the U-Net, the voxel and the manifolds together."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo3d.cameras import Camera
from zoo3d.config import RayRange
from zoo3d.render.gridding import BACKGROUND_Z, background_grid
from zoo3d_gram_inverter.config import DetailConfig
from zoo3d_gram_inverter.detail import DetailReconstructor, ManifoldSuperResolution, sample_camera_voxel
from zoo3d_gram_inverter.encoders import UNet

pytestmark = pytest.mark.usefixtures("single_thread")

NEAR, FAR = 0.88, 1.12


def _coordinate_voxel(D: int, V: int) -> torch.Tensor:
    """(1, 3, D, V, V): channel 0 holds the cell's column, 1 its row, 2 its depth slice."""
    u = torch.arange(V, dtype=torch.float64)
    return torch.stack([u.expand(D, V, V), u[:, None].expand(D, V, V),
                        torch.arange(D, dtype=torch.float64)[:, None, None].expand(D, V, V)])[None]


def _points_at_depths(cam: Camera, V: int, depths: torch.Tensor) -> torch.Tensor:
    """(1, len(depths) * V * V, 3): points on the rays through the V x V pixel centres at these camera depths."""
    o, d = cam.rays(V, V)
    n = len(depths)
    t = depths[:, None, None] / (d @ cam.cam2world[0, :3, 2]).expand(n, -1)[..., None]
    return (o.expand(n, -1, -1) + d.expand(n, -1, -1) * t).reshape(1, -1, 3)


def test_corner_aligned_reads_put_the_outer_cells_on_the_image_border_and_clamp_depth_to_the_outer_slices():
    """align_corners=True (runs recorded before the cell-centre fix): cell j lies at j / (V - 1) of the image and
    slice k at k / (D - 1) of [near, far]; points nearer or farther than the range read the first or last slice."""
    V, D = 8, 4
    cam = Camera.from_angles(0.2, -0.1, 1.0, 12.0, dtype=torch.float64)
    depths = torch.tensor([NEAR - 0.05, NEAR, 0.95, 1.05, FAR, FAR + 0.05], dtype=torch.float64)
    points = _points_at_depths(cam, V, depths)
    centres = (torch.arange(V, dtype=torch.float64) + 0.5) / V  # the pixel centres the rays pass through
    for align_corners in (True, False):
        read = sample_camera_voxel(_coordinate_voxel(D, V), points, cam, NEAR, FAR, align_corners=align_corners)
        read = read.reshape(3, len(depths), V, V)
        cell = centres * (V - 1) if align_corners else centres * V - 0.5
        slices = (depths - NEAR) / (FAR - NEAR) * (D - 1 if align_corners else D) - (0 if align_corners else 0.5)
        torch.testing.assert_close(read[0], cell.expand(len(depths), V, V), rtol=0, atol=1e-6)
        torch.testing.assert_close(read[1], cell[:, None].expand(len(depths), V, V), rtol=0, atol=1e-6)
        expected = slices.clamp(0, D - 1)[:, None, None].expand(-1, V, V)
        torch.testing.assert_close(read[2], expected, rtol=0, atol=1e-6)


def test_a_voxel_is_read_in_its_own_dtype():
    V, D = 4, 2
    cam = Camera.from_angles(0.1, 0.0, 1.0, 12.0, dtype=torch.float64)
    points = _points_at_depths(cam, V, torch.tensor([0.95, 1.05], dtype=torch.float64))
    voxel = torch.rand(1, 2, D, V, V, dtype=torch.float64)
    read = sample_camera_voxel(voxel.float(), points, cam, NEAR, FAR)
    assert read.dtype == torch.float32
    torch.testing.assert_close(read, sample_camera_voxel(voxel, points, cam, NEAR, FAR).float())


def test_manifold_super_resolution_is_conv_rrdbs_pixel_shuffle_and_hr_conv():
    torch.manual_seed(0)
    net = ManifoldSuperResolution(3, 5, 4, nf=8, blocks=1, gc=4)
    x = torch.randn(2, 3, 3, 3)
    assert torch.equal(net(x), torch.zeros(2, 5, 12, 12))  # the zero last conv: no detail before training
    torch.nn.init.normal_(net.conv_last.weight, std=0.1)
    torch.nn.init.normal_(net.conv_last.bias)
    fea = net.conv_first(x)
    fea = fea + net.trunk_conv(net.trunk(fea))
    for conv in net.up:
        shuffled = F.pixel_shuffle(conv(fea), 2)
        fea = torch.where(shuffled > 0, shuffled, 0.2 * shuffled)
    hr = net.hr_conv(fea)
    expected = net.conv_last(torch.where(hr > 0, hr, 0.2 * hr))
    torch.testing.assert_close(net(x), expected)
    assert net.trunk[0].blocks[0].convs[0].out_channels == 4  # the RRDBs grow by gc channels
    assert ManifoldSuperResolution(3, 5, 8, nf=4, blocks=0)(x).shape[-1] == 24
    with pytest.raises(ValueError, match="^manifold super-resolution needs a power-of-two scale, got 6$"):
        ManifoldSuperResolution(3, 5, 6)


def test_manifold_super_resolution_defaults_are_the_detail_configs():
    net, config = ManifoldSuperResolution(3, 5, 2), DetailConfig()
    assert net.conv_first.out_channels == config.sr_channels == 64 and len(net.trunk) == config.sr_blocks == 2
    assert net.trunk[0].blocks[0].convs[0].out_channels == 32  # ESRGAN's and GRAM-HD's growth


def _config(**changes) -> DetailConfig:
    small = dict(unet_channels=4, unet_depth=2, voxel_resolution=4, voxel_depth=2, voxel_channels=3,
                 lr_resolution=4, sr_channels=8, sr_blocks=1)
    return DetailConfig(**{**small, **changes})


def test_the_voxel_must_be_the_image_halved_at_most_unet_depth_times():
    config = _config(voxel_resolution=16)
    assert DetailReconstructor(config, 16, 5, 8).voxel(torch.rand(1, 3, 16, 16)).shape[-1] == 16  # no halving
    message = r"^voxel_resolution {} must be image resolution {} divided by 2\^k with k <= unet_depth 2$"
    for voxel_resolution, image_resolution in ((4, 32), (16, 8), (16, 48)):  # k = 3, k < 0, not a power of two
        with pytest.raises(ValueError, match=message.format(voxel_resolution, image_resolution)):
            DetailReconstructor(_config(voxel_resolution=voxel_resolution), image_resolution, 5, 8)
    with pytest.raises(ValueError, match="^texture_resolution 12 must be a multiple of lr_resolution 8$"):
        DetailReconstructor(_config(lr_resolution=8), 16, 5, 12)


def test_reconstructor_builds_the_configured_unet_and_super_resolution():
    torch.manual_seed(0)
    config = _config(voxel_resolution=4, unet_channels=6)
    det = DetailReconstructor(config, 16, 5, 8)
    unet = UNet(3, 3 * 2, 6, 2, out_level=2)
    assert [p.shape for p in det.unet.parameters()] == [p.shape for p in unet.parameters()]
    assert det.sr.conv_first.out_channels == 8 and len(det.sr.trunk) == 1 and det.sr.conv_last.out_channels == 5
    assert (det.near, det.far) == (RayRange().near, RayRange().far) and det.background_z == BACKGROUND_Z
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        v = det.unet(images)
        voxel = det.voxel(images)
        torch.testing.assert_close(voxel[:, 1, 0], v[:, 2])  # channel c, slice d = U-Net output c * D + d
        torch.testing.assert_close(voxel[:, 2, 1], v[:, 5])
        # larger images are area-averaged down to the encoder's resolution first
        big = images.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2) + 0.1 * torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(det.voxel(big), det.voxel(F.avg_pool2d(big, 2)))


def test_lowres_manifolds_read_the_voxel_at_each_manifolds_texels_and_the_background_plane_last():
    torch.manual_seed(0)
    det = DetailReconstructor(_config(), 16, 5, 8, background_z=-0.1).double()
    torch.nn.init.normal_(det.sr.conv_last.weight, std=0.1)
    B, N, r = 2, 2, 4
    images = torch.rand(B, 3, 16, 16, dtype=torch.float64)
    cams = Camera.from_angles([0.2, -0.3], [0.05, -0.1], 1.0, 12.0, dtype=torch.float64)
    fg_points = (torch.rand(B, N, r, r, 3, dtype=torch.float64) - 0.5) * 0.2
    with torch.no_grad():
        voxel = det.voxel(images)
        lr = det.lowres_manifolds(images, cams, fg_points)
        out = det(images, cams, fg_points)
    assert lr.shape == (B, N + 1, 3, r, r)
    bg = background_grid(r, -0.1, dtype=torch.float64).reshape(1, -1, 3).expand(B, -1, -1)
    for n, points in enumerate([fg_points[:, 0], fg_points[:, 1], bg]):
        expected = sample_camera_voxel(voxel, points.reshape(B, -1, 3), cams, det.near, det.far)
        torch.testing.assert_close(lr[:, n], expected.reshape(B, 3, r, r), rtol=0, atol=1e-12)
    with torch.no_grad():  # one set of points shared by the batch
        torch.testing.assert_close(det.lowres_manifolds(images, cams, fg_points[:1]),
                                   det.lowres_manifolds(images, cams, fg_points[:1].expand(B, -1, -1, -1, -1)))
        hr = det.sr(lr.reshape(B * (N + 1), 3, r, r)).reshape(B, N + 1, 5, 2 * r, 2 * r)
    torch.testing.assert_close(out.foreground, hr[:, :N])
    torch.testing.assert_close(out.background, hr[:, N])
    assert (hr[:, 0] - hr[:, 1]).abs().max() > 1e-3 and (hr[:, 1] - hr[:, 2]).abs().max() > 1e-3
