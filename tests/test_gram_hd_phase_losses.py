"""GRAM-HD's stage-2 phases against closed forms: a constant-image generator whose HR and LR renders and
radiance maps differ by known amounts, a linear D with a pose head and a linear patch D (the shared
adversarial steps of :mod:`zoo3d.train.gan` with GRAM-HD's fakes, scoring and consistency loss)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from gan_stubs import ConstantGenerator, LinearD, area_half, context, fakes, real_batch, sampled_pose, softplus

from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.train.losses import pose_target as camera_pose
from zoo3d_gram_hd.config import LossConfig
from zoo3d_gram_hd.generator import ManifoldTextures
from zoo3d_gram_hd.losses import consistency_loss, hr_phases


def hr_discriminator_loss(ctx, resolution, **weights):
    d, g = hr_phases(LossConfig(**weights), resolution)
    assert (d.name, d.optimizer, g.name, g.optimizer) == ("discriminator", "discriminator", "generator", "generator")
    return d.loss(ctx)


def hr_generator_loss(ctx, resolution, **weights):
    return hr_phases(LossConfig(**weights), resolution)[1].loss(ctx)

R = 4


class LinearPatchD(torch.nn.Module):
    """patch = 2 x 2 average of <u, x> over channels (B, 1, R/2, R/2); logit = mean of the patches.

    d logit / d x = u / R^2 for every image, so R1 on ``logit_D + lambda * logit_patch`` is
    gamma / 2 * |w + lambda u / R^2|^2 with a linear D of weights w.
    """

    def __init__(self, resolution: int):
        super().__init__()
        g = torch.Generator().manual_seed(11)
        self.u = torch.nn.Parameter(torch.randn(3, resolution, resolution, generator=g))

    def patches(self, x):
        return torch.nn.functional.avg_pool2d((x * self.u).sum(1, keepdim=True), 2)

    def forward(self, x):
        patch = self.patches(x)
        return DiscriminatorOutput(logit=patch.mean(dim=(2, 3)), patch=patch)


class TwoResolutionGenerator(ConstantGenerator):
    """The HR image level * z, the LR image ``lr_level`` everywhere, and maps whose HR rgb is the LR rgb + delta."""

    N = 2

    def __init__(self, level=0.8, lr_level=0.3, delta=0.2):
        super().__init__(level)
        self.lr_level, self.delta = lr_level, delta

    def forward(self, z, cameras, resolution, lowres_image=True):
        out = super().forward(z, cameras, resolution)
        B, (H, W) = z.shape[0], resolution
        lr = torch.rand(B, self.N, 6, 1, 1, generator=torch.Generator().manual_seed(2))
        shift = torch.tensor([self.delta] * 3 + [0.0]).reshape(1, 1, 4, 1, 1)
        bg = torch.full((B, 3, 1, 1), 0.4)
        tex = ManifoldTextures(lr_maps=lr.expand(B, self.N, 6, H // 2, W // 2),
                               lr_background=bg.expand(B, 3, H // 2, W // 2),
                               hr_maps=(lr[:, :, :4] + shift).expand(B, self.N, 4, H, W),
                               hr_background=bg.expand(B, 3, H, W))
        out.raw = SimpleNamespace(rgb=torch.full((B, 3, H // 2, W // 2), self.lr_level)) if lowres_image else None
        out.textures = tex
        return out


def _hd_modules(pose=True):
    return TwoResolutionGenerator(), LinearD(R, pose=pose), LinearPatchD(R)



@pytest.mark.parametrize("weights", [{}, dict(r1_gamma=0.5, lambda_pos=0.5, lambda_realpos=0.75, patch_lambda=0.5),
                                     dict(r1_gamma=0.0, lambda_pos=0.0, lambda_realpos=0.0, patch_lambda=0.5)])
def test_hr_discriminator_loss_is_global_plus_patch_softplus_plus_joint_r1_plus_pose(weights):
    w = {"r1_gamma": 3.0, "lambda_pos": 15.0, "lambda_realpos": 15.0, "patch_lambda": 0.1, **weights}  # defaults
    gen, disc, patch = _hd_modules()
    real = real_batch(2, 2 * R)
    ctx = context({"generator": gen, "discriminator": disc, "patch_discriminator": patch}, real, batch_size=2)
    out = hr_discriminator_loss(ctx, R, **weights)
    with torch.no_grad():
        x_real, x_fake = area_half(real.images), fakes(gen, 2, R)
        l_real, l_fake = disc.logit(x_real), disc.logit(x_fake)
        adv = softplus(l_fake).mean() + softplus(-l_real).mean()
        patch_adv = softplus(patch.patches(x_fake)).mean() + softplus(-patch.patches(x_real)).mean()
        r1 = 0.5 * w["r1_gamma"] * (disc.w + w["patch_lambda"] * patch.u / R ** 2).pow(2).sum()
        pose_fake = (disc.pose(x_fake) - sampled_pose(2)).pow(2).mean()
        pose_real = (disc.pose(x_real) - camera_pose(real.cameras)).pow(2).mean()
    expected = adv + w["patch_lambda"] * patch_adv + r1 + w["lambda_pos"] * pose_fake + w["lambda_realpos"] * pose_real
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-5, rtol=1e-5)
    logs = out.logs
    assert logs["d_adv"] == pytest.approx(adv.item(), abs=1e-5)
    assert logs["d_patch"] == pytest.approx(patch_adv.item(), abs=1e-5)
    assert logs["d_real"] == pytest.approx(l_real.mean().item(), abs=1e-5)
    assert logs["d_fake"] == pytest.approx(l_fake.mean().item(), abs=1e-5)
    assert logs["d_loss"] == pytest.approx(expected.item(), abs=1e-5)
    assert ("r1" in logs) == (w["r1_gamma"] > 0) and ("d_pose" in logs) == (w["lambda_pos"] > 0)
    if w["r1_gamma"]:
        assert logs["r1"] == pytest.approx(r1.item(), rel=1e-5)
    out.loss.backward()
    assert gen.level.grad is None  # fakes are drawn without grad
    assert disc.w.grad is not None and patch.u.grad is not None


@pytest.mark.parametrize("weights", [{}, dict(lambda_pos=0.5, patch_lambda=0.5, lambda_cons=0.75),
                                     dict(lambda_pos=0.0, patch_lambda=0.5, lambda_cons=0.0)])
def test_hr_generator_loss_is_adversarial_plus_patch_plus_pose_plus_consistency(weights):
    w = {"lambda_pos": 15.0, "patch_lambda": 0.1, "lambda_cons": 1.0, **weights}  # defaults
    gen, disc, patch = _hd_modules()
    ctx = context({"generator": gen, "discriminator": disc, "patch_discriminator": patch}, real_batch(2, R),
                  batch_size=2)
    out = hr_generator_loss(ctx, R, **weights)
    x = fakes(gen, 2, R)
    adv = softplus(-disc.logit(x)).mean()
    patch_adv = softplus(-patch.patches(x)).mean()
    pose = (disc.pose(x) - sampled_pose(2)).pow(2).mean()
    image_term = (x - gen.lr_level).pow(2).mean()  # Down_s of a constant image is that constant
    map_term = torch.tensor(gen.delta ** 2 * 3 / 4 * gen.N / (gen.N + 1))  # rgb of the N foreground maps shifted
    expected = adv + w["patch_lambda"] * patch_adv + w["lambda_pos"] * pose + w["lambda_cons"] * (image_term + map_term)
    torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)
    logs = out.logs
    assert logs["g_adv"] == pytest.approx(adv.item(), abs=1e-5)
    assert logs["g_patch"] == pytest.approx(patch_adv.item(), abs=1e-5)
    assert logs["g_loss"] == pytest.approx(expected.item(), abs=1e-5)
    assert ("g_pose" in logs) == (w["lambda_pos"] > 0) and ("cons_image" in logs) == (w["lambda_cons"] > 0)
    if w["lambda_pos"]:
        assert logs["g_pose"] == pytest.approx(pose.item(), abs=1e-6)
    if w["lambda_cons"]:
        assert logs["cons_image"] == pytest.approx(image_term.item(), abs=1e-6)
        assert logs["cons_maps"] == pytest.approx(map_term.item(), abs=1e-6)
    out.loss.backward()
    torch.testing.assert_close(gen.level.grad, torch.autograd.grad(expected, gen.level)[0], atol=1e-5, rtol=1e-4)


def test_hr_phases_without_reals_use_the_stages_batch_and_skip_a_missing_pose_head():
    gen, disc, patch = _hd_modules(pose=False)
    ctx = context({"generator": gen, "discriminator": disc, "patch_discriminator": patch}, None, batch_size=3)
    out = hr_generator_loss(ctx, R, lambda_cons=0.0)
    with torch.no_grad():
        x = fakes(gen, 3, R)
        expected = softplus(-disc.logit(x)).mean() + 0.1 * softplus(-patch.patches(x)).mean()
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-6, rtol=0)
    assert "g_pose" not in out.logs
    real = real_batch(2, R, cameras=False)
    d = hr_discriminator_loss(context({"generator": gen, "discriminator": disc, "patch_discriminator": patch}, real), R)
    assert "d_pose" not in d.logs and "d_pose_real" not in d.logs


def test_consistency_loss_takes_the_scale_from_non_square_renders():
    """HR 4 x 8 against LR 2 x 4 (scale 2): constant images and maps shifted by delta give the closed form."""
    delta = 0.1
    lr = torch.rand(1, 1, 5, 1, 1, generator=torch.Generator().manual_seed(4))
    shift = torch.tensor([delta] * 3 + [0.0]).reshape(1, 1, 4, 1, 1)
    bg = torch.full((1, 3, 1, 1), 0.4)
    tex = ManifoldTextures(lr_maps=lr.expand(1, 1, 5, 2, 4), lr_background=bg.expand(1, 3, 2, 4),
                           hr_maps=(lr[:, :, :4] + shift).expand(1, 1, 4, 4, 8), hr_background=bg.expand(1, 3, 4, 8))
    image_term, map_term = consistency_loss(torch.full((1, 3, 4, 8), 0.7), torch.full((1, 3, 2, 4), 0.2), tex)
    torch.testing.assert_close(image_term, torch.tensor(0.25))
    torch.testing.assert_close(map_term, torch.tensor(delta ** 2 * 3 / 4 / 2))  # one shifted map and the background
