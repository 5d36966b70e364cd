"""An unknown preset that exactly one other trainable model has names that model: ``zoo3d train gram --preset demo``
(the demo is GRAM-HD's) listed GRAM's presets only, and the user hunted for a misspelling."""

from __future__ import annotations

from conftest import run_in_process


def test_a_preset_of_one_other_model_names_that_model(tmp_path, capsys):
    code, _, err = run_in_process(capsys, "train", "gram", "--preset", "demo", "--out", tmp_path / "run")
    assert code == 2
    assert err.strip().endswith("Available presets: carla, cats256, ffhq256, tiny. 'demo' is a preset of model "
                                "'gram_hd'."), err
    assert not (tmp_path / "run").exists()


def test_a_preset_several_models_have_or_none_has_gets_no_model_named(tmp_path, capsys):
    for preset in ("ffhq256", "nosuch"):  # ffhq256: GRAM, GRAM-HD and GRAMInverter's
        code, _, err = run_in_process(capsys, "train", "pigan", "--preset", preset, "--out", tmp_path / "run")
        assert code == 2
        assert err.strip().endswith("Available presets: carla, cats, celeba, tiny."), err
