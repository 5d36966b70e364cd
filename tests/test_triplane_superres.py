"""EG3D's super-resolution module (SuperresolutionHybrid2X/4X/8XDC) against independent answers.

The factor must be 2 or 4; the feature image is resized (antialiased bilinear, as EG3D's interpolate with
``sr_antialias``) to the input side; the running RGB starts from the raw RGB (the first 3 channels) and each
block adds its ToRGB to it; no noise is injected; every layer carries the given clamp.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.modconv import NoiseInjection
from zoo3d_triplane.superres import SuperResolution

C, W_DIM = 6, 8


def _sr(input_resolution: int = 4, resolution: int = 8, clamp: float | None = None) -> SuperResolution:
    torch.manual_seed(0)
    return SuperResolution(C, W_DIM, input_resolution, resolution, (8, 4), clamp=clamp)


@pytest.mark.parametrize("sides", [(4, 12), (4, 4), (4, 32), (6, 16), (8, 4)])
def test_factors_other_than_two_or_four_are_refused(sides):
    with pytest.raises(ValueError, match="factor must be 2 or 4"):
        _sr(*sides)


@pytest.mark.parametrize("sides", [(4, 8), (4, 16)])
def test_the_output_has_the_asked_side_for_both_factors(sides):
    out = _sr(*sides)(torch.randn(2, C, 4, 4), torch.randn(2, W_DIM))
    assert out.shape == (2, 3, sides[1], sides[1])


def test_a_larger_feature_image_is_first_resized_antialiased_to_the_input_side():
    sr = _sr()
    features, w = torch.randn(2, C, 16, 16), torch.randn(2, W_DIM)
    small = F.interpolate(features, size=(4, 4), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(sr(features, w), sr(small, w))


def test_the_running_rgb_starts_from_the_raw_rgb():
    """With every ToRGB silenced the output is the raw RGB carried through the skips (x2 up-sampled)."""
    sr = _sr()
    with torch.no_grad():
        for block in (sr.block0, sr.block1):
            block.to_rgb.conv.weight.zero_()
            block.to_rgb.bias.zero_()
        features = torch.randn(1, C, 4, 4)
        features[:, :3] = 0.5  # a flat raw RGB: the up-sampled skip is flat away from the border
        out = sr(features, torch.randn(1, W_DIM))
    torch.testing.assert_close(out[..., 2:-2, 2:-2], torch.full((1, 3, 4, 4), 0.5))


def test_no_noise_is_injected_while_training():
    """EG3D's superresolution_noise_mode='none': no noise layers (their strength would start at 0 and learn)."""
    sr = _sr().train()
    assert not any(isinstance(m, NoiseInjection) for m in sr.modules())
    features, w = torch.randn(2, C, 4, 4), torch.randn(2, W_DIM)
    with torch.no_grad():
        assert torch.equal(sr(features, w), sr(features, w))


def test_every_layer_carries_the_clamp():
    sr = _sr(clamp=0.25)
    for block in (sr.block0, sr.block1):
        assert block.conv0.clamp == block.conv1.clamp == block.to_rgb.clamp == 0.25
