"""The training recipe a model plugin hands the engine (zoo3d/core/model.py, docs/plugins.md): the optimisers a
stage config gives each role and every refusal's sentence, StyleGAN2's lazy-regularisation correction, the
Stage a StageConfig sizes, what a StepContext gives a phase, the defaults of ModelPlugin and build_modules'
one-sentence refusal. Fake plugins and modules are defined here through the public API."""

from __future__ import annotations

import re

import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.config import RunConfig, StageConfig
from zoo3d.core import Generator, ModelPlugin, OptimizerSpec, Phase, RenderOutput, Stage, StepContext
from zoo3d.core import lazy_corrected, stage_optimizers
from zoo3d.core.model import build_modules
from zoo3d.errors import ConfigError


def _stage(**kw) -> StageConfig:
    return StageConfig(**{"name": "gan", "steps": 1, "batch_size": 2,
                          "lr": {"generator": 2e-5, "discriminator": 2e-4}, **kw})


ROLES = {"generator": ["generator"], "discriminator": ["discriminator"]}


def _refusal(sentence: str) -> str:
    return "^" + re.escape(sentence) + "$"


def test_stage_optimizers_give_each_role_its_settings_and_refuse_what_no_role_trains_in_one_sentence():
    stage = _stage(betas=(0.5, 0.99), grad_clip={"generator": 0.25},
                   module_lr={"generator.manifold": 2e-6, "generator": 1e-5, "disc.head.fc": 3e-4})
    specs = stage_optimizers(stage, {"generator": ["generator"], "discriminator": ["disc.backbone", "disc.head"]})
    g, d = specs["generator"], specs["discriminator"]
    assert g == OptimizerSpec(["generator"], lr=2e-5, betas=(0.5, 0.99), grad_clip=0.25,
                              module_lr={"generator.manifold": 2e-6, "generator": 1e-5})
    assert d == OptimizerSpec(["disc.backbone", "disc.head"], lr=2e-4, betas=(0.5, 0.99), grad_clip=None,
                              module_lr={"disc.head.fc": 3e-4})
    assert (g.eps, g.weight_decay) == (1e-8, 0.0)  # Adam's defaults a plugin may rely on

    with pytest.raises(ConfigError, match=_refusal(
            "Stage 'gan' trains ['discriminator', 'encoder'] but its config gives no learning rate for them "
            "(stages.gan.lr has ['generator']).")):
        stage_optimizers(_stage(lr={"generator": 1e-4}), {"encoder": ["encoder"], "generator": ["generator"],
                                                          "discriminator": ["discriminator"]})
    # "generatorx" starts with "generator" but is not inside it: only the module itself or a dotted child is
    with pytest.raises(ConfigError, match=_refusal(
            "stages.gan.module_lr names ['generatorx.net'], which no optimiser of stage 'gan' trains "
            "(it trains ['discriminator', 'generator']).")):
        stage_optimizers(_stage(module_lr={"generatorx.net": 1e-6, "generator.sr": 1e-6}), ROLES)
    with pytest.raises(ConfigError, match=_refusal(
            "stages.gan.grad_clip names ['decoder', 'encoder'], which stage 'gan' does not train "
            "(its optimisers: ['discriminator', 'generator']).")):
        stage_optimizers(_stage(grad_clip={"generator": 1.0, "encoder": 2.0, "decoder": 3.0}), ROLES)


def test_lazy_correction_scales_rates_and_betas_by_every_over_every_plus_one_for_the_lazy_roles_only():
    spec = OptimizerSpec(["disc"], lr=0.002, betas=(0.5, 0.99), eps=1e-6, weight_decay=0.1, grad_clip=3.0,
                         module_lr={"disc.head": 0.004})
    fixed = lazy_corrected(spec, 4)
    c = 4 / 5  # StyleGAN2's mb_ratio = reg_interval / (reg_interval + 1)
    assert fixed.lr == pytest.approx(0.002 * c, rel=1e-14)
    assert fixed.betas == pytest.approx((0.5 ** c, 0.99 ** c), rel=1e-14)
    assert fixed.module_lr == pytest.approx({"disc.head": 0.004 * c}, rel=1e-14)
    assert (fixed.modules, fixed.eps, fixed.weight_decay, fixed.grad_clip) == (["disc"], 1e-6, 0.1, 3.0)
    assert spec.lr == 0.002 and spec.module_lr == {"disc.head": 0.004}  # the spec given is not changed
    assert lazy_corrected(spec, None) is spec and lazy_corrected(spec, 0) is spec
    one = lazy_corrected(spec, 1)
    assert one.lr == pytest.approx(0.001, rel=1e-14) and one.betas[1] == pytest.approx(0.99 ** 0.5, rel=1e-14)
    # stage_optimizers corrects the roles given an interval, and only those
    specs = stage_optimizers(_stage(betas=(0.0, 0.99)), ROLES, lazy_every={"discriminator": 16, "generator": None})
    assert specs["generator"].lr == 2e-5 and specs["generator"].betas == (0.0, 0.99)
    assert specs["discriminator"].lr == pytest.approx(2e-4 * 16 / 17, rel=1e-14)
    assert specs["discriminator"].betas[1] == pytest.approx(0.99 ** (16 / 17), rel=1e-14)


