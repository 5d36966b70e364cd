"""GRAM-HD's and StyleSDF's own config checks as a user meets them, past what test_config_plugin_refusals.py holds:
the whole sentence of each refusal from a tiny preset with --set overrides, and the settings next to it accepted; and
GRAMInverter's rule for a discriminator that reads the cameras."""

from __future__ import annotations

import pytest

from conftest import load_tiny_config
from zoo3d.errors import ConfigError


@pytest.mark.parametrize("model, overrides, sentence", [
    # GRAM's CARLA setting (no background plane) cannot be super-resolved by GRAM-HD
    ("gram_hd", ["generator.lowres.manifold.background_z=null"],
     "Invalid config section 'generator': lowres.manifold.background_z must be a plane's z (GRAM-HD grids and "
     "super-resolves the background plane's map; null, GRAM's CARLA setting, has no plane)."),
    # a pose weight below 1 is a pose loss too
    ("stylesdf", ["stages.decoder.loss.lambda_realpos=0.5"],
     "Invalid config: stages.decoder.loss.lambda_realpos: the decoder's StyleGAN2 discriminator has no pose head, "
     "so the stage has no pose loss; set it to 0 (got 0.5)."),
])
def test_a_setting_the_model_cannot_train_is_refused_with_its_sentence(model, overrides, sentence):
    with pytest.raises(ConfigError) as refused:
        load_tiny_config(model, *overrides)
    assert str(refused.value) == sentence


@pytest.mark.parametrize("model, overrides, check", [
    # any plane's z
    ("gram_hd", ["generator.lowres.manifold.background_z=-0.2"],
     lambda c: c.generator.lowres.manifold.background_z == -0.2),
    # without a decoder the decoder stage's entry is not read (StyleSDFDecoderConfig), so its pose weights are not
    # refused; the other stages keep theirs
    ("stylesdf", ["generator.decoder.enabled=false", "stages.decoder.loss.lambda_pos=1.0"],
     lambda c: not c.generator.decoder.enabled and c.stage_loss("decoder").lambda_pos == 1.0),
    ("stylesdf", ["stages.volume_renderer.loss.lambda_pos=0.5"],
     lambda c: c.stage_loss("volume_renderer").lambda_pos == 0.5),
])
def test_the_settings_next_to_a_refused_one_are_accepted(model, overrides, check):
    assert check(load_tiny_config(model, *overrides))


@pytest.mark.parametrize("architecture", ["gram", "stylegan2"])
@pytest.mark.parametrize("conditioned", [True, False])
def test_graminverters_discriminator_reads_the_cameras_only_as_a_conditioned_stylegan2_d(architecture, conditioned):
    # GramInverterDiscriminatorConfig: GRAM's D has a pose head instead and never reads the camera label
    config = load_tiny_config("graminverter", f"discriminator.architecture={architecture}",
                   f"discriminator.conditioned={str(conditioned).lower()}")
    assert config.discriminator.camera_conditioned is (architecture == "stylegan2" and conditioned)
