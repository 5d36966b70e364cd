"""pi-GAN: hierarchical sampling, truncation, schedules, progressive discriminator, recipe and CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo3d.config import load_run_config
from zoo3d.core.model import RealBatch, StepContext
from zoo3d.core.representation import Radiance
from zoo3d.errors import ConfigError
from zoo3d.train.losses import topk_fraction, topk_generator_loss
import zoo3d_pigan
from zoo3d_pigan.config import PiGanConfig
from zoo3d_pigan.model import PiGanModel, density_noise_std

PRESETS = Path(zoo3d_pigan.__file__).parent / "presets"  # found the same in a checkout and in an installed package

#: a curriculum stage at resolution r: the CelebA learning rates and clipping
STAGE = ("{{name: res{r}, resolution: {r}, steps: {steps}, batch_size: 2, "
         "lr: {{generator: 6.0e-5, discriminator: 2.0e-4}}, grad_clip: 10.0}}")
MICRO = ["generator.z_dim=16", "generator.mapping_hidden=16", "generator.depth=2", "generator.width=16",
         "generator.rendering.num_steps=6",
         f"stages=[{STAGE.format(r=8, steps=10)}, {STAGE.format(r=16, steps=10)}]",
         "discriminator.fade_steps=4", "discriminator.channel_scale=0.03", "train.sample_seeds=[0,1]"]


def _config(extra=(), preset="tiny") -> PiGanConfig:
    return load_run_config(PiGanConfig, "pigan", PRESETS, preset, overrides=MICRO + list(extra))


class Slab:
    """Opaque slab |z| < 0.025 (raw density 1e4 inside, -1e4 outside), thicker than a coarse bin."""

    kind = "density"
    bounds = 0.12

    def query(self, points, dirs):
        inside = points[..., 2:3].abs() < 0.025
        sigma = torch.where(inside, torch.tensor(1e4), torch.tensor(-1e4))
        return Radiance(rgb=torch.ones_like(points) * inside, sigma=sigma)


def test_hierarchical_sampling_puts_the_fine_samples_where_the_coarse_weights_are():
    from zoo3d.render.samples import section_edges

    cfg = _config()
    gen = PiGanModel().build(cfg)["generator"].eval()
    renderer = gen.renderer
    S, near, far = cfg.generator.rendering.num_steps, cfg.generator.rendering.near, cfg.generator.rendering.far
    assert renderer.num_samples == S and renderer.num_importance == S and renderer.density_activation == "relu"
    cams = gen.camera_prior.frontal(1)
    renderer.num_importance = 0
    coarse = renderer.render(Slab(), cams, (4, 4))
    t_coarse = coarse.extras["t"][0].reshape(S, -1).T               # (rays, S)
    w_coarse = coarse.weights[0].reshape(S, -1).T
    hit = w_coarse.argmax(-1, keepdim=True)
    assert (w_coarse.gather(-1, hit) > 0.99).all()                  # one coarse section holds the weight
    edges = section_edges(t_coarse, near, far)
    lo, hi = edges.gather(-1, hit), edges.gather(-1, hit + 1)
    renderer.num_importance = S
    t_all = renderer.render(Slab(), cams, (4, 4)).extras["t"][0].reshape(2 * S, -1).T  # (rays, 2S)
    in_section = ((t_all >= lo) & (t_all <= hi)).sum(-1)
    assert (in_section >= S).all()                                  # the coarse sample and nearly every fine one
    assert (((t_coarse >= lo) & (t_coarse <= hi)).sum(-1) == 1).all()


def test_truncation_psi_zero_gives_the_average_instance():
    gen = PiGanModel().build(_config())["generator"].eval()
    z = torch.randn(2, 16)
    a = gen.represent(z, psi=0.0)
    torch.testing.assert_close(a.freq[0], a.freq[1])
    b = gen.represent(z, psi=1.0)
    assert not torch.allclose(b.freq[0], b.freq[1])


def test_density_noise_follows_the_schedule_and_only_while_training():
    assert density_noise_std(0, 5000) == 1.0 and density_noise_std(2500, 5000) == 0.5
    assert density_noise_std(6000, 5000) == 0.0
    # nerf_noise_steps = 1 decays within one step; 0 switches the noise off
    assert density_noise_std(0, 1) == 1.0 and density_noise_std(1, 1) == 0.0
    assert density_noise_std(0, 0) == 0.0 and density_noise_std(5, 0) == 0.0
    torch.manual_seed(0)
    gen = PiGanModel().build(_config())["generator"]
    g = torch.Generator().manual_seed(1)
    z = torch.randn(1, 16, generator=g)
    p = (torch.rand(1, 64, 3, generator=g) * 2 - 1) * 0.1
    d = torch.nn.functional.normalize(torch.randn(1, 64, 3, generator=g), dim=-1)
    gen.train()
    gen.density_noise = 0.0
    clean = gen.represent(z).query(p, d).sigma
    gen.density_noise = 1.0
    noisy = gen.represent(z)
    assert noisy.density_noise == 1.0  # the renderer's N(0, 1) at each integration (test_pigan_density_noise_draws.py)
    gen.eval()  # density_noise is still 1.0: eval mode alone must switch it off
    rep = gen.represent(z)
    assert rep.density_noise == 0.0
    torch.testing.assert_close(rep.query(p, d).sigma, clean, rtol=0, atol=0)


def test_the_eval_path_renders_the_same_image_whatever_the_process_rng():
    """In eval mode neither density noise nor stratified jitter is drawn: a seed renders one image."""
    from zoo3d.cameras import Camera

    torch.manual_seed(0)
    gen = PiGanModel().build(_config())["generator"]
    gen.density_noise = 1.0
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(2))
    cams = Camera.from_angles([0.0, 0.3], [0.0, -0.1])
    renders = {}
    for mode in ("train", "eval"):
        getattr(gen, mode)()
        with torch.no_grad():
            torch.manual_seed(10)
            first = gen(z, cams).rgb
            torch.manual_seed(11)
            second = gen(z, cams).rgb
        renders[mode] = (first, second)
    assert not torch.allclose(*renders["train"], atol=1e-3)  # training renders are random: the check has teeth
    assert torch.equal(*renders["eval"])


def test_topk_schedule_and_loss_use_the_most_realistic_fakes():
    assert topk_fraction(0, 2000, 0.6) == 1.0
    assert topk_fraction(2000, 2000, 0.6) == pytest.approx(0.99)
    assert topk_fraction(10 ** 7, 2000, 0.6) == 0.6
    logits = torch.tensor([[3.0], [-5.0], [1.0], [-2.0]])
    expected = torch.nn.functional.softplus(-torch.tensor([3.0, 1.0])).mean()
    torch.testing.assert_close(topk_generator_loss(logits, 0.5), expected)


def test_topk_is_taken_within_each_group_as_upstream_takes_it_within_each_batch_split():
    # pi-GAN's train.py takes the top k of each sub-batch and sums the sub-batches' gradients: a group of high
    # logits cannot crowd out the other group, as one top-k over the whole batch lets it
    logits = torch.tensor([4.0, 3.0, 2.0, 1.0, -1.0, -2.0, -3.0, -4.0]).reshape(-1, 1)
    sp = torch.nn.functional.softplus
    whole = sp(-torch.tensor([4.0, 3.0, 2.0, 1.0])).mean()
    torch.testing.assert_close(topk_generator_loss(logits, 0.5), whole)
    per_group = (sp(-torch.tensor([4.0, 3.0])).mean() + sp(-torch.tensor([-1.0, -2.0])).mean()) / 2
    torch.testing.assert_close(topk_generator_loss(logits, 0.5, group=4), per_group)
    # an uneven last group (8 = 3 + 3 + 2) weighs by its share, as a smaller micro-batch does in the engine
    uneven = (3 * sp(-torch.tensor([4.0, 3.0])).mean() + 3 * sp(-torch.tensor([1.0, -1.0])).mean()
              + 2 * sp(-torch.tensor([-3.0])).mean()) / 8
    torch.testing.assert_close(topk_generator_loss(logits, 0.5, group=3), uneven)
    # a group as large as the batch, or larger, is the whole batch
    torch.testing.assert_close(topk_generator_loss(logits, 0.5, group=8), whole)
    torch.testing.assert_close(topk_generator_loss(logits, 0.5, group=28), whole)


def test_the_presets_take_topk_per_upstream_split_and_the_generator_phase_uses_it():
    # curriculums.py: CelebA 56 images in 2 splits, Cats 28 in 4
    groups = {p: load_run_config(PiGanConfig, "pigan", PRESETS, p).loss.topk_group for p in ("celeba", "cats")}
    assert groups == {"celeba": 28, "cats": 7}
    assert PiGanConfig().loss.topk_group == 28
    cfg = _config(["loss.topk_group=1", "loss.topk_min=0.5"])
    plugin = PiGanModel()
    modules = plugin.build(cfg)
    stage = plugin.stages(cfg)[0]
    generator = next(p for p in stage.phases if p.name == "generator")
    assert generator.loss.keywords["loss"].topk_group == 1
    # groups of one fake keep every fake whatever the fraction: the loss is the plain non-saturating one
    torch.manual_seed(0)
    result = generator.loss(_ctx(cfg, modules, stage, step=10 ** 7))
    assert result.logs["topk"] == 0.5
    torch.manual_seed(0)
    everything = next(p for p in plugin.stages(_config(["loss.topk_min=1.0"]))[0].phases if p.name == "generator")
    torch.testing.assert_close(result.logs["g_adv"], everything.loss(_ctx(cfg, modules, stage, step=10 ** 7)).logs["g_adv"])
    # a run stored before the key existed took the top k over its whole batch, and keeps doing so
    stored = PiGanConfig().model_dump()
    del stored["loss"]["topk_group"]
    assert PiGanConfig.model_validate(PiGanConfig.upgrade_stored(stored)).loss.topk_group is None


def test_progressive_discriminator_fades_in_the_new_resolution():
    cfg = _config()
    plugin = PiGanModel()
    modules = plugin.build(cfg)
    stages = plugin.stages(cfg)
    assert [s.resolution for s in stages] == [8, 16]
    seen = []
    disc = modules["discriminator"]
    original = disc.forward
    disc.forward = lambda images, cameras=None, alpha=1.0: seen.append(alpha) or original(images, alpha=alpha)
    for stage, stage_step in [(stages[0], 0), (stages[1], 1), (stages[1], 8)]:
        ctx = StepContext(modules=modules, config=cfg, stage=stage, step=0, stage_step=stage_step,
                          device=torch.device("cpu"), real=RealBatch(torch.zeros(2, 3, stage.resolution,
                                                                                 stage.resolution)),
                          rng=torch.Generator().manual_seed(0))
        stage.phases[1].loss(ctx)
    assert seen == [1.0, 0.25, 1.0]
    with pytest.raises(ConfigError, match=r"stages change resolution \(\[8, 16\]\): set "
                                          r"discriminator.progressive=true"):
        _config(["discriminator.progressive=false"])


def test_celeba_preset_is_upstreams_curriculum():
    cfg = load_run_config(PiGanConfig, "pigan", PRESETS, "celeba")
    (stage,) = PiGanModel().stages(cfg)
    assert (stage.resolution, stage.batch_size) == (64, 56)
    assert stage.optimizers["generator"].lr == 6e-5 and stage.optimizers["discriminator"].lr == 2e-4
    # upstream clips both at 10, the generator's gradient summed over batch_split 2 (train.py)
    assert stage.optimizers["generator"].grad_clip == 5.0 and stage.optimizers["discriminator"].grad_clip == 10.0
    r = cfg.generator.rendering
    assert (r.num_steps, r.hierarchical, r.near, r.far, r.density_activation) == (12, True, 0.88, 1.12, "relu")
    assert cfg.camera.yaw_std == 0.3 and cfg.camera.pitch_std == 0.155 and cfg.camera.fov == 12.0


def test_each_stage_is_named_after_its_resolution():
    with pytest.raises(ConfigError, match=r"stages.0.name: a pi-GAN stage is named after its resolution: 'res8' "
                                          r"\(got 'res16'\)"):
        _config([f"stages=[{STAGE.format(r=8, steps=1).replace('name: res8', 'name: res16')}]"])
    with pytest.raises(ConfigError, match="stages.res8.resolution: every pi-GAN stage trains at a resolution"):
        _config([f"stages=[{STAGE.format(r=8, steps=1).replace('resolution: 8, ', '')}]"])
    with pytest.raises(ConfigError, match=r"stages.res8.lr: give a learning rate for each of \['generator', "
                                          r"'discriminator'\] \(got \['generator'\]\)"):
        _config(["stages.res8.lr={generator: 1.0e-4}"])
    cfg = _config(["stages.res16.steps=3", "stages.res16.lr.generator=1.0e-3", "stages.res16.loss.r1_gamma=5"])
    res8, res16 = PiGanModel().stages(cfg)
    assert (res8.steps, res16.steps) == (10, 3) and res16.optimizers["generator"].lr == 1e-3
    assert cfg.stage_loss("res16").r1_gamma == 5 and cfg.stage_loss("res8").r1_gamma == cfg.loss.r1_gamma == 1.0


def test_a_stored_config_of_the_old_shape_upgrades_to_the_same_config_in_the_new_one():
    """The format-1 pi-GAN run's stored config (everything under ``pigan``), upgraded, equals the config of the
    same run made today (tools/make_format1_runs.py's overrides, key by key in the new shape)."""
    import yaml

    from conftest import FIXTURES

    stored = yaml.safe_load((FIXTURES / "format1" / "pigan" / "run" / "config.yaml").read_text())
    assert "pigan" in stored and "stages" not in stored
    upgraded = PiGanConfig.model_validate(PiGanConfig.upgrade_stored(stored))
    stage = "lr: {generator: 6.0e-5, discriminator: 2.0e-4}, betas: [0.0, 0.9], grad_clip: 10.0"
    today = load_run_config(PiGanConfig, "pigan", PRESETS, "tiny", overrides=[
        "data.spec=synthetic:heads?count=4", "train.sample_every=0", "train.keep_checkpoints=50", "train.log_every=1",
        "train.sample_seeds=[0]", "train.checkpoint_every=1", "train.sample_truncation=0.7",  # the preset's then
        "generator.z_dim=8", "generator.mapping_hidden=8",
        "generator.depth=2", "generator.width=8", "generator.rendering.num_steps=4",
        "generator.rendering.nerf_noise_steps=6",
        "loss.r1_gamma=0.2",  # the tiny preset of then kept the upstream R1 weight
        "generator.rendering.eval_last_back=false",  # and the defaults of then (stored runs keep them)
        "loss.topk_group=null",
        f"stages=[{{name: res8, resolution: 8, steps: 2, batch_size: 2, {stage}}}, "
        f"{{name: res16, resolution: 16, steps: 3, batch_size: 2, {stage}}}]",
        "discriminator.progressive=true", "discriminator.fade_steps=2", "discriminator.channel_scale=0.004"])

    def flat(node, prefix=""):
        if isinstance(node, dict):
            return {k: v for key, sub in node.items() for k, v in flat(sub, f"{prefix}{key}.").items()}
        if isinstance(node, list) and node and isinstance(node[0], dict):
            return {k: v for i, sub in enumerate(node) for k, v in flat(sub, f"{prefix}{i}.").items()}
        return {prefix[:-1]: node}

    got, want = flat(upgraded.model_dump(mode="json")), flat(today.model_dump(mode="json"))
    assert sorted(got) == sorted(want)
    assert {k: (got[k], want[k]) for k in got if got[k] != want[k]} == {}
    assert upgraded.loss.r1_gamma == 0.2 and upgraded.loss.lambda_pos == 15.0 and upgraded.stages[1].name == "res16"
    # a key the old shape never had is not dropped: validation names it
    stored["pigan"]["training"]["bogus"] = 1
    with pytest.raises(Exception, match="pigan"):
        PiGanConfig.model_validate(PiGanConfig.upgrade_stored(stored))


def test_discriminator_and_generator_phases_move_their_losses():
    torch.manual_seed(0)
    cfg = _config()
    plugin = PiGanModel()
    modules = plugin.build(cfg)
    stage = plugin.stages(cfg)[0]
    real = RealBatch(images=torch.rand(2, 3, 8, 8) * 2 - 1)
    opts = {"discriminator": torch.optim.Adam(modules["discriminator"].parameters(), lr=5e-4, betas=(0.0, 0.9)),
            "generator": torch.optim.Adam(modules["generator"].parameters(), lr=1e-3, betas=(0.0, 0.9))}

    def run(index, steps):
        phase, out = stage.phases[index], []
        for _ in range(steps):
            torch.manual_seed(1)  # same density noise and jitter every step: only the weights change
            ctx = StepContext(modules=modules, config=cfg, stage=stage, step=10 ** 6, stage_step=0, real=real,
                              device=torch.device("cpu"), rng=torch.Generator().manual_seed(1))
            result = phase.loss(ctx)
            opts[phase.optimizer].zero_grad()
            result.loss.backward()
            opts[phase.optimizer].step()
            out.append(result)
        return out

    d = run(0, 3)
    assert d[-1].loss.item() < d[0].loss.item() and {"d_adv", "d_pose", "r1"} <= set(d[0].logs)
    g = run(1, 3)
    assert g[-1].loss.item() < g[0].loss.item() and {"g_adv", "g_pose", "topk"} <= set(g[0].logs)


def test_tiny_train_sample_render_through_the_cli(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from zoo3d.cli.main import cli
    from zoo3d.plugins import get_dataset_spec

    try:
        get_dataset_spec("synthetic:heads")
    except Exception:
        pytest.skip("the synthetic:heads dataset is not registered in this checkout")
    run = tmp_path / "run"
    args = ["train", "pi-gan", "--preset", "tiny", "--steps", "3", "--out", str(run), "--quiet", "--device", "cpu"]
    for s in MICRO:
        args += ["--set", s]
    runner = CliRunner()
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [__import__("json").loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in records} == {"res8", "res16"} and all(math.isfinite(r["loss.generator"])
                                                                     for r in records)
    grid = tmp_path / "grid.png"
    result = runner.invoke(cli, ["sample", str(run), "--seeds", "0-1", "--out", str(grid), "--device", "cpu"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert 16 <= Image.open(grid).size[1] < 32  # one row at the final curriculum resolution (plus padding)
    gif = tmp_path / "t.gif"
    result = runner.invoke(cli, ["render", str(run), "--seed", "0", "--frames", "3", "--out", str(gif),
                                 "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert getattr(Image.open(gif), "n_frames", 1) == 3


# ---------------------------------------------------------------- the recipe's wiring

def _ctx(cfg, modules, stage, step=0, stage_step=0, real=None):
    return StepContext(modules=modules, config=cfg, stage=stage, step=step, stage_step=stage_step, real=real,
                       device=torch.device("cpu"), rng=torch.Generator().manual_seed(0))


def _same_module(built, direct, images):
    """Same class and parameter shapes, and with the same weights the same logits and poses."""
    assert type(built) is type(direct)
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in direct.state_dict().items()}
    direct.load_state_dict(built.state_dict())
    with torch.no_grad():
        a, b = built.eval()(images), direct.eval()(images)
    torch.testing.assert_close(a.logit, b.logit, rtol=0, atol=0)
    torch.testing.assert_close(a.pose, b.pose, rtol=0, atol=0)
    return a


@pytest.mark.parametrize("progressive", [True, False], ids=["progressive", "one resolution"])
def test_build_makes_the_configured_discriminator(progressive):
    """Non-default widths and minibatch-stddev group: the built D is the one the config describes."""
    from zoo3d.nn.discriminators import CoordConvDiscriminator
    from zoo3d_pigan.discriminator import ProgressiveCoordConvDiscriminator

    widths = ["discriminator.max_channels=24", "discriminator.channel_scale=0.01", "discriminator.mbstd_group=2"]
    if progressive:
        cfg = _config(widths)
        direct = ProgressiveCoordConvDiscriminator(16, max_channels=24, pose_dim=2, channel_scale=0.01, mbstd_group=2)
    else:
        cfg = _config(widths + [f"stages=[{STAGE.format(r=16, steps=10)}]", "discriminator.progressive=false"])
        direct = CoordConvDiscriminator(16, max_channels=24, pose_dim=2, channel_scale=0.01, mbstd_group=2)
    built = PiGanModel().build(cfg)["discriminator"]
    images = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = _same_module(built, direct, images)
    assert out.pose.shape == (4, 2) and built.mbstd_group == 2
    # the stddev map is one more input channel of the final conv than D without it has
    plain = type(direct)(16, max_channels=24, pose_dim=2, channel_scale=0.01)
    assert built.final.weight.shape[1] == plain.final.weight.shape[1] + 1


def test_fakes_are_rendered_at_their_stages_resolution_and_scored_by_a_one_resolution_d():
    cfg = _config()
    plugin = PiGanModel()
    modules = plugin.build(cfg)
    for stage in plugin.stages(cfg):
        fakes = next(p for p in stage.phases if p.name == "generator").loss.keywords["parts"].fakes
        with torch.no_grad():
            sample = fakes(_ctx(cfg, modules, stage), 2)
        assert sample.images.shape == (2, 3, stage.resolution, stage.resolution) and sample.cameras is not None
    one = _config([f"stages=[{STAGE.format(r=16, steps=10)}]", "discriminator.progressive=false"])
    modules = plugin.build(one)
    (stage,) = plugin.stages(one)
    parts = stage.phases[0].loss.keywords["parts"]
    ctx = _ctx(one, modules, stage)
    with torch.no_grad():
        sample = parts.fakes(ctx, 2)
        scored = parts.discriminate(ctx, sample)
        direct = modules["discriminator"](sample.images)
    torch.testing.assert_close(scored.logit, direct.logit, rtol=0, atol=0)


def test_a_one_step_fade_starts_the_new_resolution_at_alpha_zero():
    cfg = _config(["discriminator.fade_steps=1"])
    plugin = PiGanModel()
    modules = plugin.build(cfg)
    stage = plugin.stages(cfg)[1]
    parts = stage.phases[0].loss.keywords["parts"]
    disc, seen = modules["discriminator"], []
    original = disc.forward
    disc.forward = lambda images, cameras=None, alpha=1.0: seen.append(alpha) or original(images, alpha=alpha)
    for stage_step in (0, 1):
        ctx = _ctx(cfg, modules, stage, stage_step=stage_step)
        with torch.no_grad():
            parts.discriminate(ctx, parts.fakes(ctx, 2))
    assert seen == [0.0, 1.0]


def test_the_generator_loss_keeps_the_configured_topk_floor():
    """Late in training the top-k fraction is ``loss.topk_min`` (0.8 here, not the preset's 0.6)."""
    cfg = _config(["loss.topk_min=0.8"])
    plugin = PiGanModel()
    modules = plugin.build(cfg)
    stage = plugin.stages(cfg)[0]
    generator = next(p for p in stage.phases if p.name == "generator")
    result = generator.loss(_ctx(cfg, modules, stage, step=10 ** 7))
    assert result.logs["topk"] == 0.8


def test_a_lazy_r1_gets_its_own_phase_and_the_stylegan2_correction():
    cfg = _config(["loss.r1_every=4"])
    stage = PiGanModel().stages(cfg)[0]
    assert [(p.name, p.every) for p in stage.phases] == [("discriminator", 1), ("r1", 4), ("generator", 1)]
    c = 4 / 5
    assert stage.optimizers["discriminator"].lr == pytest.approx(2e-4 * c, rel=1e-12)
    assert tuple(stage.optimizers["discriminator"].betas) == pytest.approx((0.0, 0.9 ** c), rel=1e-12)
    assert stage.optimizers["generator"].lr == 6e-5


def test_the_config_defaults_are_the_celeba_curriculum_as_its_docstring_says():
    # eval_last_back defaulted to False while curriculums.py's CelebA (and Cats) set it: a run without a
    # preset, and the tiny "CelebA recipe", rendered transparent rays black at inference
    from zoo3d_pigan.config import PiGanGeneratorConfig, PiGanLossConfig

    celeba = load_run_config(PiGanConfig, "pigan", PRESETS, "celeba")
    assert PiGanGeneratorConfig().model_dump() == celeba.generator.model_dump()
    assert PiGanLossConfig().model_dump() == celeba.loss.model_dump()
    assert _config().generator.rendering.eval_last_back


def test_carla_renders_without_last_back_as_its_curriculum_and_old_runs_keep_what_they_rendered():
    # the CelebA default reached CARLA, whose curriculum has no eval_last_back: the last sample's colour plus
    # the white background put its empty pixels above 1
    assert not load_run_config(PiGanConfig, "pigan", PRESETS, "carla").generator.rendering.eval_last_back
    assert load_run_config(PiGanConfig, "pigan", PRESETS, "cats").generator.rendering.eval_last_back
    stored = PiGanConfig().model_dump()
    del stored["generator"]["rendering"]["eval_last_back"]  # stored before the key existed: it never filled
    assert not PiGanConfig.model_validate(PiGanConfig.upgrade_stored(stored)).generator.rendering.eval_last_back


@pytest.mark.parametrize("preset, flips", [("celeba", True), ("cats", True), ("carla", False)])
def test_the_presets_mirror_their_data_as_the_authors_datasets_flip(preset, flips):
    """pi-GAN's CelebA and Cats datasets end in a RandomHorizontalFlip; its Carla dataset has none."""
    assert load_run_config(PiGanConfig, "pigan", PRESETS, preset).data.mirror is flips


def test_the_carla_curriculum_keeps_its_optimisers_through_the_resolutions():
    """pi-GAN builds its Adams once and only sets their rates per resolution (train.py)."""
    stages = PiGanModel().stages(load_run_config(PiGanConfig, "pigan", PRESETS, "carla"))
    assert [s.keep_optimizer_state for s in stages] == [False, True, True]
    tiny = PiGanModel().stages(load_run_config(PiGanConfig, "pigan", PRESETS, "tiny"))
    assert not any(s.keep_optimizer_state for s in tiny)

