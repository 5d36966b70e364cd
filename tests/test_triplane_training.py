"""The tri-plane recipe trains: its phases move their losses, and the CLI trains, samples and renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zoo3d.cameras import CameraPrior
from zoo3d.config import load_run_config
from zoo3d.core.model import RealBatch, StepContext
import zoo3d_triplane
from zoo3d_triplane.config import TriplaneConfig
from zoo3d_triplane.model import TriplaneModel

PRESETS = Path(zoo3d_triplane.__file__).parent / "presets"  # found the same in a checkout and in an installed package

# even smaller than the tiny preset, so a few optimisation steps take a second or two
MICRO = ["generator.z_dim=16", "generator.w_dim=16", "generator.plane_resolution=16", "generator.plane_channels=8",
         "generator.channel_base=256", "generator.channel_max=16", "generator.decoder_hidden=16",
         "generator.num_samples=6", "generator.num_importance=6", "generator.neural_resolution=8",
         "generator.resolution=16", "generator.sr_input_resolution=8", "generator.sr_channels=[16,8]",
         "discriminator.channel_base=256", "discriminator.channel_max=16", "discriminator.mapping_layers=2",
         "stages.gan.batch_size=4", "loss.density_reg_points=100"]


STEPS = 3


def _config(extra=()) -> TriplaneConfig:
    return load_run_config(TriplaneConfig, "triplane", PRESETS, "tiny",
                           overrides=MICRO + list(extra))


def _context(model, cfg, modules, step: int, real: RealBatch, rng: torch.Generator) -> StepContext:
    stage = model.stages(cfg)[0]
    return StepContext(modules=modules, config=cfg, stage=stage, step=step, stage_step=step,
                       device=torch.device("cpu"), real=real, rng=rng)


def _disc_reals(n: int = 2, resolution: int = 16) -> RealBatch:
    """Reals: a bright disc on a dark background, seen from cameras of the prior."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, resolution), torch.linspace(-1, 1, resolution), indexing="ij")
    disc = ((xx.square() + yy.square()) < 0.4).float() * 1.6 - 0.8
    return RealBatch(images=disc.expand(n, 3, resolution, resolution).contiguous(),
                     cameras=CameraPrior().sample(n, generator=torch.Generator().manual_seed(3)))


def test_the_recipe_has_eg3ds_phases_and_lazy_optimiser_settings():
    cfg = load_run_config(TriplaneConfig, "triplane", PRESETS, "ffhq512")
    (stage,) = TriplaneModel().stages(cfg)
    assert [(p.name, p.optimizer, p.every) for p in stage.phases] == [
        ("generator", "generator", 1), ("density", "generator", 4), ("discriminator", "discriminator", 1),
        ("r1", "discriminator", 16)]
    assert stage.optimizers["generator"].lr == pytest.approx(0.0025 * 4 / 5)
    assert stage.optimizers["discriminator"].lr == pytest.approx(0.002 * 16 / 17)
    assert stage.optimizers["discriminator"].betas[1] == pytest.approx(0.99 ** (16 / 17))
    assert stage.resolution == 512 and stage.batch_size == 32
    stages = TriplaneModel().stages(load_run_config(TriplaneConfig, "triplane", PRESETS,
                                                    "ffhq512_128"))
    assert [s.name for s in stages] == ["gan", "finetune"]
    assert stages[1].steps == 62500 and stages[1].resolution == 512 and stages[1].batch_size == 32


