"""GRAM-HD's config: the stored two-section shape (``stage1`` / ``stage2``) upgrades to exactly the config the
``stages`` shape gives, stage 1 reads the loss section with its own R1 weight, and stages keep the resolutions
the generator sets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_model_spec
from zoo3d_gram_hd.config import STAGE1, STAGE2, GramHDConfig

FIXTURE = Path(__file__).parent / "fixtures" / "format1" / "gram_hd" / "run" / "config.yaml"
SPEC = get_model_spec("gram_hd")

# What tools/make_format1_runs.py set (in the two-section shape) on the tiny preset, in today's shape.
GRAM_SHRINK = ["resolution=8", "manifold.hidden=16", "manifold.num_levels=4", "radiance.z_dim=8",
               "radiance.mapping_hidden=16", "radiance.hidden=16", "radiance.num_layers=3",
               "radiance.truncation_samples=16", "render.num_samples=6"]
FORMAT1_RUN = ([f"generator.lowres.{s}" for s in GRAM_SHRINK] + [
    "data.spec=synthetic:heads?count=4", "train.sample_every=0", "train.keep_checkpoints=50", "train.log_every=1",
    "train.sample_seeds=[0]", "train.checkpoint_every=2",
    "generator.resolution=16", "generator.lowres.radiance.feature_dim=4", "generator.foreground_sr.nf=8",
    "generator.foreground_sr.nb=1", "generator.foreground_sr.gc=4", "generator.foreground_sr.up_channels=[8]",
    "generator.foreground_sr.style_hidden=16", "generator.background_sr.nf=8", "generator.background_sr.nb=1",
    "generator.background_sr.gc=4", "generator.background_sr.up_channels=[8]",
    "stages.gram_hd.stage1.steps=1", "stages.gram_hd.stage1.batch_size=2", "stages.gram_hd.stage2.steps=3",
    "stages.gram_hd.stage2.batch_size=2",
    "discriminator.channel_scale=0.004", "discriminator.patch_ndf=4", "discriminator.patch_layers=1"])


def _load(preset: str = "tiny", overrides: list[str] | None = None) -> GramHDConfig:
    return load_run_config(GramHDConfig, SPEC.name, SPEC.presets_dir, preset, None, overrides)


def _upgraded(stored: dict) -> GramHDConfig:
    return GramHDConfig.model_validate(GramHDConfig.upgrade_stored(stored))


def test_a_stored_two_section_config_upgrades_to_the_config_of_todays_shape():
    stored = yaml.safe_load(FIXTURE.read_text())
    assert "stage1" in stored and "stages" not in stored  # the older shape
    # when the fixture was written the tiny preset drew its sample grids at psi 0.7, its SR nets started
    # from bicubic up-sampling, its HR maps were read bilinearly (a stored run keeps that read) and its
    # modulated SR kernels were stored in the equalised form (a stored run keeps them); its gridding extent was
    # stored as the number 0.12 (today null: the camera fov / 100, the same 0.12 at its 12 degrees)
    then = _load(overrides=FORMAT1_RUN + ["train.sample_truncation=0.7",
                                          "generator.foreground_sr.residual=bicubic",
                                          "generator.texture_filter=bilinear",
                                          "generator.foreground_sr.kernels=equalized", "generator.extent=0.12"])
    assert _upgraded(stored).model_dump() == then.model_dump()


def test_upgrade_keeps_what_differed_between_the_two_sections():
    stored = yaml.safe_load(FIXTURE.read_text())
    stored["stage1"].update(run="runs/gram", discriminator={"max_channels": 200, "channel_scale": 0.5},
                            loss={"r1_gamma": 0.5, "lambda_pos": 2.0, "lambda_realpos": 15.0})
    stored["stage2"]["optim"]["betas"] = [0.5, 0.99]
    cfg = _upgraded(stored)
    d = cfg.discriminator
    assert (d.max_channels, d.channel_scale, d.lowres_max_channels, d.lowres_channel_scale) == (400, 0.004, 200, 0.5)
    assert cfg.generator.lowres_run == "runs/gram"
    assert cfg.stage(STAGE1).loss == {"r1_gamma": 0.5, "lambda_pos": 2.0}
    one, two = cfg.stage_loss(STAGE1), cfg.stage_loss(STAGE2)
    assert (one.r1_gamma, one.lambda_pos, one.lambda_realpos) == (0.5, 2.0, 15.0)
    assert (two.r1_gamma, two.lambda_pos, two.lambda_cons) == (1.0, 15.0, 10.0)
    assert cfg.stage(STAGE1).lr == {"generator": 3e-4, "discriminator": 4e-4} and cfg.stage(STAGE1).betas == (0.0, 0.9)
    assert cfg.stage(STAGE2).lr == {"generator": 1e-3, "discriminator": 2e-4} and cfg.stage(STAGE2).betas == (0.5, 0.99)


def test_a_stored_config_missing_keys_takes_the_older_shapes_defaults():
    cfg = _upgraded({"model": "gram_hd", "stages": [], "stage2": {"loss": {"lambda_cons": 3.0}}})
    assert [(s.steps, s.batch_size, s.lr["generator"], s.grad_clip) for s in cfg.stages] == [
        (100000, 64, 2e-5, 0.3), (100000, 32, 2e-4, 0.3)]
    assert cfg.loss.lambda_cons == 3.0 and cfg.loss.r1_gamma == 3.0 and cfg.stage_loss(STAGE1).r1_gamma == 1.0
    assert cfg == GramHDConfig(loss={"lambda_cons": 3.0}, generator={"foreground_sr": {"kernels": "equalized"}})


def test_a_config_of_todays_shape_is_not_rewritten():
    data = _load("ffhq512").model_dump(mode="json")
    assert _upgraded(data).model_dump(mode="json") == data


def test_stage_one_reads_the_loss_section_with_its_own_r1_weight():
    cfg = _load("ffhq1024")
    assert (cfg.stage_loss(STAGE2).r1_gamma, cfg.stage_loss(STAGE2).lambda_cons) == (10.0, 10.0)
    assert (cfg.stage_loss(STAGE1).r1_gamma, cfg.stage_loss(STAGE1).lambda_pos) == (1.0, 15.0)
    stage1 = SPEC.load().stages(cfg)[0]
    assert stage1.name == STAGE1 and "r1_gamma=1.0" in repr(stage1.phases[0].loss.keywords["loss"])


def test_a_stage_resolution_is_refused_with_the_keys_that_set_it():
    with pytest.raises(ConfigError, match=r"stages.gram_hd.stage2.resolution: .*generator.resolution"):
        _load(overrides=["stages.gram_hd.stage2.resolution=128"])


def test_a_lowres_gram_without_a_background_plane_is_refused_with_the_key():
    """GRAM-HD grids and super-resolves the background plane's map: GRAM's ``background_z: null`` (its CARLA
    preset) has no plane to grid, and was taken only to fail at the first render on a number-less plane."""
    with pytest.raises(ConfigError, match=r"generator.*lowres.manifold.background_z must be a plane"):
        _load(overrides=["generator.lowres.manifold.background_z=null"])
