"""GRAMInverter's image encoders (zoo3d_gram_inverter.encoders) against their forward passes written out with plain
torch ops: the residual block, the coarse encoder E_w (image -> W+ offsets from the mean w, pose offsets from the
prior's mean) and the detail U-Net (skips up to ``out_level``). The paper leaves both architectures open; the
references restate the documented ones and take only the modules' weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d_gram_inverter.encoders import CoarseEncoder, ResidualBlock, UNet

pytestmark = pytest.mark.usefixtures("single_thread")


def _conv(conv, x):
    return F.conv2d(x, conv.weight, conv.bias, padding=conv.kernel_size[0] // 2)


def _block(block, x):
    """(skip(x) + conv2(lrelu(conv1(lrelu(x))))) / sqrt 2, LeakyReLU slope 0.2, skip a 1x1 conv only when widening."""
    h = _conv(block.conv2, F.leaky_relu(_conv(block.conv1, F.leaky_relu(x, 0.2)), 0.2))
    skip = _conv(block.skip, x) if isinstance(block.skip, torch.nn.Conv2d) else x
    return (skip + h) / math.sqrt(2)


def _randomised(module, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.4 / math.sqrt(max(1, p[0].numel())))
    return module


def _coarse(enc, images, mean_w, factor=1):
    """Area-average to the encoder's side (an integer factor here), fromRGB 3x3, per block: the residual block then a
    2x2 average pool, down to 4x4; flatten, Linear + LReLU(0.2); W+ = mean_w + latent head, pose = pose_mean + pose
    head."""
    if factor > 1:
        images = F.avg_pool2d(images, factor)
    h = _conv(enc.from_rgb, images)
    for block in enc.blocks:
        h = F.avg_pool2d(_block(block, h), 2)
    assert h.shape[-2:] == (4, 4)
    lin = enc.trunk[1]
    h = F.leaky_relu(F.linear(h.flatten(1), lin.weight, lin.bias), 0.2)
    ws = mean_w + F.linear(h, enc.latent_head.weight, enc.latent_head.bias).reshape(len(images), -1, mean_w.shape[-1])
    pose = enc.pose_mean + F.linear(h, enc.pose_head.weight, enc.pose_head.bias) if enc.pose_head is not None else None
    return ws, pose


def _unet(net, x, depth, out_level):
    """stem; depth x (block, avg pool 2) keeping every level; then from the bottom up to out_level: bilinear
    (align_corners False) to the skip's size, concat [up, skip], block; out = 1x1 conv of LReLU(0.2)."""
    h = _conv(net.stem, x)
    levels = [h]
    for block in net.down:
        h = F.avg_pool2d(_block(block, h), 2)
        levels.append(h)
    for block, level in zip(net.up, range(depth - 1, out_level - 1, -1)):
        skip = levels[level]
        h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        h = _block(block, torch.cat([h, skip], dim=1))
    return F.conv2d(F.leaky_relu(h, 0.2), net.out.weight, net.out.bias)


