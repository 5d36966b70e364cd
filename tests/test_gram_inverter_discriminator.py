"""GRAMInverter's efficient-GRAM discriminator: GRAM's pose-aware CoordConv D (default) or EG3D's
camera-conditioned StyleGAN2 D (``discriminator.architecture=stylegan2``), scored with each image's camera."""

from __future__ import annotations

import pytest
import torch
from gan_stubs import context, real_batch
from test_gram_inverter_model import changed_by_gan_steps, micro_config

from zoo3d.errors import UserError
from zoo3d.nn.discriminators import CoordConvDiscriminator, StyleGAN2Discriminator

from zoo3d_gram_inverter.config import GramInverterConfig

pytestmark = pytest.mark.usefixtures("single_thread")

SG2 = ["discriminator.architecture=stylegan2", "discriminator.channel_base=128", "discriminator.channel_max=16",
       "discriminator.mapping_layers=2", "discriminator.mbstd_group=2"]


def _built(*overrides: str):
    plugin, cfg = micro_config(*overrides)
    torch.manual_seed(0)
    return plugin, cfg, plugin.build(cfg)


def _d_phase(plugin, cfg):
    return next(p for p in plugin.stages(cfg)[0].phases if p.name == "discriminator")


def test_the_default_is_grams_discriminator_with_a_pose_head():
    assert GramInverterConfig().discriminator.architecture == "gram"  # ffhq256 and any config that says nothing
    _, _, modules = _built("discriminator.architecture=gram")
    d = modules["discriminator"]
    assert isinstance(d, CoordConvDiscriminator)
    assert d(torch.zeros(3, 3, 16, 16)).pose.shape == (3, 2)


@pytest.mark.parametrize("conditioned, c_dim", [(True, 25), (False, 0)])
def test_the_stylegan2_option_builds_the_widths_grouping_and_conditioning_it_names(conditioned, c_dim):
    _, _, modules = _built(*SG2, f"discriminator.conditioned={str(conditioned).lower()}")
    d = modules["discriminator"]
    assert isinstance(d, StyleGAN2Discriminator) and d.c_dim == c_dim and d.mbstd_group_size == 2
    assert d.from_rgb[0].weight.shape[0] == 128 // 16  # min(channel_base / 16, channel_max) at 16 px
    assert d.final_conv[0].weight.shape[0] == 16  # 128 / 4 = 32, capped at channel_max
    assert (d.mapping is not None) == conditioned and d(torch.zeros(2, 3, 16, 16), c=torch.zeros(2, 25)).pose is None


@pytest.mark.parametrize("conditioned", [True, False])
def test_the_recipe_scores_each_real_image_with_its_camera(conditioned):
    """The same real images under their cameras and under the mirrored cameras: the conditioned D's score
    moves, the unconditioned one's does not (the fakes, drawn from the same seed, score the same)."""
    plugin, cfg, modules = _built(*SG2, f"discriminator.conditioned={str(conditioned).lower()}")
    phase = _d_phase(plugin, cfg)
    real = real_batch(2, 16)
    mirrored = real_batch(2, 16)
    mirrored.cameras = mirrored.cameras.mirror()
    a = phase.loss(context(modules, real, batch_size=2)).logs
    b = phase.loss(context(modules, mirrored, batch_size=2)).logs
    assert a["d_fake"] == b["d_fake"] and "d_pose" not in a
    assert (abs(a["d_real"] - b["d_real"]) > 1e-6) == conditioned


def test_a_conditioned_discriminator_refuses_data_without_poses():
    plugin, cfg, modules = _built(*SG2)
    with pytest.raises(UserError, match="poses"):
        _d_phase(plugin, cfg).loss(context(modules, real_batch(2, 16, cameras=False), batch_size=2))
    plugin, cfg, modules = _built(*SG2, "discriminator.conditioned=false")
    assert "d_real" in _d_phase(plugin, cfg).loss(context(modules, real_batch(2, 16, cameras=False), batch_size=2)).logs


def test_training_against_the_conditioned_discriminator_trains_its_camera_mapping(tmp_path):
    changed = changed_by_gan_steps(tmp_path, "discriminator", *SG2)
    assert any(name.startswith("mapping.") for name in changed) and any(name.startswith("from_rgb") for name in changed)