def test_discriminator_and_generator_phases_move_their_losses():
    seed = 0
    torch.manual_seed(seed)
    cfg = _config(["loss.blur_sigma=0", "stages.gan.batch_size=2"])
    model = TriplaneModel()
    modules = model.build(cfg)
    G, D = modules["generator"], modules["discriminator"]
    stage = model.stages(cfg)[0]
    real = _disc_reals()
    phases = {p.name: p for p in stage.phases}

    def run(name, optimizer, steps):
        """``steps`` updates on the same latents, cameras and ray jitter, so only the weights change."""
        losses = []
        for step in range(steps):
            torch.manual_seed(seed)
            ctx = _context(model, cfg, modules, 1, real, torch.Generator().manual_seed(seed))
            optimizer.zero_grad()
            result = phases[name].loss(ctx)
            result.loss.backward()
            optimizer.step()
            losses.append(result.loss.item())
        return losses

    d_losses = run("discriminator", torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.0, 0.99)), STEPS)
    assert all(b < a for a, b in zip(d_losses, d_losses[1:])) and d_losses[-1] < d_losses[0] - 0.05, d_losses
    g_opt = torch.optim.Adam(G.parameters(), lr=2.5e-3, betas=(0.0, 0.99))
    D.requires_grad_(False)
    g_losses = run("generator", g_opt, STEPS)
    assert all(b < a for a, b in zip(g_losses, g_losses[1:])) and g_losses[-1] < g_losses[0] - 0.03, g_losses
    # the regularisation phases give finite, positive penalties with gradients to their networks
    ctx = _context(model, cfg, modules, 0, real, torch.Generator().manual_seed(seed))
    tv = phases["density"].loss(ctx)
    tv.loss.backward()
    assert tv.loss.item() > 0 and G.backbone.const.grad.abs().sum() > 0
    # the lazy phase's loss is the smoothness weighted by density_reg and multiplied by its interval
    lc = cfg.loss
    assert lc.density_reg_every > 1
    assert tv.loss.item() == pytest.approx(tv.logs["density_tv"].item() * lc.density_reg * lc.density_reg_every,
                                           rel=1e-6)
    D.requires_grad_(True)
    r1 = phases["r1"].loss(ctx)
    r1.loss.backward()
    assert r1.loss.item() > 0 and any(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())
    assert lc.r1_every > 1 and r1.loss.item() == pytest.approx(r1.logs["r1"] * lc.r1_every, rel=1e-6)


def test_the_finetune_stage_fades_the_neural_rendering_resolution_of_generator_and_discriminator():
    cfg = _config(["stages.finetune.steps=10", "loss.finetune_neural_resolution=16",
                   "loss.neural_resolution_fade_steps=8"])
    model = TriplaneModel()
    modules = model.build(cfg)
    gan, finetune = model.stages(cfg)
    density = next(p.loss for p in finetune.phases if p.name == "density")
    seen = []
    for stage_step in (0, 4, 8, 9):
        ctx = StepContext(modules=modules, config=cfg, stage=finetune, step=100 + stage_step, stage_step=stage_step,
                          device=torch.device("cpu"), rng=torch.Generator().manual_seed(0))
        with torch.no_grad():  # every phase of the stage sets this step's resolution first
            density(ctx)
        seen.append((modules["generator"].neural_resolution, modules["discriminator"].raw_resolution))
    assert seen == [(8, 8), (12, 12), (16, 16), (16, 16)]
    assert gan.steps == cfg.stage("gan").steps and finetune.steps == 10


