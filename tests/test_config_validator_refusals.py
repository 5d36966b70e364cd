"""The shared config checks (zoo3d/config.py's validators) as a user meets them: a run config loaded from a model's
tiny preset with the overrides a user would type, refused with the whole sentence naming the key and what to do, and
the neighbouring settings accepted (so a check that refuses too much, or at the wrong bound, fails here too)."""

from __future__ import annotations

import pytest

from conftest import load_tiny_config
from zoo3d.config import RunConfig
from zoo3d.errors import ConfigError


_PIGAN_STAGE = "{name: r32, steps: 1, batch_size: 1, lr: {generator: 1.0e-4, discriminator: 1.0e-4}, resolution: 32}"


@pytest.mark.parametrize("model, overrides, sentence", [
    ("gram", ["train.ema_warmup=true", "train.ema_rampup=0.05"],
     "Invalid config section 'train': train.ema_warmup and train.ema_rampup are two ramps of the EMA's decay; "
     "set one."),
    # a clip of 0 would zero every gradient: the bound is strict, alone and per role
    ("gram", ["stages.gram.grad_clip=0"],
     "Invalid value 0 for config key 'stages.gram.grad_clip': must be a finite number above 0, or roles mapped to "
     "such numbers ({generator: 0.25, ...})."),
    ("gram", ["stages.gram.grad_clip={generator: 0, discriminator: 1.0}"],
     "Invalid config section 'stages.gram.grad_clip': the clip of role 'generator' must be a finite number above 0, "
     "got 0."),
    # an empty ray interval, near = far
    ("gram", ["generator.render.near=1.0", "generator.render.far=1.0"],
     "Invalid config section 'generator.render': far (1.0) must be larger than near (1.0)."),
    ("pigan", [f"stages=[{_PIGAN_STAGE}, {_PIGAN_STAGE}]"],
     "Invalid config: stages: each name once (got ['r32', 'r32'])."),
    # one resolution key is 'that', two are 'those'
    ("gram", ["stages.gram.resolution=32"],
     "Invalid config: stages.gram.resolution: this model's stages train at generator.resolution; set that instead "
     "(got 32)."),
    ("stylesdf", ["stages.decoder.resolution=64"],
     "Invalid config: stages.decoder.resolution: this model's stages train at generator.renderer.resolution and "
     "generator.decoder.output_resolution; set those instead (got 64)."),
    ("gram", ["stages.gram.loss.r1_gama=1"],
     "Invalid config: stages.gram.loss: ['r1_gama'] are not keys of this model's loss section (r1_gamma, r1_every, "
     "lambda_pos, lambda_realpos)."),
    # the stage's loss overrides validated as the loss section is: pydantic's message, lower-cased into the sentence
    ("gram", ["stages.gram.loss.r1_gamma=-1"],
     "Invalid config: stages.gram.loss.r1_gamma: input should be greater than or equal to 0 (got -1)."),
    ("gram", ["stages.gram.loss.r1_every=0"],
     "Invalid config: stages.gram.loss.r1_every: input should be greater than or equal to 1 (got 0)."),
    # a check of the whole loss section: its own sentence, as for the run's loss section, not pydantic's prefix,
    # an empty key and the section's whole content
    ("triplane", ["stages.gan.loss.lambda_pos=1"],
     "Invalid config: stages.gan.loss: lambda_pos must be 0: the tri-plane model's dual discriminator has no pose "
     "head (it is conditioned on the camera instead)."),
])
def test_a_shared_setting_that_cannot_work_is_refused_with_its_sentence(model, overrides, sentence):
    with pytest.raises(ConfigError) as refused:
        load_tiny_config(model, *overrides)
    assert str(refused.value) == sentence


@pytest.mark.parametrize("model, overrides, check", [
    # either EMA ramp alone
    ("gram", ["train.ema_warmup=true", "train.ema_rampup=null"],
     lambda c: c.train.ema_warmup and c.train.ema_rampup is None),
    ("gram", ["train.ema_warmup=false", "train.ema_rampup=0.05"],
     lambda c: not c.train.ema_warmup and c.train.ema_rampup == 0.05),
    # any clip above 0, and a role left out or set to null is not clipped
    ("gram", ["stages.gram.grad_clip=1.0e-9"], lambda c: c.stage("gram").clip_for("generator") == 1e-9),
    ("gram", ["stages.gram.grad_clip={generator: 0.25, discriminator: null}"],
     lambda c: (c.stage("gram").clip_for("generator"), c.stage("gram").clip_for("discriminator"),
                c.stage("gram").clip_for("encoder")) == (0.25, None, None)),
    # the shortest ray interval
    ("gram", ["generator.render.near=1.0", "generator.render.far=1.000001"],
     lambda c: (c.generator.render.near, c.generator.render.far) == (1.0, 1.000001)),
    # a module path split by --set is one dotted key, at any depth; a key given dotted stays as it is
    ("gram", ["stages.gram.module_lr.generator.manifold=2.0e-6"],
     lambda c: c.stage("gram").module_lr == {"generator.manifold": 2e-6}),
    ("gram", ["stages.gram.module_lr.generator.manifold.layers.0=3.0e-6", "stages.gram.module_lr.discriminator=1.0e-5"],
     lambda c: c.stage("gram").module_lr == {"generator.manifold.layers.0": 3e-6, "discriminator": 1e-5}),
    ("gram", ["stages.gram.module_lr={generator.radiance: 4.0e-6}"],
     lambda c: c.stage("gram").module_lr == {"generator.radiance": 4e-6}),
    # a valid stage loss override reaches that stage only
    ("gram", ["stages.gram.loss.r1_gamma=0.5", "stages.gram.loss.r1_every=16"],
     lambda c: (c.stage_loss("gram").r1_gamma, c.stage_loss("gram").r1_every) == (0.5, 16)),
])
def test_the_settings_next_to_a_refused_one_are_accepted(model, overrides, check):
    assert check(load_tiny_config(model, *overrides))


def test_a_stage_loss_is_not_checked_against_a_config_without_a_loss_section():
    # the base RunConfig has no loss section: a stage's loss overrides are then the model's to read
    stage = {"name": "a", "steps": 1, "batch_size": 1, "lr": {"generator": 1e-4}}
    config = RunConfig.model_validate({"stages": [{**stage, "loss": {"r1_gamma": 1.0}}, {**stage, "name": "b"}]})
    assert [s.loss for s in config.stages] == [{"r1_gamma": 1.0}, {}]
