"""StyleSDF's training phases against upstream's loops written out (royorel/StyleSDF).

``train_volume_renderer.py``: the sphere fit (L1 between the SDF and the sphere's at stratified ray samples of
prior cameras), then D = softplus(-D(real)) + softplus(D(fake)) + r1 / 2 |grad D(real)|^2 + view_lambda x
smooth-L1(fake viewpoint) and G = softplus(-D(fake)) + view_lambda x smooth-L1 + eikonal_lambda x
mean (|grad sdf| - 1)^2 + min_surf_lambda x mean exp(-beta |sdf|); the discriminators' widths as configured.
Each reference below draws the latents and cameras from the step's generator itself and scores them with the
discriminator directly; the weights are set apart from one another so that a swapped or dropped one shows.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from zoo3d.core.model import RealBatch, StepContext
from zoo3d.train.losses import pose_target
from zoo3d_stylesdf.model import StyleSDFModel, geometry_terms
from zoo3d.train.gan import Sample

from test_stylesdf_model import _config

WEIGHTS = ["loss.eikonal=0.3", "loss.min_surface=0.07", "loss.min_surface_beta=40", "loss.lambda_pos=2.5",
           "loss.r1_gamma=3.0"]
N = 2  # the micro stages' batch


def _setup(extra=(), stage=1):
    cfg = _config(WEIGHTS + list(extra))
    plugin = StyleSDFModel()
    modules = plugin.build(cfg)
    return cfg, modules, plugin.stages(cfg)[stage]


def _ctx(cfg, modules, stage, seed, real=None):
    return StepContext(modules=modules, config=cfg, stage=stage, step=0, stage_step=0, real=real,
                       device=torch.device("cpu"), rng=torch.Generator().manual_seed(seed))


def _phase(stage, name):
    return next(p for p in stage.phases if p.name == name)


def _reals(res, seed=3):
    return torch.rand(N, 3, res, res, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _volume_fakes(cfg, gen, seed, jitter_seed):
    """Upstream's fakes of the volume renderer: a prior camera and a latent per image (camera first, as
    zoo3d's stage draws them), the SDF at every sample kept for the geometry terms."""
    rng = torch.Generator().manual_seed(seed)
    cams = cfg.camera.sample(N, generator=rng)
    z = torch.randn(N, cfg.generator.renderer.z_dim, generator=rng)
    rep = gen.represent(z)
    rep.record = True
    torch.manual_seed(jitter_seed)
    return gen.render_volume(rep, cams).rgb, cams, rep


def _eikonal_and_surface(rep, beta):
    grads = [torch.autograd.grad(v.sum(), p, retain_graph=True)[0] for p, v in rep.recorded]
    norms = torch.cat([g.reshape(-1, 3).norm(dim=-1) for g in grads])
    sdf = torch.cat([v.reshape(-1) for _, v in rep.recorded])
    return ((norms - 1) ** 2).mean(), torch.exp(-beta * sdf.abs()).mean()


def test_volume_renderer_d_and_g_losses_are_upstreams_with_each_weight_on_its_term():
    cfg, modules, stage = _setup()
    gen, disc = modules["generator"], modules["discriminator"]
    torch.manual_seed(5)
    result = _phase(stage, "generator").loss(_ctx(cfg, modules, stage, seed=7))

    fake, cams, rep = _volume_fakes(cfg, gen, seed=7, jitter_seed=5)
    out = disc(fake)
    adv = F.softplus(-out.logit).mean()
    view = F.smooth_l1_loss(out.pose, pose_target(cams))
    eik, surf = _eikonal_and_surface(rep, beta=40.0)
    expected = adv + 2.5 * view + 0.3 * eik + 0.07 * surf
    torch.testing.assert_close(result.loss, expected, rtol=1e-5, atol=1e-6)
    for key, value in (("g_adv", adv), ("g_pose", view), ("eikonal", eik), ("min_surface", surf)):
        assert result.logs[key] == pytest.approx(value.item(), rel=1e-5), key
    assert result.logs["sdf_sharpness"] == pytest.approx(gen.volume.sdf_sharpness.item())

    # the D step: R1 every step on the reals, smooth-L1 on the fake viewpoints
    reals = _reals(8)
    torch.manual_seed(5)
    result = _phase(stage, "discriminator").loss(_ctx(cfg, modules, stage, seed=7, real=RealBatch(images=reals)))

    with torch.no_grad():
        fake, cams, _ = _volume_fakes(cfg, gen, seed=7, jitter_seed=5)
    real = reals.clone().requires_grad_(True)
    real_out, fake_out = disc(real), disc(fake)
    grad, = torch.autograd.grad(real_out.logit.sum(), real, create_graph=True)
    r1 = 3.0 * 0.5 * grad.pow(2).reshape(N, -1).sum(1).mean()
    view = F.smooth_l1_loss(fake_out.pose, pose_target(cams))
    expected = F.softplus(-real_out.logit).mean() + F.softplus(fake_out.logit).mean() + r1 + 2.5 * view
    torch.testing.assert_close(result.loss, expected, rtol=1e-5, atol=1e-6)
    assert result.logs["r1"] == pytest.approx(r1.item(), rel=1e-5)
    assert [(p.name, p.optimizer, p.every) for p in stage.phases] == [("discriminator", "discriminator", 1),
                                                                      ("generator", "generator", 1)]


