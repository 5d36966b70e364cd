"""GRAM's phase losses against closed forms, with a constant-image generator and a linear discriminator."""

from __future__ import annotations

import pytest
import torch
from gan_stubs import (
    ConstantGenerator,
    LinearD,
    Recorder,
    area_half,
    context,
    fakes,
    real_batch,
    sampled_pose,
    softplus,
)

from zoo3d.cameras import Camera
from zoo3d_gram.losses import camera_pose, discriminator_step_loss, generate_fakes, generator_step_loss, resize_images

R = 4


def test_resize_images_averages_areas_and_leaves_the_right_size_alone():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    assert resize_images(x, 8) is x
    torch.testing.assert_close(resize_images(x, 4), area_half(x))
    tall = x[..., :4]  # (8, 4): the width matches, the height does not
    torch.testing.assert_close(resize_images(tall, 4), tall.reshape(2, 3, 4, 2, 4).mean(3))
    wide = x[..., :4, :]
    torch.testing.assert_close(resize_images(wide, 4), wide.reshape(2, 3, 4, 4, 2).mean(4))


def test_camera_pose_of_a_batch_is_its_yaw_and_pitch():
    yaw, pitch = torch.tensor([0.3, -0.2, 0.0]), torch.tensor([0.1, -0.05, 0.2])
    torch.testing.assert_close(camera_pose(Camera.from_angles(yaw, pitch)), torch.stack([yaw, pitch], -1),
                               atol=1e-6, rtol=0)


def test_fakes_come_from_the_named_generator_with_the_steps_rng_under_autocast():
    rec = Recorder()
    gen = ConstantGenerator(0.5, rec)
    ctx = context({"generator": ConstantGenerator(0.1), "g_lr": gen}, None, recorder=rec)
    images, cams = generate_fakes(ctx, 3, R, "g_lr")
    torch.testing.assert_close(images, fakes(gen, 3, R))
    torch.testing.assert_close(camera_pose(cams), sampled_pose(3), atol=1e-6, rtol=0)
    assert gen.ran_in_autocast == [True]
    default = context({"generator": gen}, None)
    torch.testing.assert_close(generate_fakes(default, 2, R)[0], fakes(gen, 2, R))


@pytest.mark.parametrize("gamma", [0.0, 2.5])
def test_discriminator_loss_is_softplus_plus_r1_plus_both_pose_terms(gamma):
    rec = Recorder()
    gen, disc = ConstantGenerator(0.8, rec), LinearD(R, recorder=rec)
    real = real_batch(2, 2 * R)  # resized to R by area averaging
    ctx = context({"generator": gen, "discriminator": disc}, real, recorder=rec)
    out = discriminator_step_loss(ctx, R, r1_gamma=gamma, lambda_pos=15.0, lambda_realpos=0.5)

    with torch.no_grad():
        x_real, x_fake = area_half(real.images), fakes(gen, 2, R)
        l_real, l_fake = disc.logit(x_real), disc.logit(x_fake)
        adv = softplus(l_fake).mean() + softplus(-l_real).mean()
        r1 = 0.5 * gamma * disc.w.pow(2).sum()  # a linear D's input gradient is w for every image
        pose_fake = (disc.pose(x_fake) - sampled_pose(2)).pow(2).mean()
        pose_real = (disc.pose(x_real) - camera_pose(real.cameras)).pow(2).mean()
    expected = adv + r1 + 15.0 * pose_fake + 0.5 * pose_real
    torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)
    logs = out.logs
    assert logs["d_adv"] == pytest.approx(adv.item(), abs=1e-5)
    assert logs["d_real"] == pytest.approx(l_real.mean().item(), abs=1e-5)
    assert logs["d_fake"] == pytest.approx(l_fake.mean().item(), abs=1e-5)
    assert logs["d_pose_fake"] == pytest.approx(pose_fake.item(), abs=1e-6)
    assert logs["d_pose_real"] == pytest.approx(pose_real.item(), abs=1e-6)
    assert logs["d_loss"] == pytest.approx(expected.item(), abs=1e-5)
    assert ("r1" in logs) == (gamma > 0)
    if gamma:
        assert logs["r1"] == pytest.approx(r1.item(), rel=1e-5)
    assert disc.ran_in_autocast == [True, True] and gen.ran_in_autocast == [True]
    # the loss reaches D's weights (R1 too, through create_graph) but not the generator: fakes are drawn without grad
    out.loss.backward()
    grad_w = torch.autograd.grad(
        (softplus(disc.logit(x_fake)).mean() + softplus(-disc.logit(x_real)).mean() + 0.5 * gamma * disc.w.pow(2).sum()
         + 15.0 * (disc.pose(x_fake) - sampled_pose(2)).pow(2).mean()
         + 0.5 * (disc.pose(x_real) - camera_pose(real.cameras)).pow(2).mean()), disc.w)[0]
    torch.testing.assert_close(disc.w.grad, grad_w, atol=1e-5, rtol=1e-4)
    assert gen.level.grad is None