def test_generator_renders_raw_and_super_resolved_images():
    cfg = _config()
    G = TriplaneModel().build(cfg)["generator"].eval()
    z = torch.randn(2, cfg.generator.z_dim, generator=torch.Generator().manual_seed(0))
    cams = cfg.camera.sample(2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = G(z, cams)
        again = G(z, cams)
    assert not G.strictly_3d_consistent
    assert out.rgb.shape == (2, 3, 16, 16) and out.raw.rgb.shape == (2, 3, 8, 8)
    torch.testing.assert_close(out.raw.rgb, out.raw.features[:, :3])
    assert out.raw.features.min() >= -1.01 and out.raw.features.max() <= 1.01
    torch.testing.assert_close(out.rgb, again.rgb)  # eval renders are deterministic (no noise, fixed samples)
    # the neural rendering resolution is a checkpointed buffer (EG3D fine-tunes 64 -> 128)
    G.neural_resolution = 4
    assert G.state_dict()["_neural_resolution"].item() == 4
    with torch.no_grad():
        assert G(z, cams).raw.rgb.shape == (2, 3, 4, 4)


def test_tiny_train_sample_render_through_the_cli(tmp_path):
    from click.testing import CliRunner

    from zoo3d.cli.main import cli
    from zoo3d.plugins import get_dataset_spec

    try:
        get_dataset_spec("synthetic:heads")
    except Exception:
        pytest.skip("the synthetic:heads dataset is not registered in this checkout")
    run = tmp_path / "run"
    args = ["train", "eg3d", "--preset", "tiny", "--steps", "3", "--out", str(run), "--quiet", "--device", "cpu"]
    for s in MICRO + ["train.sample_seeds=[0,1]"]:
        args += ["--set", s]
    runner = CliRunner()
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert any((run / "checkpoints").iterdir())
    records = (run / "metrics.jsonl").read_text().strip().splitlines()
    assert records and "loss.discriminator" in records[-1]
    grid = tmp_path / "grid.png"
    result = runner.invoke(cli, ["sample", str(run), "--seeds", "0-3", "--out", str(grid), "--device", "cpu"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from PIL import Image

    img = Image.open(grid)
    assert img.size[0] * img.size[1] >= 4 * 16 * 16 and len(np.unique(np.asarray(img.convert("L")))) > 4
    gif = tmp_path / "t.gif"
    result = runner.invoke(cli, ["render", str(run), "--seed", "0", "--frames", "3", "--out", str(gif),
                                 "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert getattr(Image.open(gif), "n_frames", 1) == 3


# ---------------------------------------------------------------- the recipe's wiring, phase by phase

@pytest.mark.parametrize("phase", ["generator", "density", "discriminator", "r1"])
def test_every_phase_of_the_finetune_stage_sets_the_steps_neural_resolution_itself(phase):
    """Each phase may be the first of a step (the lazy ones run alone on some steps), so each one sets the
    faded resolution before rendering fakes or resizing reals."""
    cfg = _config(["stages.finetune.steps=10", "loss.finetune_neural_resolution=16",
                   "loss.neural_resolution_fade_steps=8", "stages.gan.batch_size=2"])
    model = TriplaneModel()
    modules = model.build(cfg)
    finetune = model.stages(cfg)[1]
    loss = next(p.loss for p in finetune.phases if p.name == phase)
    modules["generator"].neural_resolution = 8
    modules["discriminator"].raw_resolution = 8
    ctx = StepContext(modules=modules, config=cfg, stage=finetune, step=104, stage_step=4, device=torch.device("cpu"),
                      real=_disc_reals(), rng=torch.Generator().manual_seed(0))
    loss(ctx)
    assert (modules["generator"].neural_resolution, modules["discriminator"].raw_resolution) == (12, 12)


def _recording(monkeypatch, modules):
    """Record the GPC labels' inputs (returning a recognisable stand-in) and what the mapping is conditioned on."""
    import zoo3d_triplane.model as recipe

    calls, represented = [], []

    def labels(c, swap, rng):
        calls.append((c.clone(), swap, rng))
        return c.flip(0) * 0.5 + 1.0

    G = modules["generator"]
    represent = G.represent

    def recorded_represent(z, psi=1.0, c=None, **kw):
        represented.append(c)
        return represent(z, psi=psi, c=c, **kw)

    monkeypatch.setattr(recipe, "conditioning_labels", labels)
    monkeypatch.setattr(G, "represent", recorded_represent)
    return calls, represented


GPC = ["loss.gpc_prob=0.5", "loss.gpc_fade_steps=10", "loss.blur_sigma=4", "loss.blur_fade_steps=10"]


def test_one_step_moves_the_tracked_mean_w_once_with_the_discriminators_fakes_as_eg3d_does():
    # EG3D updates w_avg only in Dmain (update_emas=True); updating it in G, density and D phases alike made
    # its effective decay 0.998^2 to 0.998^3 a step
    cfg = _config(["loss.density_reg_every=1", "loss.r1_every=1"])
    model = TriplaneModel()
    modules = model.build(cfg)
    mapping = modules["generator"].mapping
    forward, updates = mapping.forward, []

    def spied(*args, **kw):
        before = mapping.w_avg.clone()
        w = forward(*args, **kw)
        updates.append(not torch.equal(before, mapping.w_avg))
        return w

    mapping.forward = spied
    stage = model.stages(cfg)[0]
    ctx = _context(model, cfg, modules, 0, _disc_reals(4), torch.Generator().manual_seed(0))
    moved = {}
    for phase in stage.phases:
        updates.clear()
        phase.loss(ctx)
        moved[phase.name] = sum(updates)
    assert moved == {"generator": 0, "density": 0, "discriminator": 1, "r1": 0}


def test_fakes_are_conditioned_on_their_cameras_labels_swapped_by_gpc_with_the_steps_rng(monkeypatch):
    from zoo3d_triplane.model import render_fakes
    from zoo3d_triplane.regularizers import blur_sigma, swap_probability

    cfg = _config(GPC)
    model = TriplaneModel()
    modules = model.build(cfg)
    calls, represented = _recording(monkeypatch, modules)
    ctx = _context(model, cfg, modules, 5, None, torch.Generator().manual_seed(0))
    sample = render_fakes(ctx, 2, loss=cfg.loss, fade=None)
    ((c, swap, rng),) = calls
    assert swap == swap_probability(5, 0.5, 10) == 0.75 and rng is ctx.rng
    torch.testing.assert_close(c, sample.cameras.to_eg3d(), rtol=0, atol=0)
    torch.testing.assert_close(sample.inputs["c"], c, rtol=0, atol=0)  # D sees the unswapped labels, as EG3D
    torch.testing.assert_close(represented[0], c.flip(0) * 0.5 + 1.0, rtol=0, atol=0)
    assert sample.logs == {"swap_prob": 0.75, "blur_sigma": blur_sigma(5, 4.0, 10)} and sample.logs["blur_sigma"] == 2.0
    # the render is handed on for the generator's own terms, and D's raw half is its neural render
    assert sample.output is not None and sample.output.rgb is sample.images
    assert sample.inputs["raw"] is sample.output.raw.rgb and sample.inputs["raw"].shape[-1] == 8


def test_the_density_step_conditions_its_scenes_likewise_and_samples_points_with_the_steps_rng(monkeypatch):
    import zoo3d_triplane.model as recipe

    cfg = _config(GPC)
    model = TriplaneModel()
    modules = model.build(cfg)
    calls, represented = _recording(monkeypatch, modules)
    rngs = []
    regularise = recipe.density_regularization

    def recorded(scene, points, perturb, rng):
        rngs.append(rng)
        return regularise(scene, points, perturb, rng)

    monkeypatch.setattr(recipe, "density_regularization", recorded)
    ctx = _context(model, cfg, modules, 5, None, torch.Generator().manual_seed(0))
    recipe.density_step(ctx, loss=cfg.loss, fade=None)
    ((c, swap, rng),) = calls
    assert swap == 0.75 and rng is ctx.rng and rngs == [ctx.rng]
    assert c.shape == (ctx.stage.batch_size, 25)
    torch.testing.assert_close(represented[0], c.flip(0) * 0.5 + 1.0, rtol=0, atol=0)


def test_the_density_penalty_is_reproducible_from_the_steps_rng_alone():
    from zoo3d_triplane.model import density_step

    cfg = _config()
    model = TriplaneModel()
    modules = model.build(cfg)

    def penalty(global_seed):
        torch.manual_seed(global_seed)
        ctx = _context(model, cfg, modules, 5, None, torch.Generator().manual_seed(0))
        return density_step(ctx, loss=cfg.loss, fade=None).logs["density_tv"]

    assert penalty(1).item() == penalty(2).item()


def test_reals_carry_their_cameras_and_labels_and_d_sees_the_images_blurred_by_the_steps_sigma():
    from zoo3d_triplane.model import real_dual_sample, score_dual

    cfg = _config(GPC)
    model = TriplaneModel()
    modules = model.build(cfg)
    D = modules["discriminator"].eval()
    real = _disc_reals()
    ctx = _context(model, cfg, modules, 5, real, torch.Generator().manual_seed(0))
    sample = real_dual_sample(ctx, True, loss=cfg.loss, fade=None)
    assert sample.cameras is real.cameras and sample.images.requires_grad and sample.inputs["raw"].requires_grad
    torch.testing.assert_close(sample.inputs["c"], real.cameras.to_eg3d(), rtol=0, atol=0)
    with torch.no_grad():
        scored = score_dual(ctx, sample, loss=cfg.loss).logit
        blurred = D(sample.images, raw=sample.inputs["raw"], c=sample.inputs["c"], blur_sigma=2.0).logit
        sharp = D(sample.images, raw=sample.inputs["raw"], c=sample.inputs["c"]).logit
    torch.testing.assert_close(scored, blurred, rtol=0, atol=0)
    assert not torch.allclose(scored, sharp)


def test_the_reals_raw_half_is_blurred_by_the_steps_sigma_at_the_neural_resolution_as_eg3ds_blur_raw_target():
    from zoo3d.nn.resize import resize
    from zoo3d_triplane.discriminator import blur_images
    from zoo3d_triplane.model import real_dual_sample
    from zoo3d_triplane.regularizers import blur_sigma

    cfg = _config(GPC)
    model = TriplaneModel()
    modules = model.build(cfg)
    real = _disc_reals()
    small = resize(real.images, modules["discriminator"].raw_resolution)
    for step in (5, cfg.loss.blur_fade_steps):
        sigma = blur_sigma(step, cfg.loss.blur_sigma, cfg.loss.blur_fade_steps)
        ctx = _context(model, cfg, modules, step, real, torch.Generator().manual_seed(0))
        raw = real_dual_sample(ctx, False, loss=cfg.loss, fade=None).inputs["raw"]
        torch.testing.assert_close(raw, blur_images(small, sigma), rtol=0, atol=0)
        assert torch.equal(raw, small) == (sigma == 0)


@pytest.mark.parametrize("real", [None, RealBatch(images=torch.zeros(2, 3, 16, 16))], ids=["no reals", "no poses"])
def test_reals_without_poses_stop_with_a_message_that_says_what_data_to_use(real):
    from zoo3d.errors import UserError
    from zoo3d_triplane.model import real_dual_sample

    cfg = _config()
    model = TriplaneModel()
    ctx = _context(model, cfg, model.build(cfg), 0, real, torch.Generator().manual_seed(0))
    with pytest.raises(UserError) as err:
        real_dual_sample(ctx, False, loss=cfg.loss, fade=None)
    assert str(err.value) == ("The tri-plane model needs camera poses for its real images (EG3D's D is camera-"
                              "conditioned); use data with poses (dataset.json, GRAM poses/ or poses.json).")


def test_build_makes_the_configured_generator_camera_prior_and_discriminator():
    """The modules compute what modules made directly from the config compute: the same parameter shapes, and
    with the same weights the same logits (the minibatch-stddev group changes them, not the shapes)."""
    from zoo3d_triplane.discriminator import DualDiscriminator

    cfg = _config(["camera.radius=1.1", "camera.yaw_std=0.2", "discriminator.channel_base=128",
                   "discriminator.channel_max=24", "discriminator.mbstd_group_size=2", "discriminator.c_noise=0.5"])
    modules = TriplaneModel().build(cfg)
    assert modules["generator"].camera_prior == cfg.camera
    direct = DualDiscriminator(16, 8, channel_base=128, channel_max=24, mapping_layers=2, mbstd_group_size=2,
                               c_noise=0.5)
    built = modules["discriminator"]
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in direct.state_dict().items()}
    assert built.c_noise == 0.5
    direct.load_state_dict(built.state_dict())
    default_group = DualDiscriminator(16, 8, channel_base=128, channel_max=24, mapping_layers=2, c_noise=0.5)
    default_group.load_state_dict(built.state_dict())
    images = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    cams = CameraPrior().sample(4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = built.eval()(images, cams).logit
        torch.testing.assert_close(out, direct.eval()(images, cams).logit, rtol=0, atol=0)
        assert not torch.allclose(out, default_group.eval()(images, cams).logit)


def test_a_finetune_stage_of_one_step_is_still_a_stage():
    stages = TriplaneModel().stages(_config(["stages.finetune.steps=1"]))
    assert [(s.name, s.steps) for s in stages] == [("gan", stages[0].steps), ("finetune", 1)]
