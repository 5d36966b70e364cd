"""The built-in models' own config checks as a user meets them: a run config loaded from the tiny preset with the
overrides a user would type, refused with one whole sentence naming the section and the keys to change, and the
neighbouring settings that are fine accepted (so a check that refuses too much fails here too)."""

from __future__ import annotations

import pytest

from conftest import load_tiny_config
from zoo3d.errors import ConfigError


@pytest.mark.parametrize("model, overrides, sentence", [
    ("pigan", ["stages=[]"], "Invalid config: stages: pi-GAN's curriculum needs at least one stage."),
    ("graminverter", ["generator.feature_planes=true", "generator.depth_slices=4"],
     "Invalid config section 'generator': feature_planes and depth_slices are two layouts of the features: set one."),
    ("graminverter", ["generator.depth_slices=null", "generator.background_from_volume=true"],
     "Invalid config section 'generator': background_from_volume reads the feature volume: it needs depth_slices."),
    ("triplane", ["generator.sr_input_resolution=32"],
     "Invalid config section 'generator': resolution / sr_input_resolution must be 2 or 4 (EG3D's SR modules), "
     "got 32 / 32."),
    ("triplane", ["generator.sr_input_resolution=4"],
     "Invalid config section 'generator': resolution / sr_input_resolution must be 2 or 4 (EG3D's SR modules), "
     "got 32 / 4."),
])
def test_a_setting_the_model_cannot_build_is_refused_with_its_sentence(model, overrides, sentence):
    with pytest.raises(ConfigError) as refused:
        load_tiny_config(model, *overrides)
    assert str(refused.value) == sentence


@pytest.mark.parametrize("model, overrides, check", [
    # EG3D's two SR modules: x2 (tiny's 16 -> 32) and x4 (8 -> 32)
    ("triplane", ["generator.sr_input_resolution=16"], lambda c: c.generator.resolution // c.generator.sr_input_resolution == 2),
    ("triplane", ["generator.sr_input_resolution=8"], lambda c: c.generator.resolution // c.generator.sr_input_resolution == 4),
    # one feature layout at a time, either one, and the volume's background with the volume
    ("graminverter", ["generator.feature_planes=true", "generator.depth_slices=null"],
     lambda c: c.generator.feature_planes and c.generator.depth_slices is None),
    ("graminverter", ["generator.feature_planes=false", "generator.depth_slices=4", "generator.background_from_volume=true"],
     lambda c: c.generator.depth_slices == 4 and c.generator.background_from_volume),
    ("pigan", [], lambda c: len(c.stages) >= 1),
])
def test_the_settings_next_to_a_refused_one_are_accepted(model, overrides, check):
    assert check(load_tiny_config(model, *overrides))