def test_discriminator_pose_terms_are_left_out_when_off_or_unavailable():
    gen, disc = ConstantGenerator(), LinearD(R)
    real = real_batch(3, R)
    base = dict(r1_gamma=0.0)
    with torch.no_grad():
        adv = (softplus(disc.logit(fakes(gen, 3, R))).mean() + softplus(-disc.logit(real.images)).mean())

    def run(d=disc, batch=real, **kw):
        return discriminator_step_loss(context({"generator": gen, "discriminator": d}, batch), R, **{**base, **kw})

    off = run(lambda_pos=0.0, lambda_realpos=0.0)
    torch.testing.assert_close(off.loss, adv, atol=1e-6, rtol=0)
    assert "d_pose_fake" not in off.logs and "d_pose_real" not in off.logs
    fake_only = run(lambda_pos=0.5, lambda_realpos=0.0)  # weights below 1 count too
    assert "d_pose_fake" in fake_only.logs and "d_pose_real" not in fake_only.logs
    with torch.no_grad():
        pose_fake = (disc.pose(fakes(gen, 3, R)) - sampled_pose(3)).pow(2).mean()
    torch.testing.assert_close(fake_only.loss, adv + 0.5 * pose_fake, atol=1e-6, rtol=0)
    no_cams = run(batch=real_batch(3, R, cameras=False))
    assert "d_pose_fake" in no_cams.logs and "d_pose_real" not in no_cams.logs
    headless = run(d=LinearD(R, pose=False))
    assert "d_pose_fake" not in headless.logs and "d_pose_real" not in headless.logs


def test_discriminator_step_uses_the_named_modules():
    gen, disc = ConstantGenerator(0.6), LinearD(R, seed=3)
    real = real_batch(2, R)
    named = context({"generator": ConstantGenerator(0.1), "discriminator": LinearD(R, seed=9),
                     "g_lr": gen, "d_lr": disc}, real)
    plain = context({"generator": gen, "discriminator": disc}, real)
    a = discriminator_step_loss(named, R, generator_key="g_lr", discriminator_key="d_lr")
    b = discriminator_step_loss(plain, R)
    torch.testing.assert_close(a.loss, b.loss)


@pytest.mark.parametrize("lambda_pos", [0.0, 0.5, 15.0])
def test_generator_loss_is_nonsaturating_plus_pose_on_the_batch_of_the_reals(lambda_pos):
    rec = Recorder()
    gen, disc = ConstantGenerator(0.8, rec), LinearD(R, recorder=rec)
    ctx = context({"generator": gen, "discriminator": disc}, real_batch(2, R), recorder=rec)
    out = generator_step_loss(ctx, R, lambda_pos=lambda_pos)
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
    assert disc.ran_in_autocast == [True] and gen.ran_in_autocast == [True]
    # the generator gets the gradient of that closed form
    out.loss.backward()
    torch.testing.assert_close(gen.level.grad, torch.autograd.grad(expected, gen.level)[0], atol=1e-5, rtol=1e-4)


def test_generator_step_without_reals_uses_the_stages_batch_and_the_named_modules():
    gen, disc = ConstantGenerator(0.7), LinearD(R, seed=4, pose=False)
    ctx = context({"generator": ConstantGenerator(0.1), "discriminator": LinearD(R, seed=9),
                   "g_lr": gen, "d_lr": disc}, None, batch_size=3)
    out = generator_step_loss(ctx, R, generator_key="g_lr", discriminator_key="d_lr")
    with torch.no_grad():
        expected = softplus(-disc.logit(fakes(gen, 3, R))).mean()
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-6, rtol=0)
    assert "g_pose" not in out.logs


def test_default_weights_are_grams_r1_1_and_pose_15():
    gen, disc = ConstantGenerator(0.8), LinearD(R)
    real = real_batch(3, R)
    with torch.no_grad():
        x_fake = fakes(gen, 3, R)
        adv = softplus(disc.logit(x_fake)).mean() + softplus(-disc.logit(real.images)).mean()
        pose_fake = (disc.pose(x_fake) - sampled_pose(3)).pow(2).mean()
        pose_real = (disc.pose(real.images) - camera_pose(real.cameras)).pow(2).mean()
        g_adv = softplus(-disc.logit(x_fake)).mean()
    d = discriminator_step_loss(context({"generator": gen, "discriminator": disc}, real), R)
    expected = adv + 0.5 * 1.0 * disc.w.detach().pow(2).sum() + 15.0 * pose_fake + 15.0 * pose_real
    torch.testing.assert_close(d.loss.detach(), expected, atol=1e-5, rtol=1e-5)
    g = generator_step_loss(context({"generator": gen, "discriminator": disc}, real), R)
    torch.testing.assert_close(g.loss.detach(), g_adv + 15.0 * pose_fake, atol=1e-5, rtol=1e-5)