@pytest.mark.parametrize("cin, cout", [(3, 5), (4, 4)])
def test_the_residual_block_is_the_written_out_sum(cin, cout):
    block = _randomised(ResidualBlock(cin, cout))
    assert isinstance(block.skip, torch.nn.Conv2d) == (cin != cout)
    x = torch.randn(2, cin, 6, 5)
    torch.testing.assert_close(block(x), _block(block, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("resolution, side, pose_head", [(16, 16, True), (8, 32, True), (16, 16, False), (4, 4, True)])
def test_the_coarse_encoder_is_its_forward_pass_written_out(resolution, side, pose_head):
    """Widths channels * 2^i capped (3, 6, 8 at 16 px); larger images area-averaged to the encoder's side."""
    enc = _randomised(CoarseEncoder(resolution, num_ws=3, w_dim=5, channels=3, max_channels=8, pose_head=pose_head,
                                    pose_mean=(0.3, -0.2)))
    n = int(math.log2(resolution // 4))
    assert [b.conv1.out_channels for b in enc.blocks] == [min(3 * 2 ** (i + 1), 8) for i in range(n)]
    assert enc.from_rgb.out_channels == 3 and enc.trunk[1].in_features == min(3 * 2 ** n, 8) * 16
    images = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    mean_w = torch.randn(5)
    ws, pose = enc(images, mean_w)
    exp_ws, exp_pose = _coarse(enc, images, mean_w, side // resolution)
    torch.testing.assert_close(ws, exp_ws, rtol=1e-5, atol=1e-6)
    assert ws.shape == (2, 3, 5) and enc.has_pose_head == pose_head
    if pose_head:
        torch.testing.assert_close(pose, exp_pose, rtol=1e-5, atol=1e-6)
    else:
        assert pose is None


def test_an_untrained_encoder_answers_the_mean_latent_at_the_prior_pose():
    """Both heads start at zero: W+ is mean_w in every slot, the pose the prior's mean, whatever the image."""
    torch.manual_seed(0)
    enc = CoarseEncoder(8, num_ws=4, w_dim=3, channels=2, max_channels=4, pose_mean=(0.25, -0.5))
    mean_w = torch.tensor([1.0, -2.0, 0.5])
    ws, pose = enc(torch.randn(3, 3, 8, 8), mean_w)
    assert torch.equal(ws, mean_w.expand(3, 4, 3)) and torch.equal(pose, torch.tensor([[0.25, -0.5]] * 3))
    assert enc.pose_mean.dtype == torch.float32 and "pose_mean" in dict(enc.named_buffers())
    assert torch.equal(CoarseEncoder(8, 4, 3, 2, 4)(torch.randn(1, 3, 8, 8), mean_w)[1], torch.zeros(1, 2))


@pytest.mark.parametrize("resolution", [2, 6, 12, 0])
def test_the_coarse_encoder_refuses_sides_that_do_not_halve_to_four(resolution):
    with pytest.raises(ValueError, match=rf"power-of-two resolution >= 4, got {resolution}$"):
        CoarseEncoder(resolution, 2, 2)


@pytest.mark.parametrize("depth, out_level, side", [(2, 0, 8), (3, 1, 16), (2, 2, 8), (3, 0, 12)])
def test_the_unet_is_its_forward_pass_written_out(depth, out_level, side):
    """Widths 2, 4, 6, 6 (channels 2, cap 6); the decoder stops at out_level (out_level = depth: no decoder); a side
    of 12 halves to 6, 3, 1 and climbs back by bilinear resizing to each skip's odd size."""
    net = _randomised(UNet(3, 4, channels=2, depth=depth, out_level=out_level, max_channels=6))
    widths = [min(2 * 2 ** i, 6) for i in range(depth + 1)]
    assert [b.conv1.out_channels for b in net.down] == widths[1:]
    ups = range(depth - 1, out_level - 1, -1)
    assert [b.conv1.in_channels for b in net.up] == [widths[i + 1] + widths[i] for i in ups]
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(2))
    out = net(x)
    torch.testing.assert_close(out, _unet(net, x, depth, out_level), rtol=1e-5, atol=1e-6)
    assert out.shape[1] == 4 and out.shape[-1] == _unet(net, x, depth, out_level).shape[-1]


@pytest.mark.parametrize("out_level", [-1, 4])
def test_the_unet_refuses_an_out_level_outside_its_depth(out_level):
    with pytest.raises(ValueError, match=rf"out_level must be in \[0, depth=3\], got {out_level}$"):
        UNet(3, 3, depth=3, out_level=out_level)
    assert UNet(3, 3, depth=3, out_level=3).out.in_channels == min(32 * 2 ** 3, 256)


def test_the_defaults():
    """E_w: widths from 32 doubling to the cap 256, with a pose head; U-Net: 32 channels, four halvings, capped at
    256, decoding back to full resolution."""
    enc = CoarseEncoder(128, num_ws=2, w_dim=4)
    assert enc.from_rgb.out_channels == 32 and [b.conv1.out_channels for b in enc.blocks] == [64, 128, 256, 256, 256]
    assert enc.has_pose_head and torch.equal(enc.pose_mean, torch.zeros(2))
    net = UNet(3, 2)
    assert net.stem.out_channels == 32 and [b.conv1.out_channels for b in net.down] == [64, 128, 256, 256]
    assert (net.depth, net.out_level) == (4, 0) and [b.conv1.out_channels for b in net.up] == [256, 128, 64, 32]
    assert net(torch.zeros(1, 3, 16, 16)).shape == (1, 2, 16, 16)
