"""GRAMInverter's three-stage recipe as its plugin and docs/ describe it, with closed-form stand-ins.

1. Efficient GRAM: GRAM's D and G losses (softplus, R1, pose MSE of fakes and reals) with the stage's weights,
   reals area-resized to the generator's side; a camera-conditioned D needs posed reals. EMA on.
2. Encoder: starts by putting the EMA weights into the generator (what sampling showed), which stays frozen;
   trains E_w with the encoder stage's weights.
3. Detail: trains the detail reconstructor with the detail stage's weights; E_w frozen.
The stand-ins are those of the GRAM and GRAMInverter loss tests (``gan_stubs``; ``test_gram_inverter_losses``:
a plane renderer, a linear encoder and detail branch), whose losses are recomputed there by hand; the stage
weights are set apart from the run's and from each other's so that a stage reading another's shows.
"""

from __future__ import annotations

import pytest
import torch
from gan_stubs import ConstantGenerator, LinearD, area_half, fakes, real_batch, sampled_pose, softplus

from zoo3d.config import load_run_config
from zoo3d.core.model import StepContext
from zoo3d.errors import UserError
from zoo3d.plugins import get_model_spec
from zoo3d.train.losses import pose_target
from zoo3d_gram_inverter.config import DETAIL, EFFICIENT_GRAM, ENCODER, GramInverterConfig
from zoo3d_gram_inverter.model import GramInverterModel

import test_gram_inverter_losses as stubs
from test_gram_inverter_losses import fake_perceptual  # noqa: F401 (a fixture)

SPEC = get_model_spec("gram_inverter")
B = 2
# the stand-ins' sizes (test_gram_inverter_losses' config()) and weights of each stage apart from the run's
STAND_IN = ["generator.resolution=8", "generator.texture_resolution=8", "generator.render.near=0.6",
            "generator.render.far=1.6", "detail.lr_resolution=5", "loss.perceptual=ms-ssim",
            "stages.gram_inverter.efficient_gram.batch_size=2",
            "stages.gram_inverter.efficient_gram.loss={r1_gamma: 0.7, lambda_pos: 2.0, lambda_realpos: 0.4}",
            "stages.gram_inverter.encoder.loss={rec_l1: 0.5, rec_perceptual: 0.25, latent: 2.0, pose: 0.75}",
            "stages.gram_inverter.detail.loss={rec_l1: 1.5, rec_perceptual: 0.5, novel_view: 0.3, depth: 0.2}"]


def _config(*extra: str) -> GramInverterConfig:
    return load_run_config(GramInverterConfig, SPEC.name, SPEC.presets_dir, "tiny", None, STAND_IN + list(extra))


def _ctx(modules, stage, real, seed=5):
    return StepContext(modules=modules, config=None, stage=stage, step=0, stage_step=0, real=real,
                       device=torch.device("cpu"), rng=torch.Generator().manual_seed(seed))


def _gan_stage(*extra):
    cfg = _config(*extra)
    return GramInverterModel().stages(cfg)[0]


@pytest.mark.parametrize("conditioned", [False, True])
def test_efficient_gram_is_grams_loss_with_the_stages_weights_on_posed_reals_for_a_conditioned_d(conditioned):
    stage = _gan_stage(*(["discriminator.architecture=stylegan2", "discriminator.conditioned=true"] if conditioned
                         else ["discriminator.architecture=gram"]))
    gen, disc = ConstantGenerator(0.8), LinearD(8)
    modules = {"generator": gen, "discriminator": disc}
    d_phase, g_phase = (next(p for p in stage.phases if p.name == n) for n in ("discriminator", "generator"))
    real = real_batch(B, 16)  # area-resized to the generator's side
    out = d_phase.loss(_ctx(modules, stage, real))
    with torch.no_grad():
        x_real, x_fake = area_half(real.images), fakes(gen, B, 8)
        adv = softplus(disc.logit(x_fake)).mean() + softplus(-disc.logit(x_real)).mean()
        pose_fake = (disc.pose(x_fake) - sampled_pose(B)).pow(2).mean()
        pose_real = (disc.pose(x_real) - pose_target(real.cameras)).pow(2).mean()
    expected = adv + 0.5 * 0.7 * disc.w.detach().pow(2).sum() + 2.0 * pose_fake + 0.4 * pose_real
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-5, rtol=1e-5)
    g = g_phase.loss(_ctx(modules, stage, real))
    expected_g = softplus(-disc.logit(x_fake)).mean() + 2.0 * (disc.pose(x_fake) - sampled_pose(B)).pow(2).mean()
    torch.testing.assert_close(g.loss, expected_g, atol=1e-5, rtol=1e-5)
    # a camera-conditioned D scores each real with its camera: reals without poses are refused, GRAM's D takes them
    unposed = real_batch(B, 16, cameras=False)
    if conditioned:
        with pytest.raises(UserError, match="efficient-GRAM stage needs camera poses .*camera-conditioned"):
            d_phase.loss(_ctx(modules, stage, unposed))
    else:
        out = d_phase.loss(_ctx(modules, stage, unposed))
        assert "d_pose_real" not in out.logs and "d_pose" in out.logs


