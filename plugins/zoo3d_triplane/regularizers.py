"""EG3D's regularisers and schedules: density smoothness, pose-conditioning swaps, blur and resolution fade.

(R1 on both halves of the dual input is the shared :func:`zoo3d.train.losses.r1_penalty` over both.)"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.devices import at_least_float32

from zoo3d_triplane.field import TriplaneScene


def density_regularization(scene: TriplaneScene, num_points: int, perturb: float,
                           generator: torch.Generator | None = None) -> Tensor:
    """EG3D's density smoothness: mean |raw sigma(x) - raw sigma(x + eps)| (a scalar, before the weight).

    EG3D draws x ~ U([-1, 1]^3) and eps ~ N(0, perturb^2) per coordinate in its own length units, whatever
    its box (FFHQ's box of side 1 holds 1/8 of the points, ShapeNet's of side 1.6 about half); sigma is the
    decoder's raw density. The same here, with EG3D's unit expressed in world units as
    ``1 / scene.density_scale`` (0.25 in zoo3d's scaled head scene, 1 in a preset that keeps EG3D's units).
    """
    planes = scene.planes
    B = planes.shape[0]
    shape = (B, num_points, 3)
    unit = 1.0 / scene.density_scale
    u = torch.rand(shape, generator=generator, dtype=torch.float32)
    e = torch.randn(shape, generator=generator, dtype=torch.float32)
    x = ((u * 2 - 1) * unit).to(planes.device, planes.dtype)
    eps = (e * perturb * unit).to(planes.device, planes.dtype)
    raw, _ = scene.decode(torch.cat([x, x + eps], dim=1))
    raw = at_least_float32(raw)  # bf16 under autocast: fp32; a float64 model's float64 stays
    return F.l1_loss(raw[:, :num_points], raw[:, num_points:])


def linear_fade(step: int, fade_steps: int) -> float:
    """0 -> 1 linearly over ``fade_steps`` steps (1 at once when fade_steps is 0)."""
    return 1.0 if fade_steps <= 0 else min(max(step / fade_steps, 0.0), 1.0)


def swap_probability(step: int, target: float, fade_steps: int) -> float:
    """EG3D's GPC schedule: the swap probability fades from 1 to ``target`` over ``fade_steps``."""
    a = linear_fade(step, fade_steps)
    return (1 - a) * 1.0 + a * target


def blur_sigma(step: int, initial: float, fade_steps: int) -> float:
    """D-input blur in pixels: ``initial`` fading linearly to 0 over ``fade_steps`` (0 fade: no blur)."""
    if fade_steps <= 0:
        return 0.0
    return max(1.0 - step / fade_steps, 0.0) * initial


def conditioning_labels(c: Tensor, swap_prob: float, generator: torch.Generator | None = None) -> Tensor:
    """GPC: each row of the camera labels c (B, 25) becomes its neighbour's (roll by 1) with prob ``swap_prob``."""
    swap = torch.rand(c.shape[0], 1, generator=generator).to(c.device) < swap_prob
    return torch.where(swap, torch.roll(c, 1, dims=0), c)


def neural_resolution_at(step: int, initial: int, final: int, fade_steps: int) -> int:
    """EG3D's neural-rendering-resolution fade: round(initial (1 - a) + final a), a = step / fade_steps."""
    a = linear_fade(step, fade_steps)
    return int(round(initial * (1 - a) + final * a))
