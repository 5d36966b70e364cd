"""The shared discriminators against the authors' forward passes, written out here with plain torch ops.

GRAM's GramDiscriminator (microsoft/GRAM discriminators/), the same CoordConv blocks pi-GAN uses, and
the StyleGAN2 residual discriminator with minibatch standard deviation (rosinality's stylegan2-pytorch as
StyleSDF uses it; EG3D's camera projection). The references take only the modules' weights.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.discriminators import (
    CoordConv2d, CoordConvDiscriminator, FromRGB, ResidualCoordConvBlock, StyleGAN2Discriminator, coordconv_channels,
    log2_resolution, minibatch_stddev, split_logit_pose,
)

pytestmark = pytest.mark.usefixtures("single_thread")


# --------------------------------------------------------------------------- GRAM / pi-GAN (CoordConv)
def _add_coords(x):
    """Upstream AddCoords: channel ``xx`` runs -1 -> 1 down the rows, ``yy`` -1 -> 1 across the columns."""
    b, _, h, w = x.shape
    rows = (torch.arange(h, dtype=x.dtype) / (h - 1) * 2 - 1).view(1, 1, h, 1).expand(b, 1, h, w)
    cols = (torch.arange(w, dtype=x.dtype) / (w - 1) * 2 - 1).view(1, 1, 1, w).expand(b, 1, h, w)
    return torch.cat([x, rows, cols], dim=1)


def _coordconv_block(block, x, downsample=True):
    """GRAM's ResidualCoordConvBlock: two CoordConv + LReLU(0.2), avg-pool both branches, (y + skip) / sqrt 2."""
    c1, c2 = block.network[0].conv, block.network[2].conv
    y = F.leaky_relu(F.conv2d(_add_coords(x), c1.weight, c1.bias, padding=c1.kernel_size[0] // 2), 0.2)
    y = F.leaky_relu(F.conv2d(_add_coords(y), c2.weight, c2.bias, padding=c2.kernel_size[0] // 2), 0.2)
    if downsample:
        y, x = F.avg_pool2d(y, 2), F.avg_pool2d(x, 2)
    if block.proj is not None:
        x = F.conv2d(x, block.proj.weight, block.proj.bias)
    return (y + x) / math.sqrt(2)


def _gram_discriminator(d, images):
    """GramDiscriminator.forward: fromRGB (1x1 conv + LReLU 0.2), the blocks, a 2x2 conv; [logit | pose]."""
    x = F.leaky_relu(F.conv2d(images, d.from_rgb[0].weight, d.from_rgb[0].bias), 0.2)
    for block in d.blocks:
        x = _coordconv_block(block, x)
    out = F.conv2d(x, d.final.weight, d.final.bias).reshape(len(images), -1)
    return out[:, :1], out[:, 1:]


def test_log2_resolution_accepts_powers_of_two_from_4():
    assert [log2_resolution(r) for r in (4, 8, 256, 1024)] == [2, 3, 8, 10]
    for bad in (2, 3, 6, 12, 1000):
        with pytest.raises(ValueError, match=rf"^discriminator resolution must be a power of two >= 4, got {bad}$"):
            log2_resolution(bad)


def test_coordconv_channels_rounds_the_scaled_width_and_keeps_at_least_one():
    # GRAM: min(400, 2^(13 - log2 r)); the scale multiplies before the cap and is rounded, never below one channel
    assert coordconv_channels(256, channel_scale=0.3) == 10  # 32 * 0.3 = 9.6
    assert coordconv_channels(64, max_channels=100, channel_scale=0.7) == 90  # 128 * 0.7 = 89.6
    assert coordconv_channels(32, max_channels=100, channel_scale=0.7) == 100  # 179.2 capped
    assert coordconv_channels(256, channel_scale=1 / 100) == 1  # 0.32 rounds to 0: one channel
    assert coordconv_channels(2) == 400 and coordconv_channels(64) == 128


def test_coordinate_channels_in_double_precision():
    """Coordinates made in the input's dtype: fp64 inputs get fp64 linspaces (fp32 ones would round -2/3, 0.6)."""
    out = CoordConv2d.add_coords(torch.zeros(1, 1, 7, 6, dtype=torch.float64))
    torch.testing.assert_close(out, _add_coords(torch.zeros(1, 1, 7, 6, dtype=torch.float64)), atol=1e-15, rtol=0)


def test_gram_discriminator_equals_the_authors_forward_pass():
    """Widths 4, 8, 12, 12 (scale 1/128, cap 12): two blocks with a 1x1 skip projection, one without."""
    torch.manual_seed(0)
    d = CoordConvDiscriminator(16, max_channels=12, channel_scale=1 / 128)
    assert d.from_rgb[0].out_channels == 4 and [b.network[0].conv.out_channels for b in d.blocks] == [8, 12, 12]
    with torch.no_grad():
        for m in d.modules():  # non-zero biases everywhere, so a dropped bias shows
            if isinstance(m, torch.nn.Conv2d):
                m.bias.normal_(0, 0.3)
    images = torch.randn(3, 3, 16, 16)
    logit, pose = _gram_discriminator(d, images)
    out = d(images)
    torch.testing.assert_close(out.logit, logit, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.pose, pose, atol=1e-5, rtol=1e-5)
    assert pose.shape == (3, 2)
    # unscaled, GRAM's widths 2^(13 - log2 r): 32 channels at 256
    assert CoordConvDiscriminator(256, max_channels=64).from_rgb[0].out_channels == 32


def test_logit_only_discriminator_and_single_channel_images():
    torch.manual_seed(0)
    d = CoordConvDiscriminator(8, max_channels=8, channel_scale=1 / 64, pose_dim=0, in_channels=1)
    images = torch.randn(2, 1, 8, 8)
    out = d(images)
    logit, rest = _gram_discriminator(d, images)
    assert out.pose is None and rest.shape == (2, 0)
    torch.testing.assert_close(out.logit, logit, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"^expected 8x8 images, got \(8, 16\)$"):
        d(torch.randn(2, 1, 8, 16))
    with pytest.raises(ValueError, match=r"^expected 8x8 images, got \(16, 8\)$"):
        d(torch.randn(2, 1, 16, 8))


def test_a_minibatch_group_of_one_appends_the_constant_sqrt_eps_map():
    """``mbstd_group=1`` is on (one extra input channel), each sample its own group: the map is sqrt(1e-8)."""
    torch.manual_seed(0)
    d = CoordConvDiscriminator(8, max_channels=8, channel_scale=1 / 64, mbstd_group=1)
    assert d.final.in_channels == 9
    images = torch.randn(2, 3, 8, 8)
    x = d.blocks(d.from_rgb(images))
    by_hand = torch.cat([x, torch.full((2, 1, 2, 2), 1e-4)], dim=1)
    torch.testing.assert_close(d(images).logit, d.final(by_hand).flatten(1)[:, :1])


def test_split_logit_pose_takes_the_first_channel_then_the_pose():
    out = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1, 1)
    split = split_logit_pose(out, 2)
    assert torch.equal(split.logit, torch.tensor([[0.0], [4.0]]))
    assert torch.equal(split.pose, torch.tensor([[1.0, 2.0], [5.0, 6.0]]))
    assert split_logit_pose(out, 0).pose is None
    assert torch.equal(split_logit_pose(out, 1).pose, torch.tensor([[1.0], [5.0]]))


def test_residual_block_without_downsampling_and_with_a_wider_kernel():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 6)
    block = ResidualCoordConvBlock(3, 5, kernel_size=5, downsample=False)
    torch.testing.assert_close(block(x), _coordconv_block(block, x, downsample=False), atol=1e-5, rtol=1e-5)
    block = ResidualCoordConvBlock(3, 3, kernel_size=1)
    torch.testing.assert_close(block(x), _coordconv_block(block, x), atol=1e-5, rtol=1e-5)


def test_from_rgb_is_a_1x1_conv_with_leaky_relu_02():
    torch.manual_seed(0)
    layer = FromRGB(3, 4)
    x = torch.randn(2, 3, 5, 5)
    expected = F.leaky_relu(F.conv2d(x, layer[0].weight, layer[0].bias), 0.2)
    torch.testing.assert_close(layer(x), expected)


# --------------------------------------------------------------------------- minibatch standard deviation
def _mbstd_by_hand(x, group, num_channels, eps=1e-8):
    """Sample i's group is every j with j = i mod (B / group); per channel slice f, the std over the group
    (population variance + eps, square root) averaged over that slice's channels and pixels."""
    b, c, h, w = x.shape
    n = b // group
    maps = torch.empty(b, num_channels, h, w, dtype=x.dtype)
    for i in range(b):
        mates = x[i % n::n]
        for f in range(num_channels):
            part = mates[:, f * c // num_channels:(f + 1) * c // num_channels]
            std = (part - part.mean(dim=0)).square().mean(dim=0).add(eps).sqrt()
            maps[i, f] = std.mean()
    return torch.cat([x, maps], dim=1)


@pytest.mark.parametrize("batch, group_size, group", [(6, 4, 3), (8, 4, 4), (5, 4, 1), (3, 8, 3), (4, 2, 2), (6, 2, 2)])
def test_minibatch_stddev_equals_the_formula(batch, group_size, group):
    """The group is the largest divisor of the batch not above ``group_size``; two channel slices."""
    torch.manual_seed(0)
    x = torch.randn(batch, 4, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(minibatch_stddev(x, group_size, num_channels=2), _mbstd_by_hand(x, group, 2))


def test_minibatch_stddev_of_identical_samples_is_sqrt_eps():
    x = torch.randn(1, 2, 3, 3).expand(4, 2, 3, 3)
    out = minibatch_stddev(x)
    assert torch.equal(out[:, :2], x)
    torch.testing.assert_close(out[:, 2], torch.full((4, 3, 3), 1e-4), rtol=1e-6, atol=0)
    # by default groups of 4: a batch of 5 has no divisor 2..4, so every sample is its own group
    torch.testing.assert_close(minibatch_stddev(torch.randn(5, 2, 3, 3))[:, 2], torch.full((5, 3, 3), 1e-4))


# --------------------------------------------------------------------------- StyleGAN2 (StyleSDF / EG3D)
def _blur(x, taps, pad):
    """StyleGAN2's FIR low-pass: the outer product of ``taps`` normalised to sum 1, padding (before, after)."""
    taps = torch.tensor(taps, dtype=x.dtype)
    kernel = (taps[:, None] * taps[None, :] / taps.sum() ** 2).expand(x.shape[1], 1, len(taps), len(taps))
    return F.conv2d(F.pad(x, [pad[0], pad[1], pad[0], pad[1]]), kernel, groups=x.shape[1])


def _conv(layer, x, k, down=False, act=True, taps=(1, 3, 3, 1)):
    """rosinality's ConvLayer: an equalised k x k conv (weight / sqrt(fan_in), no conv bias), padding k // 2; when
    down-sampling, first the blur padded ((p + 1) // 2, p // 2) with p = len(taps) - 2 + k - 1, then stride 2
    without padding; then FusedLeakyReLU (+ bias, leaky ReLU 0.2, times sqrt 2)."""
    weight = layer[1 if down else 0].weight
    weight = weight / math.sqrt(weight.shape[1] * k * k)
    if down:
        p = len(taps) - 2 + k - 1
        x = F.conv2d(_blur(x, taps, ((p + 1) // 2, p // 2)), weight, stride=2)
    else:
        x = F.conv2d(x, weight, padding=k // 2)
    return F.leaky_relu(x + layer[-1].bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2) if act else x


def _stylegan2_features(d, images, group, taps=(1, 3, 3, 1)):
    """fromRGB 1x1, the residual blocks ((conv3x3 then down-sampling conv3x3) + down-sampling 1x1 skip) / sqrt 2,
    minibatch std, conv3x3, FC + lrelu, FC (the output width: 1, or cmap_dim when conditioned)."""
    x = _conv(d.from_rgb, images, 1)
    for b in d.blocks:
        y = _conv(b.conv2, _conv(b.conv1, x, 3), 3, down=True, taps=taps)
        x = (y + _conv(b.skip, x, 1, down=True, act=False, taps=taps)) / math.sqrt(2)
    x = _conv(d.final_conv, _mbstd_by_hand(x, group, d.mbstd_num_channels), 3)
    fc, out = d.final_fc, d.out
    x = F.leaky_relu(F.linear(x.flatten(1), fc.weight / math.sqrt(fc.weight.shape[1]), fc.bias), 0.2) * math.sqrt(2)
    return F.linear(x, out.weight / math.sqrt(out.weight.shape[1]), out.bias)


def _randomise(d):
    """Every bias (even those the init leaves at zero) drawn at random, so a dropped or extra one shows."""
    with torch.no_grad():
        for name, p in d.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.3)


@pytest.mark.parametrize("taps", [(1, 3, 3, 1), (1, 2, 1)])
def test_stylegan2_discriminator_equals_the_reference_forward_pass(taps):
    """Widths 8 at 16x16, 16 at 8x8 and 4x4 (base 128, cap 16): the first block widens; groups of 4, two std maps."""
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(16, channel_base=128, max_channels=16, mbstd_group_size=4, mbstd_num_channels=2,
                               blur_kernel=taps)
    _randomise(d)
    assert d.from_rgb[0].weight.shape[0] == 8 and d.final_conv[0].weight.shape[:2] == (16, 18)
    images = torch.randn(4, 3, 16, 16)
    expected = _stylegan2_features(d, images, 4, taps)
    assert expected.shape == (4, 1)  # one logit per image
    torch.testing.assert_close(d(images).logit, expected, atol=1e-5, rtol=1e-5)


def test_stylegan2_discriminator_default_widths_and_groups():
    """Widths min(32768 / r, 512), at least one; minibatch-std groups of 4 (a batch of 5 forms no group)."""
    assert StyleGAN2Discriminator(4).final_conv[0].weight.shape[:2] == (512, 513)
    assert StyleGAN2Discriminator(8, channel_base=8, max_channels=4).from_rgb[0].weight.shape[0] == 1  # 8 / 8
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(8, channel_base=64)  # 64 / 8 = 8 channels, 64 / 4 = 16
    assert d.from_rgb[0].weight.shape[0] == 8 and d.final_conv[0].weight.shape[0] == 16
    _randomise(d)
    for batch, group in ((5, 1), (8, 4)):
        images = torch.randn(batch, 3, 8, 8)
        torch.testing.assert_close(d(images).logit, _stylegan2_features(d, images, group), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("c_dim, cmap_dim", [(25, 6), (1, None)])
def test_camera_conditioned_logit_is_the_normalised_projection_on_the_camera_map(c_dim, cmap_dim):
    """EG3D: logit = <features, cmap(c)> / sqrt(cmap_dim), features from the unconditioned trunk; cmap_dim
    defaults to the 4x4 width (16 here). The camera map tracks no running mean (EG3D: w_avg_beta=None)."""
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(8, channel_base=64, max_channels=16, c_dim=c_dim, cmap_dim=cmap_dim, mapping_layers=3)
    _randomise(d)
    width = cmap_dim or 16
    assert d.cmap_dim == width and len(d.mapping.layers) == 3
    images, c = torch.randn(2, 3, 8, 8), torch.randn(2, c_dim)
    cmap, features = d.mapping(None, c), _stylegan2_features(d, images, 2)
    assert cmap.shape == features.shape == (2, width)
    expected = (features * cmap).sum(dim=1, keepdim=True) / math.sqrt(width)
    torch.testing.assert_close(d(images, c=c).logit, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(d(images, c=c.double()).logit, expected, atol=1e-5, rtol=1e-5)  # c cast to D's dtype
    assert torch.equal(d.mapping.w_avg, torch.zeros(width))
    with pytest.raises(ValueError, match="^this discriminator is camera-conditioned: pass cameras or c$"):
        d(images)
    assert StyleGAN2Discriminator(8, channel_base=64, max_channels=16).cmap_dim == 0
    # EG3D's camera mapping has eight layers by default
    assert len(StyleGAN2Discriminator(8, channel_base=64, max_channels=16, c_dim=25).mapping.layers) == 8


def _eg3d_conv(layer, x, k, down=False, act=True, gain=1.0, clamp=None):
    """EG3D's Conv2dLayer.forward(x, gain): bias_act with the activation's gain times ``gain`` and the clamp
    ``conv_clamp * gain`` (none where the layer has no conv_clamp, as the resnet skip)."""
    x = _conv(layer, x, k, down=down, act=act) * gain
    return x if clamp is None else x.clamp(-clamp * gain, clamp * gain)


def _eg3d_features(d, images, group, clamp):
    """EG3D's Discriminator with conv_clamp (networks_stylegan2.py DiscriminatorBlock 'resnet' and
    DiscriminatorEpilogue): fromrgb and conv0 clamped at conv_clamp, conv1 run at gain sqrt(0.5) and clamped at
    conv_clamp * sqrt(0.5), the skip at gain sqrt(0.5) unclamped, y + x; the epilogue conv clamped, its FCs not."""
    x = _eg3d_conv(d.from_rgb, images, 1, clamp=clamp)
    for b in d.blocks:
        y = _eg3d_conv(b.skip, x, 1, down=True, act=False, gain=math.sqrt(0.5))
        x = _eg3d_conv(b.conv2, _eg3d_conv(b.conv1, x, 3, clamp=clamp), 3, down=True, gain=math.sqrt(0.5),
                       clamp=clamp)
        x = y + x
    x = _eg3d_conv(d.final_conv, _mbstd_by_hand(x, group, d.mbstd_num_channels), 3, clamp=clamp)
    fc, out = d.final_fc, d.out
    x = F.leaky_relu(F.linear(x.flatten(1), fc.weight / math.sqrt(fc.weight.shape[1]), fc.bias), 0.2) * math.sqrt(2)
    return F.linear(x, out.weight / math.sqrt(out.weight.shape[1]), out.bias)


def test_a_clamped_discriminator_clamps_where_eg3ds_conv_clamp_does():
    """``clamp`` is EG3D's D conv_clamp: at a clamp low enough to bite on unit inputs (0.5), the logits are EG3D's
    clamped forward pass and not the unclamped one."""
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(16, channel_base=128, max_channels=16, mbstd_group_size=2, clamp=0.5)
    _randomise(d)
    images = torch.randn(4, 3, 16, 16)
    expected = _eg3d_features(d, images, 2, clamp=0.5)
    torch.testing.assert_close(d(images).logit, expected, atol=1e-5, rtol=1e-5)
    assert (expected - _stylegan2_features(d, images, 2)).abs().max() > 1e-2  # the clamp changed the logits
    # the same weights without a clamp (the default, StyleSDF's) give the unclamped forward pass
    plain = StyleGAN2Discriminator(16, channel_base=128, max_channels=16, mbstd_group_size=2)
    plain.load_state_dict(d.state_dict())
    torch.testing.assert_close(plain(images).logit, _stylegan2_features(d, images, 2), atol=1e-5, rtol=1e-5)
