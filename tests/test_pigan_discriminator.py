"""pi-GAN's progressive CoordConv discriminator (zoo3d_pigan.discriminator): the fade-in of a new resolution."""

import pytest
import torch
import torch.nn.functional as F

from zoo3d_pigan.discriminator import ProgressiveCoordConvDiscriminator

pytestmark = pytest.mark.usefixtures("single_thread")


def test_progressive_fade_in_endpoints():
    torch.manual_seed(0)
    d = ProgressiveCoordConvDiscriminator(32, channel_scale=1 / 32)
    images = torch.randn(2, 3, 16, 16)
    full = d(images, alpha=1.0)
    faded = d(images, alpha=0.0)
    half = d(F.interpolate(images, scale_factor=0.5, mode="nearest"))
    torch.testing.assert_close(faded.logit, half.logit)
    torch.testing.assert_close(faded.pose, half.pose)
    mid = d(images, alpha=0.5)
    assert not torch.allclose(mid.logit, full.logit) and not torch.allclose(mid.logit, half.logit)
