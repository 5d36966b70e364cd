"""GRAM's adversarial phases against closed forms, with a constant-image generator and a linear discriminator.

GRAM's recipe is the shared adversarial steps (:mod:`zoo3d.train.gan`) with GRAM's fakes and weights
(:func:`zoo3d_gram.model.gram_phases`); GRAM-HD's stage 1 and GRAMInverter reuse it.
"""

from __future__ import annotations

import pytest
import torch
from gan_stubs import ConstantGenerator, LinearD, area_half, context, fakes, real_batch, sampled_pose, softplus

from zoo3d.cameras import Camera
from zoo3d.train.data import resize_images
from zoo3d.train.losses import pose_target
from zoo3d_gram.config import LossConfig
from zoo3d_gram.model import gram_phases, render_fakes

R = 4


def _phases(loss=None, **kw):
    d, g = gram_phases(loss or LossConfig(), R, **kw)
    assert (d.name, d.optimizer, g.name, g.optimizer) == ("discriminator", "discriminator", "generator", "generator")
    return d.loss, g.loss


def test_resize_images_averages_areas_and_leaves_the_right_size_alone():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    assert resize_images(x, 8) is x
    torch.testing.assert_close(resize_images(x, 4), area_half(x))
    tall = x[..., :4]  # (8, 4): the width matches, the height does not
    torch.testing.assert_close(resize_images(tall, 4), tall.reshape(2, 3, 4, 2, 4).mean(3))
    wide = x[..., :4, :]
    torch.testing.assert_close(resize_images(wide, 4), wide.reshape(2, 3, 4, 4, 2).mean(4))


def test_pose_target_of_a_batch_is_its_yaw_and_pitch():
    yaw, pitch = torch.tensor([0.3, -0.2, 0.0]), torch.tensor([0.1, -0.05, 0.2])
    torch.testing.assert_close(pose_target(Camera.from_angles(yaw, pitch)), torch.stack([yaw, pitch], -1),
                               atol=1e-6, rtol=0)


def test_fakes_come_from_the_given_generator_with_the_steps_rng():
    gen = ConstantGenerator(0.5)
    ctx = context({"generator": ConstantGenerator(0.1), "g_lr": gen}, None)
    sample = render_fakes(ctx, 3, R, generator=lambda c: c.modules["g_lr"])
    torch.testing.assert_close(sample.images, fakes(gen, 3, R))
    torch.testing.assert_close(pose_target(sample.cameras), sampled_pose(3), atol=1e-6, rtol=0)
    default = context({"generator": gen}, None)
    torch.testing.assert_close(render_fakes(default, 2, R).images, fakes(gen, 2, R))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.5])
def test_discriminator_loss_is_softplus_plus_r1_plus_both_pose_terms(gamma):
    gen, disc = ConstantGenerator(0.8), LinearD(R)
    real = real_batch(2, 2 * R)  # resized to R by area averaging
    ctx = context({"generator": gen, "discriminator": disc}, real, batch_size=2)
    d_loss, _ = _phases(LossConfig(r1_gamma=gamma, lambda_pos=15.0, lambda_realpos=0.5))
    out = d_loss(ctx)

    with torch.no_grad():
        x_real, x_fake = area_half(real.images), fakes(gen, 2, R)
        l_real, l_fake = disc.logit(x_real), disc.logit(x_fake)
        adv = softplus(l_fake).mean() + softplus(-l_real).mean()
        r1 = 0.5 * gamma * disc.w.pow(2).sum()  # a linear D's input gradient is w for every image
        pose_fake = (disc.pose(x_fake) - sampled_pose(2)).pow(2).mean()
        pose_real = (disc.pose(x_real) - pose_target(real.cameras)).pow(2).mean()
    expected = adv + r1 + 15.0 * pose_fake + 0.5 * pose_real
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-5, rtol=1e-5)
    logs = out.logs
    assert logs["d_adv"] == pytest.approx(adv.item(), abs=1e-5)
    assert logs["d_real"] == pytest.approx(l_real.mean().item(), abs=1e-5)
    assert logs["d_fake"] == pytest.approx(l_fake.mean().item(), abs=1e-5)
    assert logs["d_pose"] == pytest.approx(pose_fake.item(), abs=1e-6)
    assert logs["d_pose_real"] == pytest.approx(pose_real.item(), abs=1e-6)
    assert logs["d_loss"] == pytest.approx(expected.item(), abs=1e-5)
    assert ("r1" in logs) == (gamma > 0)
    if gamma:
        assert logs["r1"] == pytest.approx(r1.item(), rel=1e-5)
    # the loss reaches D's weights (R1 too, through create_graph) but not the generator: fakes are drawn without grad
    out.loss.backward()
    grad_w = torch.autograd.grad(
        (softplus(disc.logit(x_fake)).mean() + softplus(-disc.logit(x_real)).mean() + 0.5 * gamma * disc.w.pow(2).sum()
         + 15.0 * (disc.pose(x_fake) - sampled_pose(2)).pow(2).mean()
         + 0.5 * (disc.pose(x_real) - pose_target(real.cameras)).pow(2).mean()), disc.w)[0]
    torch.testing.assert_close(disc.w.grad, grad_w, atol=1e-5, rtol=1e-4)
    assert gen.level.grad is None


