"""pi-GAN's progressive discriminator against the authors' forward pass written out (pi-GAN discriminators/
sgdiscriminators.py, CCSEncoderDiscriminator): the fromRGB adapter of the input's side, the blocks from there down
to 2x2, the fade-in ``alpha * x + (1 - alpha) * fromRGB(nearest half-size image)`` after the first block, the 2x2
final conv, and the output split into prediction ``[0:1]`` and position ``[1:1 + pose_dim]``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_nn_discriminators_reference import _coordconv_block, _mbstd_by_hand

from zoo3d_pigan.discriminator import ProgressiveCoordConvDiscriminator

pytestmark = pytest.mark.usefixtures("single_thread")


def _adapter(layer, x):
    """AdapterBlock: 1x1 conv + LeakyReLU(0.2)."""
    return F.leaky_relu(F.conv2d(x, layer[0].weight, layer[0].bias), 0.2)


def _authors_forward(d, images, alpha, group=0):
    """CCSEncoderDiscriminator.forward: start = the layer for the input's side; at i == 1 (after the first block)
    blend with the next adapter on the nearest-neighbour half-size input when alpha < 1; final conv; the
    prediction and the position sliced from the flattened output (a minibatch-std map before the final conv when
    ``group`` > 0)."""
    start = {d.max_resolution // 2 ** k: k for k in range(len(d.blocks))}[images.shape[-1]]  # img_size_to_layer
    x = _adapter(d.from_rgb[start], images)
    for i, layer in enumerate(list(d.blocks)[start:]):
        if i == 1 and alpha < 1:
            x = alpha * x + (1 - alpha) * _adapter(d.from_rgb[start + 1], F.interpolate(images, scale_factor=0.5,
                                                                                          mode="nearest"))
        x = _coordconv_block(layer, x)
    if group:
        x = _mbstd_by_hand(x, group, 1)
    x = F.conv2d(x, d.final.weight, d.final.bias).reshape(x.shape[0], -1)
    return x[..., 0:1], x[..., 1:1 + d.pose_dim]


def _randomised(d):
    with torch.no_grad():
        for name, p in d.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.3, 0.3)
    return d


@pytest.mark.parametrize("side, alpha", [(16, 0.3), (16, 1.0), (8, 0.6), (32, 0.0), (4, 0.5)])
def test_the_progressive_discriminator_is_pi_gans_forward_pass(side, alpha):
    """Widths (scale 1/32, cap 12): 8 at 32, 12 below. Every input side enters at its own adapter; a 4 x 4 image
    meets only the last block, so there is nothing to fade."""
    torch.manual_seed(0)
    d = _randomised(ProgressiveCoordConvDiscriminator(32, max_channels=12, channel_scale=1 / 32))
    assert [a[0].out_channels for a in d.from_rgb] == [8, 12, 12, 12] and d.final.out_channels == 3
    images = torch.randn(2, 3, side, side)
    out = d(images, alpha=alpha)
    logit, pose = _authors_forward(d, images, alpha)
    torch.testing.assert_close(out.logit, logit, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.pose, pose, rtol=1e-5, atol=1e-6)
    if alpha == 1.0:  # the default: the new resolution fully faded in
        torch.testing.assert_close(d(images).logit, logit, rtol=1e-5, atol=1e-6)


def test_the_defaults_are_pi_gans_widths_and_position_head():
    """pi-GAN's adapters from 64 px down: 128, 256, 400, 400, 400 (2^(13 - log2 r) capped at 400), RGB in, and a
    final conv to 1 + 2 outputs (prediction, position)."""
    d = ProgressiveCoordConvDiscriminator(64)
    assert [(a[0].in_channels, a[0].out_channels) for a in d.from_rgb] == [(3, 128), (3, 256), (3, 400), (3, 400),
                                                                             (3, 400)]
    assert (d.final.in_channels, d.final.out_channels, d.final.kernel_size) == (400, 3, (2, 2))
    assert d.pose_dim == 2 and d.mbstd_group == 0


@pytest.mark.parametrize("group", [1, 2])
def test_the_minibatch_std_map_enters_the_final_conv(group):
    """Any group size > 0 appends the map (groups of one: the constant sqrt(eps) map, still one more input)."""
    torch.manual_seed(1)
    d = _randomised(ProgressiveCoordConvDiscriminator(16, max_channels=6, channel_scale=1 / 64, mbstd_group=group))
    assert d.final.in_channels == 7
    images = torch.randn(4, 3, 8, 8)
    logit, pose = _authors_forward(d, images, 0.7, group=group)
    out = d(images, alpha=0.7)
    torch.testing.assert_close(out.logit, logit, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.pose, pose, rtol=1e-5, atol=1e-6)


def test_the_second_block_sees_the_blend_of_the_first_block_and_the_half_size_adapter():
    """The second block's input is alpha * block0(fromRGB0(img)) + (1 - alpha) * fromRGB1(nearest half-size img)
    (two-channel images: ``in_channels`` reaches every adapter)."""
    torch.manual_seed(2)
    d = _randomised(ProgressiveCoordConvDiscriminator(8, max_channels=4, channel_scale=1 / 256, in_channels=2))
    images = torch.randn(2, 2, 8, 8)
    seen = []
    handle = d.blocks[1].register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    for a in (0.0, 0.25, 1.0):
        d(images, alpha=a)
    handle.remove()
    full = d.blocks[0](d.from_rgb[0](images))
    skip = d.from_rgb[1](F.interpolate(images, scale_factor=0.5, mode="nearest"))
    torch.testing.assert_close(seen[0], skip)
    torch.testing.assert_close(seen[1], 0.25 * full + 0.75 * skip)
    torch.testing.assert_close(seen[2], full)


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (1, 3, 2, 2), (1, 3, 16, 8), (1, 3, 8, 16), (1, 3, 12, 12)])
def test_image_sides_outside_the_ladder_are_refused(shape):
    d = ProgressiveCoordConvDiscriminator(32, max_channels=4, channel_scale=1 / 64)
    got = rf"\({shape[2]}, {shape[3]}\)"
    with pytest.raises(ValueError, match=rf"^image side must be a power of two in \[4, 32\], got {got}$"):
        d(torch.zeros(shape))
