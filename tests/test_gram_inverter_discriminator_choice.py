"""GRAMInverter's discriminator module (zoo3d_gram_inverter.discriminator) on its own: the StyleGAN2 option built with
every setting it names (camera-mapping depth, minibatch grouping with 0 meaning StyleGAN2's groups of one), and the
posed real sample: the refusal it words, and the resize, grad flag and cameras it hands through."""

from __future__ import annotations

import pytest
import torch
from gan_stubs import ConstantGenerator, area_half, context, real_batch
from test_gram_inverter_model import micro_config

from zoo3d.errors import UserError

from zoo3d_gram_inverter.discriminator import build_discriminator, posed_real_sample

pytestmark = pytest.mark.usefixtures("single_thread")

SG2 = ["discriminator.architecture=stylegan2", "discriminator.channel_base=128", "discriminator.channel_max=16"]


@pytest.mark.parametrize("mapping_layers, mbstd_group, group_size", [(3, 0, 1), (1, 1, 1), (2, 3, 3)])
def test_the_stylegan2_option_takes_its_mapping_depth_and_minibatch_group(mapping_layers, mbstd_group, group_size):
    _, cfg = micro_config(*SG2, f"discriminator.mapping_layers={mapping_layers}",
                          f"discriminator.mbstd_group={mbstd_group}")
    d = build_discriminator(cfg)
    assert len(d.mapping.layers) == mapping_layers and d.mbstd_group_size == group_size
    assert d.resolution == cfg.generator.resolution == 16


def test_posed_real_sample_names_the_stage_the_reason_and_the_way_out():
    with pytest.raises(UserError) as err:
        posed_real_sample(context({}, real_batch(2, 16, cameras=False)), False)
    assert str(err.value) == (
        "GRAMInverter's efficient-GRAM stage needs camera poses for its real images (its discriminator is "
        "camera-conditioned); use data with poses (dataset.json, GRAM poses/ or poses.json) or set "
        "discriminator.conditioned=false.")


@pytest.mark.parametrize("resolution, requires_grad", [(8, True), (None, False), (16, True)])
def test_posed_real_sample_hands_through_the_resize_the_grad_flag_and_the_cameras(resolution, requires_grad):
    real = real_batch(2, 16)
    sample = posed_real_sample(context({"generator": ConstantGenerator()}, real), requires_grad, resolution)
    expected = area_half(real.images) if resolution == 8 else real.images
    torch.testing.assert_close(sample.images, expected)
    assert sample.images.requires_grad == requires_grad and sample.images.is_leaf
    torch.testing.assert_close(sample.cameras.cam2world, real.cameras.cam2world)
