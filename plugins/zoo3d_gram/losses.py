"""GRAM's discriminator and generator phase losses, parameterised so GRAM-HD's stage 1 reuses them.

D: softplus(D(fake)) + softplus(-D(real)) + R1(gamma) + lambda_pos * MSE(pose(fake), sampled pose)
   + lambda_realpos * MSE(pose(real), dataset pose).
G: softplus(-D(fake)) + lambda_pos * MSE(pose(fake), sampled pose).
Poses are (yaw, pitch) in radians in the zoo3d convention (:mod:`zoo3d.cameras`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.model import LossResult, StepContext
from zoo3d.train.losses import discriminator_loss, generator_loss, pose_loss, r1_penalty

__all__ = [
    "camera_pose", "discriminator_pose_terms", "discriminator_step_loss", "generator_step_loss", "generate_fakes",
    "resize_images",
]


def camera_pose(cameras: Camera) -> Tensor:
    """(B, 2) (yaw, pitch) in radians: the pose head's regression target."""
    angles = cameras.to_angles()
    return torch.stack([angles["yaw"], angles["pitch"]], dim=-1)


def resize_images(images: Tensor, resolution: int) -> Tensor:
    """(B, C, H, W) -> (B, C, resolution, resolution) by area averaging (no-op when already that size)."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    return F.interpolate(images, size=(resolution, resolution), mode="area")


def generate_fakes(ctx: StepContext, batch_size: int, resolution: int,
                   generator_key: str = "generator") -> tuple[Tensor, Camera]:
    """Images (B, 3, R, R) from prior latents and prior cameras, and those cameras."""
    generator = ctx.modules[generator_key]
    z = generator.sample_z(batch_size, generator=ctx.rng, device=ctx.device)
    cameras = generator.sample_cameras(batch_size, generator=ctx.rng, device=ctx.device)
    with ctx.autocast():
        images = generator(z, cameras, resolution=(resolution, resolution)).rgb
    return images, cameras


def discriminator_pose_terms(ctx: StepContext, real_out, fake_out, fake_cams: Camera, lambda_pos: float,
                             lambda_realpos: float, logs: dict) -> Tensor | float:
    """The D's pose regression: lambda_pos * MSE on fakes (sampled poses) + lambda_realpos * MSE on reals
    (dataset poses, when the batch has cameras); each term's value is logged."""
    total: Tensor | float = 0.0
    if lambda_pos > 0 and fake_out.pose is not None:
        pos = pose_loss(fake_out.pose, camera_pose(fake_cams))
        total = total + lambda_pos * pos
        logs["d_pose_fake"] = pos.item()
    if lambda_realpos > 0 and real_out.pose is not None and ctx.real.cameras is not None:
        real_pos = pose_loss(real_out.pose, camera_pose(ctx.real.cameras.to(device=ctx.device)))
        total = total + lambda_realpos * real_pos
        logs["d_pose_real"] = real_pos.item()
    return total


def _batch_size(ctx: StepContext) -> int:
    return ctx.real.images.shape[0] if ctx.real is not None else ctx.stage.batch_size


def discriminator_step_loss(ctx: StepContext, resolution: int, r1_gamma: float = 1.0, lambda_pos: float = 15.0,
                            lambda_realpos: float = 15.0, generator_key: str = "generator",
                            discriminator_key: str = "discriminator") -> LossResult:
    """The D phase: fakes rendered without grad at ``resolution``, reals from ``ctx.real``."""
    disc = ctx.modules[discriminator_key]
    real = resize_images(ctx.real.images.to(ctx.device), resolution).detach().requires_grad_(r1_gamma > 0)
    with torch.no_grad():
        fakes, fake_cams = generate_fakes(ctx, real.shape[0], resolution, generator_key)
    with ctx.autocast():
        real_out = disc(real)
        fake_out = disc(fakes.detach())
    adv = discriminator_loss(real_out.logit, fake_out.logit)
    loss = adv
    logs = {"d_adv": adv.item(), "d_real": real_out.logit.float().mean().item(),
            "d_fake": fake_out.logit.float().mean().item()}
    if r1_gamma > 0:
        r1 = r1_penalty(real_out.logit, real, r1_gamma)
        loss = loss + r1
        logs["r1"] = r1.item()
    loss = loss + discriminator_pose_terms(ctx, real_out, fake_out, fake_cams, lambda_pos, lambda_realpos, logs)
    logs["d_loss"] = loss.item()
    return LossResult(loss=loss, logs=logs)


def generator_step_loss(ctx: StepContext, resolution: int, lambda_pos: float = 15.0,
                        generator_key: str = "generator", discriminator_key: str = "discriminator") -> LossResult:
    """The G phase: non-saturating loss plus the pose loss on fakes rendered with grad."""
    disc = ctx.modules[discriminator_key]
    fakes, fake_cams = generate_fakes(ctx, _batch_size(ctx), resolution, generator_key)
    with ctx.autocast():
        out = disc(fakes)
    adv = generator_loss(out.logit)
    loss = adv
    logs = {"g_adv": adv.item()}
    if lambda_pos > 0 and out.pose is not None:
        pos = pose_loss(out.pose, camera_pose(fake_cams))
        loss = loss + lambda_pos * pos
        logs["g_pose"] = pos.item()
    logs["g_loss"] = loss.item()
    return LossResult(loss=loss, logs=logs)
