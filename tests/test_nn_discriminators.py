"""The shared CoordConv (pose head) and StyleGAN2 discriminators behave as upstream."""

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d.cameras import Camera
from zoo3d.nn.discriminators import (
    CoordConv2d, CoordConvDiscriminator, ResidualCoordConvBlock, StyleGAN2Discriminator, coordconv_channels,
    minibatch_stddev,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def test_coordconv_channels_hold_exact_coordinates():
    out = CoordConv2d.add_coords(torch.zeros(2, 1, 3, 5))
    expected_x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    expected_y = torch.tensor([-1.0, 0.0, 1.0])
    assert torch.equal(out[:, 1], expected_y[:, None].expand(2, 3, 5))
    assert torch.equal(out[:, 2], expected_x.expand(2, 3, 5))
    # A 1x1 CoordConv that reads only the row-coordinate channel returns y itself.
    conv = CoordConv2d(1, 1, 1)
    with torch.no_grad():
        conv.conv.weight.copy_(torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1))
        conv.conv.bias.zero_()
    assert torch.equal(conv(torch.randn(1, 1, 3, 5))[0, 0], expected_y[:, None].expand(3, 5))


def test_residual_block_averages_branches():
    torch.manual_seed(0)
    block = ResidualCoordConvBlock(4, 4)
    x = torch.randn(1, 4, 8, 8)
    y = F.avg_pool2d(block.network(x), 2)
    torch.testing.assert_close(block(x), (y + F.avg_pool2d(x, 2)) / math.sqrt(2))
    assert ResidualCoordConvBlock(4, 6).proj is not None and block.proj is None


def test_gram_channel_schedule():
    widths = [coordconv_channels(2 ** r) for r in range(8, 0, -1)]
    assert widths == [32, 64, 128, 256, 400, 400, 400, 400]
    d = CoordConvDiscriminator(256)
    assert len(d.blocks) == 7 and d.final.out_channels == 3 and d.final.in_channels == 400


def test_pose_head_fits_a_toy_target():
    """Images with a blob whose position encodes (yaw, pitch): the pose head learns it quickly."""
    torch.manual_seed(0)
    n, res = 16, 16
    pose = torch.rand(n, 2) * 2 - 1
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    blob = torch.exp(-((xs - 0.6 * pose[:, 0, None, None]) ** 2 + (ys - 0.6 * pose[:, 1, None, None]) ** 2) / 0.05)
    images = (blob * 2 - 1)[:, None].expand(n, 3, res, res)
    d = CoordConvDiscriminator(res, max_channels=32, channel_scale=1 / 16)
    opt = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.0, 0.9))
    losses = []
    for _ in range(40):
        loss = F.mse_loss(d(images).pose, pose)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]  # typically ~0.05


def test_coordconv_minibatch_stddev_reads_the_final_features_of_its_group():
    """With ``mbstd_group`` the final conv sees one more map: the group's feature std, exactly as computed by hand."""
    torch.manual_seed(0)
    d = CoordConvDiscriminator(8, channel_scale=1 / 64, mbstd_group=2)
    plain = CoordConvDiscriminator(8, channel_scale=1 / 64)
    assert d.final.in_channels == plain.final.in_channels + 1
    images = torch.randn(4, 3, 8, 8)
    x = d.blocks(d.from_rgb(images))  # (4, C, 2, 2); groups are samples {0, 2} and {1, 3}
    std = torch.stack([(x[i] - x[i + 2]).div(2).square().add(1e-8).sqrt().mean() for i in (0, 1)])
    by_hand = torch.cat([x, std.repeat(2).view(4, 1, 1, 1).expand(4, 1, 2, 2)], dim=1)
    torch.testing.assert_close(d(images).logit, d.final(by_hand).flatten(1)[:, :1])
    # a sample's score now depends on its group mate, and only on it
    other = images.clone()
    other[2] = torch.randn(3, 8, 8)
    moved = d(other).logit - d(images).logit
    assert moved[0].abs() > 1e-6 and moved[1].abs() == 0 and moved[3].abs() == 0


def test_minibatch_stddev_sees_sample_diversity():
    same = torch.ones(3, 2, 4, 4)
    assert minibatch_stddev(same)[:, -1].max() < 1e-3  # odd batch: groups of 3
    varied = torch.randn(4, 2, 4, 4)
    assert minibatch_stddev(varied, group_size=2)[:, -1].min() > 0.1


def test_stylegan2_discriminator_camera_conditioning():
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(16, in_channels=6, channel_base=256, max_channels=16, c_dim=25, mapping_layers=2)
    images = torch.randn(2, 6, 16, 16)
    cams = Camera.from_angles(torch.tensor([0.3, -0.3]), torch.tensor([0.1, 0.0]), 1.0, 12.0)
    from_cams = d(images, cams).logit
    torch.testing.assert_close(from_cams, d(images, c=cams.to_eg3d()).logit)
    # Same image, mirrored camera: the projection output changes.
    assert (d(images, cams.mirror()).logit - from_cams).abs().max() > 1e-4
    # Learnable: the conditioned D separates the same images by camera alone.
    opt = torch.optim.Adam(d.parameters(), lr=1e-2, betas=(0.0, 0.99))
    c_real, c_fake = cams.to_eg3d(), cams.mirror().to_eg3d()
    for _ in range(30):
        loss = F.softplus(-d(images, c=c_real).logit).mean() + F.softplus(d(images, c=c_fake).logit).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (d(images, c=c_real).logit - d(images, c=c_fake).logit).min() > 1.0
