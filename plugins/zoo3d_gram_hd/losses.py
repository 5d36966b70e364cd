"""GRAM-HD's stage-2 losses (paper eqs. 9-12, upstream SRGan3DProcess).

D: softplus(D(fake)) + softplus(-D(real)) + patch_lambda * [softplus(Dp(fake)) + softplus(-Dp(real))]
   + R1(gamma) on (D(real) + patch_lambda * mean Dp(real)) + pose MSE on fakes (lambda_pos) and reals
   (lambda_realpos).
G: softplus(-D(fake)) + patch_lambda * softplus(-Dp(fake)) + lambda_pos * pose MSE
   + lambda_cons * [MSE(Down_s(HR image), LR image) + MSE(Down_s(HR rgba maps), LR rgba maps)]   (12)
Patch terms average softplus over every patch logit. Down_s is the fixed Keys-bicubic kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.core.model import LossResult, StepContext
from zoo3d.nn.resample import bicubic_downsample
from zoo3d.train.losses import discriminator_loss, generator_loss, pose_loss, r1_penalty

from zoo3d_gram import camera_pose, discriminator_pose_terms, resize_images
from zoo3d_gram_hd.generator import ManifoldTextures

__all__ = ["consistency_loss", "hr_discriminator_loss", "hr_generator_loss"]


def consistency_loss(hr_image: Tensor, lr_image: Tensor, textures: ManifoldTextures) -> tuple[Tensor, Tensor]:
    """Loss (12)'s two terms: (image MSE, radiance-map MSE) between Down_s(HR) and LR.

    hr_image (B, 3, H, W) and lr_image (B, 3, h, w) in [-1, 1]; the maps are rgba in [0, 1] of every
    foreground manifold plus the background (whose alpha is 0 at both resolutions). LR targets are
    constants (the frozen stage-1 model).
    """
    scale = hr_image.shape[-1] // lr_image.shape[-1]
    image_term = F.mse_loss(bicubic_downsample(hr_image.float(), scale), lr_image.detach().float())
    hr_maps, lr_maps = textures.rgba(hr=True), textures.rgba(hr=False).detach()
    B, K, C, H, W = hr_maps.shape
    down = bicubic_downsample(hr_maps.reshape(B, K * C, H, W).float(), scale).reshape(lr_maps.shape)
    return image_term, F.mse_loss(down, lr_maps.float())


def _patch_logits(out) -> Tensor:
    return out.patch.flatten(1)


def hr_discriminator_loss(ctx: StepContext, resolution: int, r1_gamma: float = 3.0, lambda_pos: float = 15.0,
                          lambda_realpos: float = 15.0, patch_lambda: float = 0.1) -> LossResult:
    """The D phase of stage 2: the HR CoordConv D (pose head) and the patch D on HR reals and fakes."""
    disc, patch = ctx.modules["discriminator"], ctx.modules["patch_discriminator"]
    generator = ctx.generator
    real = resize_images(ctx.real.images.to(ctx.device), resolution).detach().requires_grad_(r1_gamma > 0)
    n = real.shape[0]
    with torch.no_grad():
        z, cams = ctx.sample_z(n), ctx.sample_cameras(n)
        with ctx.autocast():
            fakes = generator(z, cams, resolution=(resolution, resolution)).rgb
    with ctx.autocast():
        real_out, fake_out = disc(real), disc(fakes)
        real_patch, fake_patch = patch(real), patch(fakes)
    adv = discriminator_loss(real_out.logit, fake_out.logit)
    patch_adv = discriminator_loss(_patch_logits(real_patch), _patch_logits(fake_patch))
    loss = adv + patch_lambda * patch_adv
    logs = {"d_adv": adv.item(), "d_patch": patch_adv.item(), "d_real": real_out.logit.float().mean().item(),
            "d_fake": fake_out.logit.float().mean().item()}
    if r1_gamma > 0:
        r1 = r1_penalty(real_out.logit + patch_lambda * real_patch.logit, real, r1_gamma)
        loss = loss + r1
        logs["r1"] = r1.item()
    loss = loss + discriminator_pose_terms(ctx, real_out, fake_out, cams, lambda_pos, lambda_realpos, logs)
    logs["d_loss"] = loss.item()
    return LossResult(loss=loss, logs=logs)


def hr_generator_loss(ctx: StepContext, resolution: int, lambda_pos: float = 15.0, patch_lambda: float = 0.1,
                      lambda_cons: float = 1.0) -> LossResult:
    """The G phase of stage 2: adversarial (global + patch) + pose + cross-resolution consistency (12)."""
    disc, patch = ctx.modules["discriminator"], ctx.modules["patch_discriminator"]
    n = ctx.real.images.shape[0] if ctx.real is not None else ctx.stage.batch_size
    z, cams = ctx.sample_z(n), ctx.sample_cameras(n)
    with ctx.autocast():
        out = ctx.generator(z, cams, resolution=(resolution, resolution))
        d_out, p_out = disc(out.rgb), patch(out.rgb)
    adv = generator_loss(d_out.logit)
    patch_adv = generator_loss(_patch_logits(p_out))
    loss = adv + patch_lambda * patch_adv
    logs = {"g_adv": adv.item(), "g_patch": patch_adv.item()}
    if lambda_pos > 0 and d_out.pose is not None:
        pos = pose_loss(d_out.pose, camera_pose(cams))
        loss = loss + lambda_pos * pos
        logs["g_pose"] = pos.item()
    if lambda_cons > 0:
        image_term, map_term = consistency_loss(out.rgb, out.raw.rgb, out.extras["textures"])
        loss = loss + lambda_cons * (image_term + map_term)
        logs["cons_image"], logs["cons_maps"] = image_term.item(), map_term.item()
    logs["g_loss"] = loss.item()
    return LossResult(loss=loss, logs=logs)