def test_the_encoder_stage_trains_e_w_with_the_encoder_stages_weights(fake_perceptual):  # noqa: F811
    cfg = _config()
    stage = GramInverterModel().stages(cfg)[1]
    assert [(p.name, p.optimizer) for p in stage.phases] == [("encoder", "encoder")]
    mods, batch = stubs.modules(), stubs.real()
    result = stage.phases[0].loss(_ctx(mods, stage, batch))
    weights = cfg.stage_loss(ENCODER)
    assert (weights.rec_l1, weights.rec_perceptual, weights.latent, weights.pose) == (0.5, 0.25, 2.0, 0.75)
    loss, logs = stubs.expected_encoder(mods, batch, weights)
    stubs.assert_matches_recomputation(result, loss, logs, mods)
    assert fake_perceptual == [("cpu", "ms-ssim")]


def test_the_detail_stage_trains_the_detail_branch_with_the_detail_stages_weights(fake_perceptual):  # noqa: F811
    cfg = _config()
    stage = GramInverterModel().stages(cfg)[2]
    assert [(p.name, p.optimizer) for p in stage.phases] == [("detail", "detail")]
    mods, batch = stubs.modules(), stubs.real()
    result = stage.phases[0].loss(_ctx(mods, stage, batch))
    weights = cfg.stage_loss(DETAIL)
    assert (weights.rec_l1, weights.rec_perceptual, weights.novel_view, weights.depth) == (1.5, 0.5, 0.3, 0.2)
    loss, logs = stubs.expected_detail(mods, batch, weights)
    stubs.assert_matches_recomputation(result, loss, logs, mods)


@pytest.mark.parametrize("learn", [True, False])
def test_each_stage_trains_one_network_and_freezes_the_others(learn):
    cfg = _config(f"generator.learn_manifolds={str(learn).lower()}",
                  "stages.gram_inverter.efficient_gram.loss={r1_gamma: 0.7, r1_every: 4}")
    gan, enc, det = GramInverterModel().stages(cfg)
    assert [s.name for s in (gan, enc, det)] == [EFFICIENT_GRAM, ENCODER, DETAIL]
    assert {k: v.modules for k, v in gan.optimizers.items()} == {"generator": ["generator"],
                                                                 "discriminator": ["discriminator"]}
    assert gan.frozen == ["encoder", "detail"] + ([] if learn else ["generator.manifold"])
    assert gan.ema and not enc.ema and not det.ema
    assert [(p.name, p.every) for p in gan.phases] == [("discriminator", 1), ("r1", 4), ("generator", 1)]
    assert gan.optimizers["discriminator"].lr == pytest.approx(cfg.stage(EFFICIENT_GRAM).lr["discriminator"] * 4 / 5)
    assert gan.optimizers["generator"].lr == cfg.stage(EFFICIENT_GRAM).lr["generator"]
    assert {k: v.modules for k, v in enc.optimizers.items()} == {"encoder": ["encoder"]}
    assert enc.frozen == ["generator", "discriminator", "detail"]
    assert {k: v.modules for k, v in det.optimizers.items()} == {"detail": ["detail"]}
    assert det.frozen == ["generator", "discriminator", "encoder"] and det.on_start is None
    assert gan.resolution == enc.resolution == det.resolution == 8


def _toy_generator():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def test_the_encoder_stage_starts_by_putting_the_average_into_the_generator():
    gen, ema = _toy_generator(), _toy_generator()
    with torch.no_grad():
        for t in list(ema.parameters()) + list(ema.buffers()):
            t.add_(torch.rand(t.shape) + 0.5 if t.is_floating_point() else 3)  # num_batches_tracked too
    enc = GramInverterModel().stages(_config())[1]
    enc.on_start(StepContext(modules={"generator": gen}, config=None, stage=enc, step=0, stage_step=0,
                             device=torch.device("cpu"), ema=ema))
    for (name, got), want in zip(gen.state_dict().items(), ema.state_dict().values()):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)  # weights and running statistics
    kept = _toy_generator()
    before = {k: v.clone() for k, v in kept.state_dict().items()}
    enc.on_start(StepContext(modules={"generator": kept}, config=None, stage=enc, step=0, stage_step=0,
                             device=torch.device("cpu")))
    for k, v in kept.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0, msg=k)


def test_the_generator_draws_from_the_configs_camera_prior_and_the_encoders_pose_starts_at_its_centre():
    cfg = _config("camera.yaw_mean=0.2", "camera.pitch_mean=0.1", "camera.radius=1.3", "camera.fov=15.0",
                  "detail.lr_resolution=8")  # the stand-ins' 5 does not divide the texture side
    modules = GramInverterModel().build(cfg)
    gen, enc = modules["generator"], modules["encoder"]
    cams = gen.sample_cameras(64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(cams.origins.norm(dim=-1), torch.tensor(1.3)) and cams.fov == pytest.approx(15.0)
    assert cams.to_angles()["yaw"].mean() == pytest.approx(0.2, abs=0.1)
    with torch.no_grad():  # a pose head that outputs nothing of its own: the encoder's pose is the prior's centre
        enc.pose_head.weight.zero_()
        enc.pose_head.bias.zero_()
        _, pose = enc(torch.rand(2, 3, 8, 8), gen.mean_latent())
    torch.testing.assert_close(pose, torch.tensor([[0.2, cfg.camera.centre_pitch]] * 2))
    assert cfg.camera.centre_pitch != 0.0
