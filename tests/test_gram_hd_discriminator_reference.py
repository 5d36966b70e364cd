"""GRAM-HD's patch discriminator against pix2pix's NLayerDiscriminator (GRAM-HD discriminators/patchgan.py) written out
with plain torch ops, with ``norm_layer = nn.Identity`` as every GRAM-HD config sets it (configs.py): bias only on the
first and last convs, LeakyReLU(0.2), and GramEncoderPatchDiscriminator's sizing by resolution."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d_gram_hd.discriminator import PatchDiscriminator

pytestmark = pytest.mark.usefixtures("single_thread")


def _nlayer(convs, x, n_layers):
    """NLayerDiscriminator.forward with Identity norms: n_layers stride-2 4x4 convs (pad 1), one stride-1 4x4 conv, each
    followed by LeakyReLU(0.2), then a stride-1 4x4 conv to one channel. Only the first and the last conv have a bias
    (``use_bias = norm_layer == nn.InstanceNorm2d`` is False for Identity)."""
    assert len(convs) == n_layers + 2
    for i, conv in enumerate(convs):
        bias = conv.bias if i in (0, n_layers + 1) else None
        assert (conv.bias is None) == (bias is None)
        x = F.conv2d(x, conv.weight, bias, stride=2 if i < n_layers else 1, padding=1)
        if i < n_layers + 1:
            x = F.leaky_relu(x, 0.2)
    return x


def _widths(in_channels, ndf, n_layers):
    """(in, out) of each conv: ndf * min(2^n, 8) doubling from ndf, then 1."""
    mult = [min(2 ** n, 8) for n in range(n_layers + 1)]
    hidden = [(ndf * mult[n - 1], ndf * mult[n]) for n in range(1, n_layers + 1)]
    return [(in_channels, ndf)] + hidden + [(ndf * mult[-1], 1)]


@pytest.mark.parametrize("in_channels, ndf, n_layers, side",
                         [(3, 2, 3, 32), (4, 1, 4, 64), (2, 3, 2, 16), (1, 1, 5, 128)])
def test_the_patch_map_is_pix2pixs_nlayer_discriminator_without_norms(in_channels, ndf, n_layers, side):
    """The width multiplier min(2^n, 8) caps at 8: ndf x 1, 2, 4, 8, 8 at n_layers 4, x 1, 2, 4, 8, 8, 8 at 5."""
    torch.manual_seed(0)
    d = PatchDiscriminator(in_channels, ndf=ndf, n_layers=n_layers)
    convs = [m for m in d.model if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == _widths(in_channels, ndf, n_layers)
    assert all(c.kernel_size == (4, 4) for c in convs)
    for conv in convs:  # larger biases than the default init, so a dropped or misplaced bias shows
        if conv.bias is not None:
            torch.nn.init.uniform_(conv.bias, -0.5, 0.5)
    images = torch.randn(2, in_channels, side, side)
    out = d(images)
    expected = _nlayer(convs, images, n_layers)
    torch.testing.assert_close(out.patch, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.logit, expected.mean(dim=(2, 3)), rtol=1e-5, atol=1e-6)
    assert out.logit.shape == (2, 1) and out.pose is None and d.n_layers == n_layers
    assert PatchDiscriminator.output_size(side, n_layers) == expected.shape[-1]


def test_the_defaults_are_pix2pixs():
    """NLayerDiscriminator(input_nc, ndf=64, n_layers=3) on RGB; GRAM-HD's sizing reads RGB too."""
    d = PatchDiscriminator()
    assert (d.model[0].in_channels, d.model[0].out_channels, d.n_layers) == (3, 64, 3)
    assert PatchDiscriminator.for_resolution(1024).model[0].in_channels == 3
    assert PatchDiscriminator.output_size(256) == 30


@pytest.mark.parametrize("resolution", [64, 128, 256, 512, 1024, 2048])
def test_for_resolution_sizes_as_gram_hd_does(resolution):
    """GramEncoderPatchDiscriminator: NLayerDiscriminator(c, min(64, int(2^(14 - log2 R))), max(3, log2 R - 6))."""
    log2 = int(math.log2(resolution))
    d = PatchDiscriminator.for_resolution(resolution, in_channels=2)
    assert d.model[0].in_channels == 2
    assert (d.model[0].out_channels, d.n_layers) == (min(64, int(2 ** (14 - log2))), max(3, log2 - 6))
    assert len([m for m in d.model if isinstance(m, torch.nn.Conv2d)]) == d.n_layers + 2


@pytest.mark.parametrize("resolution, n_layers", [(16, 1), (40, 2), (64, 3), (128, 4), (33, 2), (50, 3), (71, 1)])
def test_output_size_is_the_side_of_the_patch_map(resolution, n_layers):
    """Each 4x4 conv with padding 1: floor((s + 2 - 4) / stride) + 1, stride 2 for the first n_layers, then 1, 1;
    odd sides (33, 71) and odd intermediate sides (50 -> 25) take the floor."""
    side = resolution
    for stride in [2] * n_layers + [1, 1]:
        side = (side + 2 - 4) // stride + 1
    assert PatchDiscriminator.output_size(resolution, n_layers) == side
    d = PatchDiscriminator(1, ndf=1, n_layers=n_layers)
    assert d(torch.zeros(1, 1, resolution, resolution)).patch.shape[-2:] == (side, side)
