"""GRAM-HD's PatchGAN discriminator (zoo3d_gram_hd.discriminator): output size, receptive field, sizes by resolution."""

import pytest
import torch

from zoo3d_gram_hd.discriminator import PatchDiscriminator

pytestmark = pytest.mark.usefixtures("single_thread")


def test_patch_discriminator_output_size_and_receptive_field():
    torch.manual_seed(0)
    d = PatchDiscriminator(ndf=4, n_layers=3)
    assert PatchDiscriminator.output_size(64) == 6 and PatchDiscriminator.output_size(256) == 30
    assert d(torch.randn(1, 3, 64, 64)).patch.shape[-2:] == (6, 6)
    images = torch.randn(1, 3, 256, 256)
    out = d(images)
    assert out.patch.shape[-2:] == (30, 30)
    torch.testing.assert_close(out.logit, out.patch.mean(dim=(2, 3)))
    poked = images.clone()
    poked[..., 0, 0] += 10.0
    diff = (d(poked).patch - out.patch).abs()[0, 0]
    # The 70x70 receptive field of the 3-layer PatchGAN: the corner pixel reaches only nearby patches.
    assert diff[0, 0] > 0 and diff[10:, :].max() == 0 and diff[:, 10:].max() == 0
    assert all(m.bias is None for m in list(d.model)[2:-1] if isinstance(m, torch.nn.Conv2d))
    sized = [(p.model[0].out_channels, p.n_layers) for p in map(PatchDiscriminator.for_resolution, (256, 512, 1024))]
    assert sized == [(64, 3), (32, 3), (16, 4)]