def test_stage_from_config_carries_the_ema_decay_and_optimiser_state_and_lets_the_model_override():
    config = _stage(steps=7, batch_size=3, resolution=32, ema_decay=0.99, keep_optimizer_state=True)
    phases = [Phase("D", "discriminator", lambda ctx: None)]
    stage = Stage.from_config(config, phases, {"d": OptimizerSpec(["d"], lr=1.0)})
    assert (stage.name, stage.steps, stage.batch_size, stage.resolution) == ("gan", 7, 3, 32)
    assert (stage.ema_decay, stage.keep_optimizer_state, stage.phases) == (0.99, True, phases)
    assert list(stage.optimizers) == ["d"]
    # what the model passes wins over the config's values
    forced = Stage.from_config(config, [], {}, resolution=64, ema_decay=0.5, keep_optimizer_state=False, ema=False)
    assert (forced.resolution, forced.ema_decay, forced.keep_optimizer_state, forced.ema) == (64, 0.5, False, False)
    # a config without them: no resolution, the run's EMA decay, fresh optimisers, and the Stage defaults
    plain = Stage.from_config(_stage(), [], {})
    assert (plain.resolution, plain.ema_decay, plain.keep_optimizer_state) == (None, None, False)
    assert (plain.frozen, plain.on_start, plain.ema) == ([], None, True)
    assert Phase("G", "generator", lambda ctx: None).every == 1


class Flat(Generator):
    def __init__(self, prior: CameraPrior):
        super().__init__()
        self.z_dim, self.resolution, self.camera_prior = 3, (2, 2), prior
        self.w = torch.nn.Parameter(torch.ones(3))

    def represent(self, z, psi=1.0):
        return z * self.w

    def render(self, representation, cameras, resolution=None):
        return RenderOutput(rgb=representation[:, :, None, None].expand(-1, -1, 2, 2))


def _ctx(rng=None, device="cpu", modules=None) -> StepContext:
    gen = Flat(CameraPrior(yaw_std=0.5, pitch_std=0.25, fov=20.0))
    modules = modules if modules is not None else {"generator": gen, "disc": torch.nn.Linear(1, 1)}
    stage = Stage("gan", 1, [], {})
    return StepContext(modules=modules, config=RunConfig(), stage=stage, step=0, stage_step=0,
                       device=torch.device(device), rng=rng)


def test_a_step_context_draws_latents_and_cameras_from_its_rng_on_its_device():
    ctx = _ctx(rng=torch.Generator().manual_seed(5))
    z = ctx.sample_z(4)
    cams = ctx.sample_cameras(4)
    reference = torch.Generator().manual_seed(5)
    assert torch.equal(z, torch.randn(4, 3, generator=reference))
    r = torch.randn(2, 4, generator=reference)
    assert torch.allclose(cams.cam2world, Camera.from_angles(0.5 * r[0], 0.25 * r[1], 1.0, 20.0).cam2world, atol=1e-6)
    meta = _ctx(rng=torch.Generator().manual_seed(5), device="meta")
    assert meta.sample_z(2).device.type == "meta" and meta.sample_cameras(2).cam2world.device.type == "meta"


def test_a_step_context_names_the_model_s_modules_when_asked_for_another():
    ctx = _ctx()
    assert ctx.generator is ctx.modules["generator"] and ctx.module("disc") is ctx.modules["disc"]
    with pytest.raises(KeyError) as err:
        ctx.module("discriminator")
    assert err.value.args[0] == "The recipe asks for module 'discriminator', but the model has only: generator, disc."
    assert err.value.__suppress_context__


class FakePlugin(ModelPlugin):
    def __init__(self, error: Exception | None = None):
        self.error = error

    def build(self, config):
        if self.error is not None:
            raise self.error
        return {"generator": Flat(config.camera), "disc": torch.nn.Linear(2, 1)}

    def stages(self, config):
        return []


def test_a_model_plugin_s_defaults_are_what_docs_plugins_md_says_a_plugin_may_rely_on():
    plugin = FakePlugin()
    assert plugin.config_class is RunConfig and plugin.requires_checkpoint and not plugin.imports_releases
    assert plugin.build_inverter(RunConfig(), plugin.build(RunConfig())) is None
    config = RunConfig(camera=CameraPrior(fov=30.0, radius=2.5))
    bench = plugin.benchmark_generator(config)  # build(config)["generator"], built from that config
    assert isinstance(bench, Flat) and bench.camera_prior == CameraPrior(fov=30.0, radius=2.5)
    with pytest.raises(NotImplementedError, match=_refusal(
            "FakePlugin builds benchmark generators only at its config's resolution")):
        plugin.benchmark_generator(RunConfig(), resolution=64)
    with pytest.raises(NotImplementedError):
        plugin.import_release({}, RunConfig())


def test_build_modules_turns_a_constructor_s_value_error_into_one_config_sentence():
    modules = build_modules(FakePlugin(), RunConfig())
    assert sorted(modules) == ["disc", "generator"]
    for message in ("resolution 48 is not a power of two.", "resolution 48 is not a power of two"):
        with pytest.raises(ConfigError, match=_refusal(
                "Invalid config: the model cannot be built with it: resolution 48 is not a power of two.")) as err:
            build_modules(FakePlugin(ValueError(message)), RunConfig())
        assert err.value.__suppress_context__
    with pytest.raises(TypeError, match="a bug"):  # anything else is a bug in the plugin and keeps its traceback
        build_modules(FakePlugin(TypeError("a bug")), RunConfig())
