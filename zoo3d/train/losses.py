"""GAN losses shared by every model plugin.

The engine knows nothing about GANs: the adversarial steps (:mod:`zoo3d.train.gan`) and a plugin's own
:class:`zoo3d.core.Phase` loss functions call these. Logits follow the non-saturating convention
(higher = more real).

Each loss is computed in at least float32: logits that arrive in bf16 or fp16 under autocast are widened to
float32, and a float64 model's logits stay float64 (its losses can be checked with
``torch.autograd.gradcheck``).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.devices import at_least_float32


def generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating G loss ``E[softplus(-D(G(z)))]`` (a scalar)."""
    return F.softplus(-at_least_float32(fake_logits)).mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Non-saturating D loss ``E[softplus(D(fake))] + E[softplus(-D(real))]`` (a scalar)."""
    return F.softplus(at_least_float32(fake_logits)).mean() + F.softplus(-at_least_float32(real_logits)).mean()


def r1_penalty(real_logits: Tensor, real_inputs: Tensor | Sequence[Tensor], gamma: float, interval: int = 1) -> Tensor:
    """R1 gradient penalty ``0.5 * gamma * E sum_i ||grad_{x_i} D(x)||^2`` on real inputs.

    ``real_inputs`` (one tensor, or several: EG3D's dual discriminator sees the image and its raw
    half) must have been passed to D with ``requires_grad_(True)``. With lazy regularisation
    (StyleGAN2) the phase runs every ``interval`` steps and the penalty is multiplied by
    ``interval`` so its average strength is unchanged.
    """
    inputs = [real_inputs] if isinstance(real_inputs, Tensor) else list(real_inputs)
    grads = torch.autograd.grad(at_least_float32(real_logits).sum(), inputs, create_graph=True)
    squared_norm = sum(at_least_float32(g).pow(2).flatten(1).sum(1) for g in grads)
    return 0.5 * gamma * squared_norm.mean() * interval


def pose_target(cameras: Camera) -> Tensor:
    """(B, 2) (yaw, pitch) in radians of the cameras: what a discriminator's pose head regresses."""
    angles = cameras.to_angles()
    return torch.stack([angles["yaw"], angles["pitch"]], dim=-1)


def pose_loss(predicted: Tensor, target: Tensor, kind: str = "mse") -> Tensor:
    """Mean ``mse`` (GRAM, pi-GAN) or ``smooth_l1`` (StyleSDF) error between predicted and target poses,
    e.g. (B, 2) (yaw, pitch) in radians."""
    predicted = at_least_float32(predicted)
    target = target.to(device=predicted.device, dtype=predicted.dtype)
    if kind == "smooth_l1":
        return F.smooth_l1_loss(predicted, target)
    return F.mse_loss(predicted, target)


def topk_fraction(step: int, interval: int, minimum: float) -> float:
    """pi-GAN's top-k schedule: max(0.99^(step / interval), minimum)."""
    return max(0.99 ** (step / interval), minimum)


def topk_generator_loss(fake_logits: Tensor, fraction: float, group: int | None = None) -> Tensor:
    """Non-saturating G loss over the ceil(fraction * n) most realistic of each ``group`` of n consecutive fakes
    (pi-GAN's top-k training; None: the whole batch is one group).

    pi-GAN takes the top k within each of its ``batch_split`` sub-batches and sums their gradients, so the
    loss here is the mean of the groups' losses, each weighted by its share of the fakes (a last, smaller
    group weighs less, as a smaller micro-batch does in the engine)."""
    logits = at_least_float32(fake_logits).reshape(-1)
    total = logits.new_zeros(())
    for part in logits.split(group or logits.numel()):
        k = max(1, math.ceil(fraction * part.numel()))
        total = total + F.softplus(-torch.topk(part, k).values).mean() * (part.numel() / logits.numel())
    return total