def test_discriminator_pose_terms_are_left_out_when_off_or_unavailable():
    gen, disc = ConstantGenerator(), LinearD(R)
    real = real_batch(3, R)
    with torch.no_grad():
        adv = (softplus(disc.logit(fakes(gen, 3, R))).mean() + softplus(-disc.logit(real.images)).mean())

    def run(d=disc, batch=real, **kw):
        d_loss, _ = _phases(LossConfig(**{"r1_gamma": 0.0, **kw}))
        return d_loss(context({"generator": gen, "discriminator": d}, batch))

    off = run(lambda_pos=0.0, lambda_realpos=0.0)
    torch.testing.assert_close(off.loss, adv, atol=1e-6, rtol=0)
    assert "d_pose" not in off.logs and "d_pose_real" not in off.logs
    fake_only = run(lambda_pos=0.5, lambda_realpos=0.0)  # weights below 1 count too
    assert "d_pose" in fake_only.logs and "d_pose_real" not in fake_only.logs
    with torch.no_grad():
        pose_fake = (disc.pose(fakes(gen, 3, R)) - sampled_pose(3)).pow(2).mean()
    torch.testing.assert_close(fake_only.loss, adv + 0.5 * pose_fake, atol=1e-6, rtol=0)
    no_cams = run(batch=real_batch(3, R, cameras=False))
    assert "d_pose" in no_cams.logs and "d_pose_real" not in no_cams.logs
    headless = run(d=LinearD(R, pose=False))
    assert "d_pose" not in headless.logs and "d_pose_real" not in headless.logs


def test_phases_use_the_named_generator_and_discriminator():
    gen, disc = ConstantGenerator(0.6), LinearD(R, seed=3)
    real = real_batch(3, R)
    modules = {"generator": ConstantGenerator(0.1), "discriminator": LinearD(R, seed=9), "g_lr": gen, "d_lr": disc}
    named_d, named_g = _phases(generator=lambda c: c.modules["g_lr"], discriminator="d_lr")
    plain_d, plain_g = _phases()
    torch.testing.assert_close(named_d(context(modules, real)).loss,
                               plain_d(context({"generator": gen, "discriminator": disc}, real)).loss)
    torch.testing.assert_close(named_g(context(modules, real)).loss,
                               plain_g(context({"generator": gen, "discriminator": disc}, real)).loss)


@pytest.mark.parametrize("lambda_pos", [0.0, 0.5, 15.0])
def test_generator_loss_is_nonsaturating_plus_pose(lambda_pos):
    gen, disc = ConstantGenerator(0.8), LinearD(R)
    ctx = context({"generator": gen, "discriminator": disc}, real_batch(2, R), batch_size=2)
    _, g_loss = _phases(LossConfig(lambda_pos=lambda_pos))
    out = g_loss(ctx)
    x_fake = fakes(gen, 2, R)
    adv = softplus(-disc.logit(x_fake)).mean()
    pose = (disc.pose(x_fake) - sampled_pose(2)).pow(2).mean()
    expected = adv + lambda_pos * pose
    torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)
    assert out.logs["g_adv"] == pytest.approx(adv.item(), abs=1e-5)
    assert out.logs["g_loss"] == pytest.approx(expected.item(), abs=1e-5)
    assert ("g_pose" in out.logs) == (lambda_pos > 0)
    if lambda_pos:
        assert out.logs["g_pose"] == pytest.approx(pose.item(), abs=1e-6)
    # the generator gets the gradient of that closed form
    out.loss.backward()
    torch.testing.assert_close(gen.level.grad, torch.autograd.grad(expected, gen.level)[0], atol=1e-5, rtol=1e-4)


def test_default_weights_are_grams_r1_1_and_pose_15():
    gen, disc = ConstantGenerator(0.8), LinearD(R)
    real = real_batch(3, R)
    with torch.no_grad():
        x_fake = fakes(gen, 3, R)
        adv = softplus(disc.logit(x_fake)).mean() + softplus(-disc.logit(real.images)).mean()
        pose_fake = (disc.pose(x_fake) - sampled_pose(3)).pow(2).mean()
        pose_real = (disc.pose(real.images) - pose_target(real.cameras)).pow(2).mean()
        g_adv = softplus(-disc.logit(x_fake)).mean()
    d_loss, g_loss = _phases()
    d = d_loss(context({"generator": gen, "discriminator": disc}, real))
    expected = adv + 0.5 * 1.0 * disc.w.detach().pow(2).sum() + 15.0 * pose_fake + 15.0 * pose_real
    torch.testing.assert_close(d.loss.detach(), expected, atol=1e-5, rtol=1e-5)
    g = g_loss(context({"generator": gen, "discriminator": disc}, real))
    torch.testing.assert_close(g.loss.detach(), g_adv + 15.0 * pose_fake, atol=1e-5, rtol=1e-5)