def test_volume_renderer_trains_the_volume_against_the_coordconv_d_at_the_render_resolution():
    cfg, modules, stage = _setup()
    assert stage.optimizers["generator"].modules == ["generator.volume"]
    assert stage.optimizers["discriminator"].modules == ["discriminator"]
    assert stage.resolution == cfg.generator.renderer.resolution and stage.frozen == []
    # R1 in every D step: the discriminator's Adam keeps the configured settings
    assert stage.optimizers["discriminator"].lr == cfg.stage("volume_renderer").lr["discriminator"]
    assert stage.optimizers["discriminator"].betas == tuple(cfg.stage("volume_renderer").betas)
    # a lazy R1 gets its phase and the StyleGAN2 correction of the discriminator's Adam
    _, _, lazy = _setup(["stages.volume_renderer.loss={r1_every: 4}"])
    assert [(p.name, p.every) for p in lazy.phases] == [("discriminator", 1), ("r1", 4), ("generator", 1)]
    assert lazy.optimizers["discriminator"].lr == pytest.approx(cfg.stage("volume_renderer").lr["discriminator"] * 0.8)


def test_the_discriminators_are_built_with_the_configs_widths_viewpoint_head_and_minibatch_stddev():
    from zoo3d.nn.discriminators import CoordConvDiscriminator, StyleGAN2Discriminator

    cfg, modules, _ = _setup(["discriminator.max_channels=40", "discriminator.channel_scale=0.5",
                              "discriminator.mbstd_group=2", "discriminator.decoder_channel_base=256",
                              "discriminator.decoder_max_channels=48"])  # widths min(48, 256 / side): 48, 32, 16
    res, out_res = cfg.generator.renderer.resolution, cfg.generator.decoder.output_resolution
    want = CoordConvDiscriminator(res, max_channels=40, pose_dim=2, channel_scale=0.5, mbstd_group=2)
    want.load_state_dict(modules["discriminator"].state_dict())  # strict: every width the same
    images = torch.rand(4, 3, res, res)
    got, ref = modules["discriminator"](images), want(images)
    assert ref.pose.shape == (4, 2)  # upstream's viewpoint head: (azimuth, elevation)
    torch.testing.assert_close(got.logit, ref.logit)
    torch.testing.assert_close(got.pose, ref.pose)
    decoder_d = StyleGAN2Discriminator(out_res, channel_base=256, max_channels=48)
    decoder_d.load_state_dict(modules["decoder_discriminator"].state_dict())
    assert set(modules) == {"generator", "discriminator", "decoder_discriminator"}


def test_the_geometry_terms_are_the_point_weighted_eikonal_and_the_minimal_surface_over_every_sample():
    # two recorded queries of different sizes with the sdf a * |p| - 0.1: |grad| = a exactly, so the eikonal
    # term is the point-weighted mean of (a - 1)^2; the minimal-surface term averages over all samples (sizes
    # that 3, the images' channels, does not divide: each query's values are per image)
    g = torch.Generator().manual_seed(0)
    recorded = []
    for a, m in ((2.0, 31), (0.5, 89)):
        p = (torch.rand(N, m, 3, generator=g) * 0.4 - 0.2).requires_grad_(True)
        recorded.append((p, a * p.norm(dim=-1, keepdim=True) - 0.1))
    ctx = SimpleNamespace(generator=SimpleNamespace(volume=SimpleNamespace(sdf_sharpness=torch.tensor(0.25))))
    fakes = Sample(torch.zeros(N, 3, 4, 4), scene=SimpleNamespace(recorded=recorded))
    total, logs = geometry_terms(ctx, fakes, eikonal=0.3, min_surface=0.07, beta=40.0)
    eik = (1.0 ** 2 * 31 + 0.5 ** 2 * 89) / 120
    sdf = torch.cat([v.reshape(N, -1) for _, v in recorded], 1)
    surf = torch.exp(-40.0 * sdf.abs()).mean().item()
    assert logs["eikonal"] == pytest.approx(eik, rel=1e-5)
    assert logs["min_surface"] == pytest.approx(surf, rel=1e-6)
    assert total.item() == pytest.approx(0.3 * eik + 0.07 * surf, rel=1e-5)
    assert logs["sdf_sharpness"] == 0.25


def test_sphere_fit_is_the_l1_to_the_configured_sphere_at_stratified_samples_of_prior_cameras():
    cfg, modules, stage = _setup(["generator.sphere_radius=0.05"], stage=0)
    gen = modules["generator"]
    result = _phase(stage, "sphere_init").loss(_ctx(cfg, modules, stage, seed=4))

    r, res = cfg.generator.renderer, cfg.generator.renderer.resolution
    rng = torch.Generator().manual_seed(4)
    z = torch.randn(N, r.z_dim, generator=rng)  # upstream's init loop: noise, then cameras, then the samples
    cams = cfg.camera.sample(N, generator=rng)
    origins, dirs = cams.rays(res, res)
    u = torch.rand(N, res * res, r.num_samples, generator=rng)
    step = (r.far - r.near) / r.num_samples
    t = r.near + (torch.arange(r.num_samples) + u) * step
    pts = (origins[:, :, None] + t[..., None] * dirs[:, :, None]).reshape(N, -1, 3)
    sdf = gen.represent(z).sdf(pts)
    expected = (sdf.reshape(N, -1) - (pts.norm(dim=-1) - 0.05)).abs().mean()
    torch.testing.assert_close(result.loss, expected, rtol=1e-5, atol=1e-7)
    assert result.logs["sphere_l1"] == pytest.approx(expected.item(), rel=1e-5)
    assert [(p.name, p.optimizer) for p in stage.phases] == [("sphere_init", "generator")]
    assert stage.optimizers["generator"].modules == ["generator.volume"] and not stage.ema
