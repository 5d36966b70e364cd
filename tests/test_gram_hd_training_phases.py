"""GRAM-HD's two-stage recipe against its training code and the paper, with closed-form stand-ins.

Stage 1 is GRAM at the LR side (JeffreyXiang/GRAM-HD trains GRAM first): the LR generator against the LR
discriminator with GRAM's D and G losses (softplus, R1, pose MSE of fakes and reals) and the stage's own weights,
reals area-resized to the LR side. Stage 2 starts from the stage-1 EMA (or another run's), freezes everything of
stage 1 but the feature heads and trains them with the SR nets against the HR and patch discriminators (eqs.
9-12) at the HR side. The stand-ins (``gan_stubs``: constant images from the step's draws, linear
discriminators) make every loss a closed form; decoys sit under the names a wrong wiring would read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from gan_stubs import ConstantGenerator, LinearD, area_half, fakes, real_batch, sampled_pose, softplus

from zoo3d.core.model import StepContext
from zoo3d.errors import UserError
from zoo3d.train.checkpoint import write_safetensors
from zoo3d.train.ema import make_ema
from zoo3d.train.losses import pose_target
from zoo3d_gram_hd.config import STAGE1, STAGE2
from zoo3d_gram_hd.model import (STAGE1_FROZEN_IN_STAGE2, GramHDModel, load_stage1_weights, lowres_stage,
                                 patch_discriminator, super_resolution_stage)

from test_gram_hd_config import FORMAT1_RUN, _load
from test_gram_hd_phase_losses import LinearPatchD, TwoResolutionGenerator

LR, HR, B = 8, 16, 2  # FORMAT1_RUN's sides and batches
STAGE1_WEIGHTS = "stages.gram_hd.stage1.loss={r1_gamma: 0.7, lambda_pos: 2.0, lambda_realpos: 0.4}"
STAGE2_WEIGHTS = ["loss.r1_gamma=1.5", "loss.lambda_pos=3.0", "loss.lambda_realpos=0.25", "loss.patch_lambda=0.3",
                  "loss.lambda_cons=0.6"]


def _config(extra=()):
    return _load(overrides=FORMAT1_RUN + [STAGE1_WEIGHTS] + STAGE2_WEIGHTS + list(extra))


def _ctx(modules, stage, real, seed=5):
    return StepContext(modules=modules, config=None, stage=stage, step=0, stage_step=0, real=real,
                       device=torch.device("cpu"), rng=torch.Generator().manual_seed(seed))


def _stage_one_modules():
    lowres, disc_lr = ConstantGenerator(0.8), LinearD(LR, seed=0)
    generator = torch.nn.Module()
    generator.lowres = lowres
    decoys = {"discriminator": LinearD(LR, seed=9), "patch_discriminator": LinearD(LR, seed=4)}
    return {"generator": generator, "discriminator_lr": disc_lr, **decoys}, lowres, disc_lr


def test_stage_one_discriminator_is_grams_loss_on_the_lr_fakes_with_the_stages_weights():
    stage = lowres_stage(_config())
    modules, lowres, disc = _stage_one_modules()
    real = real_batch(B, HR)  # the dataset at the HR side: stage 1 sees it area-resized to LR
    out = next(p for p in stage.phases if p.name == "discriminator").loss(_ctx(modules, stage, real))
    with torch.no_grad():
        x_real, x_fake = area_half(real.images), fakes(lowres, B, LR)
        adv = softplus(disc.logit(x_fake)).mean() + softplus(-disc.logit(x_real)).mean()
        r1 = 0.5 * 0.7 * disc.w.pow(2).sum()  # a linear D's input gradient is w
        pose_fake = (disc.pose(x_fake) - sampled_pose(B)).pow(2).mean()
        pose_real = (disc.pose(x_real) - pose_target(real.cameras)).pow(2).mean()
    expected = adv + r1 + 2.0 * pose_fake + 0.4 * pose_real  # stage 2's patch and consistency terms stay out
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-5, rtol=1e-5)
    assert out.logs["r1"] == pytest.approx(r1.item(), rel=1e-5)


def test_stage_one_generator_is_nonsaturating_plus_pose_for_the_lr_generator():
    stage = lowres_stage(_config())
    modules, lowres, disc = _stage_one_modules()
    out = next(p for p in stage.phases if p.name == "generator").loss(_ctx(modules, stage, real_batch(B, HR)))
    x = fakes(lowres, B, LR)
    expected = softplus(-disc.logit(x)).mean() + 2.0 * (disc.pose(x) - sampled_pose(B)).pow(2).mean()
    torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)
    out.loss.backward()
    torch.testing.assert_close(lowres.level.grad, torch.autograd.grad(expected, lowres.level)[0], atol=1e-5,
                               rtol=1e-4)


def _stage_two_modules():
    gen, disc, patch = TwoResolutionGenerator(), LinearD(HR), LinearPatchD(HR)
    return {"generator": gen, "discriminator": disc, "patch_discriminator": patch,
            "discriminator_lr": LinearD(HR, seed=9)}, gen, disc, patch


def test_stage_two_discriminator_is_the_hr_and_patch_loss_at_the_hr_side_with_the_loss_sections_weights():
    stage = super_resolution_stage(_config())
    modules, gen, disc, patch = _stage_two_modules()
    real = real_batch(B, 2 * HR)  # area-resized to the HR side
    out = next(p for p in stage.phases if p.name == "discriminator").loss(_ctx(modules, stage, real))
    with torch.no_grad():
        x_real, x_fake = area_half(real.images), fakes(gen, B, HR)
        adv = softplus(disc.logit(x_fake)).mean() + softplus(-disc.logit(x_real)).mean()
        patch_adv = softplus(patch.patches(x_fake)).mean() + softplus(-patch.patches(x_real)).mean()
        r1 = 0.5 * 1.5 * (disc.w + 0.3 * patch.u / HR ** 2).pow(2).sum()  # R1 on logit + 0.3 x mean patch logit
        pose_fake = (disc.pose(x_fake) - sampled_pose(B)).pow(2).mean()
        pose_real = (disc.pose(x_real) - pose_target(real.cameras)).pow(2).mean()
    expected = adv + 0.3 * patch_adv + r1 + 3.0 * pose_fake + 0.25 * pose_real
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-5, rtol=1e-5)


def test_stage_two_generator_adds_the_consistency_loss_with_its_weight():
    stage = super_resolution_stage(_config())
    modules, gen, disc, patch = _stage_two_modules()
    out = next(p for p in stage.phases if p.name == "generator").loss(_ctx(modules, stage, real_batch(B, HR)))
    x = fakes(gen, B, HR)
    image_term = (x - gen.lr_level).pow(2).mean()
    map_term = gen.delta ** 2 * 3 / 4 * gen.N / (gen.N + 1)
    expected = (softplus(-disc.logit(x)).mean() + 0.3 * softplus(-patch.patches(x)).mean()
                + 3.0 * (disc.pose(x) - sampled_pose(B)).pow(2).mean() + 0.6 * (image_term + map_term))
    torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)


def test_each_stage_trains_what_gram_hd_trains_and_freezes_the_rest():
    cfg = _config(["stages.gram_hd.stage1.loss={r1_gamma: 0.7, r1_every: 4}"])
    one, two = GramHDModel().stages(cfg)
    assert (one.name, one.resolution, two.name, two.resolution) == (STAGE1, LR, STAGE2, HR)
    assert one.optimizers["generator"].modules == ["generator.lowres"]
    assert one.optimizers["discriminator"].modules == ["discriminator_lr"]
    assert one.frozen == ["generator.foreground_sr", "generator.background_sr",
                          "generator.lowres.radiance_net.feature_heads", "discriminator", "patch_discriminator"]
    # a lazy R1 in stage 1 gets its phase and the LR discriminator's Adam its correction
    assert [(p.name, p.every) for p in one.phases] == [("discriminator", 1), ("r1", 4), ("generator", 1)]
    lr1 = cfg.stage(STAGE1).lr["discriminator"]
    assert one.optimizers["discriminator"].lr == pytest.approx(lr1 * 4 / 5)
    assert two.optimizers["generator"].modules == ["generator.lowres.radiance_net.feature_heads",
                                                   "generator.foreground_sr", "generator.background_sr"]
    assert two.optimizers["discriminator"].modules == ["discriminator", "patch_discriminator"]
    assert two.frozen == STAGE1_FROZEN_IN_STAGE2 + ["discriminator_lr"]
    assert two.optimizers["discriminator"].lr == cfg.stage(STAGE2).lr["discriminator"]  # R1 every D step
    (_, lazy) = GramHDModel().stages(_config(["loss.r1_every=8"]))
    assert [(p.name, p.every) for p in lazy.phases][1] == ("r1", 8)
    assert lazy.optimizers["discriminator"].lr == pytest.approx(cfg.stage(STAGE2).lr["discriminator"] * 8 / 9)
    # everything of the LR GRAM is frozen in stage 2 but its feature heads
    gen = GramHDModel().build(cfg)["generator"]
    frozen = {n for n, _ in gen.named_parameters()
              if any(("generator." + n).startswith(f + ".") for f in STAGE1_FROZEN_IN_STAGE2)}
    lowres = {n for n, _ in gen.named_parameters() if n.startswith("lowres.")}
    assert lowres - frozen == {n for n in lowres if n.startswith("lowres.radiance_net.feature_heads.")} != set()


def test_stage_two_starts_from_the_stage_one_average_and_turns_on_hr_rendering():
    cfg = _config()
    plugin = GramHDModel()
    modules = plugin.build(cfg)
    gen = modules["generator"]
    ema = make_ema(gen)
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(0.01 * torch.randn_like(p))
    averaged = {k: v.clone() for k, v in ema.lowres.state_dict().items()}
    raw_sr = {k: v.clone() for k, v in gen.foreground_sr.state_dict().items()}
    stage = plugin.stages(cfg)[1]
    assert not bool(gen.super_resolve)
    stage.on_start(StepContext(modules=modules, config=cfg, stage=stage, step=0, stage_step=0,
                               device=torch.device("cpu"), ema=ema))
    for k, v in gen.lowres.state_dict().items():
        torch.testing.assert_close(v, averaged[k], rtol=0, atol=0, msg=k)
    for k, v in gen.foreground_sr.state_dict().items():  # only the LR GRAM takes the average
        torch.testing.assert_close(v, raw_sr[k], rtol=0, atol=0, msg=k)
    assert bool(gen.super_resolve)


def test_without_an_ema_stage_two_keeps_the_weights_and_still_renders_hr():
    cfg = _config()
    modules = GramHDModel().build(cfg)
    gen = modules["generator"]
    before = {k: v.clone() for k, v in gen.lowres.state_dict().items()}
    stage = GramHDModel().stages(cfg)[1]
    stage.on_start(StepContext(modules=modules, config=cfg, stage=stage, step=0, stage_step=0,
                               device=torch.device("cpu")))
    for k, v in gen.lowres.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0, msg=k)
    assert bool(gen.super_resolve)


def _run_file(tmp_path, model, tensors, config=None):
    meta = {"zoo3d.model": model}
    if config is not None:
        meta["zoo3d.config"] = json.dumps(config)
    return str(write_safetensors(tensors, meta, tmp_path / f"{model}.safetensors"))


def _lowres_and_other(cfg):
    gen = GramHDModel().build(cfg)["generator"]
    torch.manual_seed(1)
    other = GramHDModel().build(cfg)["generator"]
    return gen.lowres, other.lowres


def test_a_gram_runs_ema_fills_the_lr_gram_and_the_feature_heads_stay(tmp_path):
    lowres, source = _lowres_and_other(_config())
    heads = {k: v.clone() for k, v in lowres.state_dict().items() if "feature_heads" in k}
    gram = {f"ema.{k}": v for k, v in source.state_dict().items() if "feature_heads" not in k}
    gram.update({f"generator.{k}": torch.zeros_like(v) for k, v in source.state_dict().items()
                 if "feature_heads" not in k})  # the raw weights are not what stage 2 starts from
    load_stage1_weights(lowres, _run_file(tmp_path, "gram", gram))
    for k, v in lowres.state_dict().items():
        expected = heads[k] if "feature_heads" in k else source.state_dict()[k]
        torch.testing.assert_close(v, expected, rtol=0, atol=0, msg=k)


def test_a_gram_hd_runs_stage_one_is_read_under_its_lowres_prefix_and_a_run_without_ema_gives_its_weights(
        tmp_path):
    lowres, source = _lowres_and_other(_config())
    tensors = {f"ema.lowres.{k}": v for k, v in source.state_dict().items()}
    tensors["ema.foreground_sr.x"] = torch.ones(1)  # stage 2's nets are not the LR GRAM's
    load_stage1_weights(lowres, _run_file(tmp_path, "gram_hd", tensors))
    for k, v in lowres.state_dict().items():
        torch.testing.assert_close(v, source.state_dict()[k], rtol=0, atol=0, msg=k)
    lowres2, _ = _lowres_and_other(_config())
    plain = {f"generator.{k}": v for k, v in source.state_dict().items() if "feature_heads" not in k}
    load_stage1_weights(lowres2, _run_file(tmp_path, "gram", plain))
    name = next(k for k in lowres2.state_dict() if "feature_heads" not in k)
    torch.testing.assert_close(lowres2.state_dict()[name], source.state_dict()[name], rtol=0, atol=0)


def test_a_run_of_another_model_or_architecture_is_refused_with_the_keys(tmp_path):
    cfg = _config()
    lowres, source = _lowres_and_other(cfg)
    with pytest.raises(UserError, match="holds a 'pigan' model; it must be a gram or gram_hd run"):
        load_stage1_weights(lowres, _run_file(tmp_path, "pigan", {"ema.x": torch.ones(1)}))
    state = {f"ema.{k}": v for k, v in source.state_dict().items()}
    wrong = next(k for k in state if k.endswith("weight"))
    state[wrong] = torch.zeros(3, 3, 3)
    stored = {"generator": {"manifold": {"num_levels": 4}, "radiance": {"hidden": 16}}}
    with pytest.raises(UserError, match=rf"differs at {wrong[4:]}\); .*its manifold \{{'num_levels': 4\}}, "
                                        rf"radiance \{{'hidden': 16\}}"):
        load_stage1_weights(lowres, _run_file(tmp_path, "gram", state, stored))
    missing = {k: v for k, v in state.items() if k != wrong}
    stored_hd = {"generator": {"lowres": {"manifold": {"num_levels": 5}}}}
    hd = {f"ema.lowres.{k[4:]}": v for k, v in missing.items()}
    with pytest.raises(UserError, match=rf"differs at {wrong[4:]}\).*its manifold \{{'num_levels': 5\}}"):
        load_stage1_weights(lowres, _run_file(tmp_path, "gram_hd", hd, stored_hd))
    extra = dict(state, **{wrong: source.state_dict()[wrong[4:]]},
                 **{f"ema.surplus{i}": torch.ones(1) for i in range(4)})
    with pytest.raises(UserError, match=r"differs at surplus0, surplus1, surplus2\); set"):
        load_stage1_weights(lowres, _run_file(tmp_path, "gram", extra))


@pytest.mark.parametrize("side, ndf, layers", [(64, 64, 3), (256, 64, 3), (512, 32, 3), (1024, 16, 4)])
def test_the_patch_discriminator_follows_gram_hds_rule_unless_the_config_sizes_it(side, ndf, layers):
    # GRAM-HD's rule at the HR side R: ndf = min(64, 2^(14 - log2 R)), n_layers = max(3, log2 R - 6)
    cfg = _config([f"generator.resolution={side}", "discriminator.patch_ndf=null",
                   "discriminator.patch_layers=null"])
    auto = patch_discriminator(cfg)
    assert (auto.model[0].out_channels, auto.n_layers) == (ndf, layers)
    only_ndf = patch_discriminator(cfg.model_copy(update={"discriminator": cfg.discriminator.model_copy(
        update={"patch_ndf": 8})}))
    assert (only_ndf.model[0].out_channels, only_ndf.n_layers) == (8, layers)
    only_layers = patch_discriminator(cfg.model_copy(update={"discriminator": cfg.discriminator.model_copy(
        update={"patch_layers": 2})}))
    assert (only_layers.model[0].out_channels, only_layers.n_layers) == (ndf, 2)
    for patch in (only_ndf, only_layers):  # RGB images in, a map of patch logits out
        assert patch(torch.rand(1, 3, 64, 64)).patch.shape[:2] == (1, 1)


def test_a_lowres_run_leaves_out_stage_one_and_its_discriminator_and_stage_two_starts_from_its_ema(tmp_path):
    _, source = _lowres_and_other(_config())
    run = _run_file(tmp_path, "gram", {f"ema.{k}": v for k, v in source.state_dict().items()})
    cfg = _config([f"generator.lowres_run={run}"])
    modules = GramHDModel().build(cfg)
    assert set(modules) == {"generator", "discriminator", "patch_discriminator"}
    (two,) = GramHDModel().stages(cfg)
    assert two.name == STAGE2 and two.frozen == STAGE1_FROZEN_IN_STAGE2
    gen = modules["generator"]
    ctx = StepContext(modules=modules, config=cfg, stage=two, step=0, stage_step=0, device=torch.device("cpu"),
                      ema=make_ema(gen))
    two.on_start(ctx)  # the run's weights, not this EMA
    for k, v in gen.lowres.state_dict().items():
        torch.testing.assert_close(v, source.state_dict()[k], rtol=0, atol=0, msg=k)
    assert bool(gen.super_resolve)
    # the source, in the state every later checkpoint stores: its file (absolute), step and hash
    assert ctx.state == {"sources.generator.lowres.checkpoint": str(Path(run).resolve()),
                         "sources.generator.lowres.step": 0,
                         "sources.generator.lowres.sha256": hashlib.sha256(Path(run).read_bytes()).hexdigest()}


@pytest.mark.parametrize("lowres_widths", [
    ["discriminator.lowres_max_channels=30", "discriminator.lowres_channel_scale=0.01"], []])
def test_the_discriminators_are_built_with_the_configs_widths_pose_head_and_minibatch_stddev(lowres_widths):
    from zoo3d.nn.discriminators import CoordConvDiscriminator
    from zoo3d_gram_hd.discriminator import PatchDiscriminator

    # widths min(cap, scale x 2^(13 - log2 side)): the scale sets the first levels, the cap the last ones
    cfg = _config(["discriminator.max_channels=40", "discriminator.channel_scale=0.02", "discriminator.mbstd_group=2",
                   "camera.radius=1.1"] + lowres_widths)
    modules = GramHDModel().build(cfg)
    assert set(modules) == {"generator", "discriminator", "patch_discriminator", "discriminator_lr"}
    assert modules["generator"].config == cfg.generator
    lr_max, lr_scale = (30, 0.01) if lowres_widths else (40, 0.02)  # the LR D takes the HR widths unless given its own
    for name, side, widths in (("discriminator", HR, (40, 0.02)), ("discriminator_lr", LR, (lr_max, lr_scale))):
        want = CoordConvDiscriminator(side, widths[0], pose_dim=2, channel_scale=widths[1], mbstd_group=2)
        want.load_state_dict(modules[name].state_dict())  # strict: every width the same
        images = torch.rand(4, 3, side, side)
        got, ref = modules[name](images), want(images)
        assert ref.pose.shape == (4, 2)  # (yaw, pitch)
        torch.testing.assert_close(got.logit, ref.logit)
        torch.testing.assert_close(got.pose, ref.pose)
    patch = modules["patch_discriminator"]
    assert isinstance(patch, PatchDiscriminator) and (patch.model[0].out_channels, patch.n_layers) == (4, 1)
    cams = modules["generator"].sample_cameras(3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(cams.origins.norm(dim=-1), torch.tensor(1.1))  # the config's camera prior
    bench = GramHDModel().benchmark_generator(cfg, HR).sample_cameras(3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(bench.origins.norm(dim=-1), torch.tensor(1.1))
