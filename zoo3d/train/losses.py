"""GAN losses shared by every model plugin.

The engine knows nothing about GANs: a plugin's :class:`zoo3d.core.Phase` loss functions
call these. Logits follow the non-saturating convention (higher = more real).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating G loss ``E[softplus(-D(G(z)))]`` (a scalar)."""
    return F.softplus(-fake_logits.float()).mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Non-saturating D loss ``E[softplus(D(fake))] + E[softplus(-D(real))]`` (a scalar)."""
    return F.softplus(fake_logits.float()).mean() + F.softplus(-real_logits.float()).mean()


def r1_penalty(real_logits: Tensor, real_images: Tensor, gamma: float, interval: int = 1) -> Tensor:
    """R1 gradient penalty ``0.5 * gamma * E||grad_x D(x)||^2`` on real images.

    ``real_images`` must have been passed to D with ``requires_grad_(True)``. With lazy
    regularisation (StyleGAN2) the phase runs every ``interval`` steps and the penalty is
    multiplied by ``interval`` so its average strength is unchanged.
    """
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real_images, create_graph=True)
    squared_norm = grad.float().pow(2).flatten(1).sum(1)
    return 0.5 * gamma * squared_norm.mean() * interval


def pose_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """Mean squared error between predicted and target poses, e.g. (B, 2) (yaw, pitch) in radians."""
    return F.mse_loss(predicted.float(), target.to(predicted.device).float())
