"""Calibration generators: scenes whose consistency is known, for checking that metrics rank them right.

``TexturedSphereGenerator(consistent=True)`` is a perfectly 3D-consistent generator (its
rgb/depth are an exact ray-sphere intersection with a 3D procedural texture); with
``consistent=False`` the texture is rotated by an amount that depends on the camera, so
each view shows a different object: every consistency metric must rank it worse. Used by
the tests and as a fallback reference for calibration; the ``oracle`` models are the main one.

``DegradedGenerator`` wraps any generator and blurs its views and/or adds noise drawn per view:
a detail-free or a noisy model, which a consistency score must not rank above the original.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput


class TexturedSphereGenerator(Generator):
    """z (B, 4) -> a sphere of radius ~0.1 at the origin with a 3D sine texture; black background.

    z[:, 0] perturbs the radius, z[:, 1:4] the texture phase; ``frequency`` scales the texture's
    spatial frequency (lower = easier to fit). Units follow the camera prior
    (radius-1 cameras, 12 degree field of view).
    """

    z_dim = 4

    def __init__(self, consistent: bool = True, resolution: int = 32, jitter: float = 1.5, frequency: float = 1.0):
        super().__init__()
        self.consistent = consistent
        self.jitter = jitter
        self.resolution = (resolution, resolution)
        self.camera_prior = CameraPrior()
        self.register_buffer("frequency", frequency * torch.tensor([14.0, 19.0, 16.0]))

    def represent(self, z: Tensor, psi: float = 1.0) -> Tensor:
        return z * psi

    def render(self, representation: Tensor, cameras: Camera, resolution=None) -> RenderOutput:
        h, w = resolution or self.resolution
        z = representation.to(cameras.device, cameras.dtype)
        origins, dirs = cameras.rays(h, w)                                    # (B, P, 3)
        radius = (0.1 + 0.01 * torch.tanh(z[:, 0]))[:, None]
        b = (origins * dirs).sum(-1)
        c = (origins * origins).sum(-1) - radius ** 2
        disc = b * b - c
        hit = disc > 0
        t = -b - torch.sqrt(disc.clamp_min(0))
        points = origins + dirs * t[..., None]
        phase = z[:, None, 1:4]
        if not self.consistent:  # each camera sees the texture turned by an angle derived from its pose
            yaw = torch.atan2(-cameras.origins[:, 0], cameras.origins[:, 2])
            angle = (self.jitter * torch.sin(37.0 * yaw + 1.0))[:, None]
            x, zz = points[..., 0], points[..., 2]
            points = torch.stack([x * torch.cos(angle) - zz * torch.sin(angle), points[..., 1],
                                  x * torch.sin(angle) + zz * torch.cos(angle)], dim=-1)
        tex = 0.5 + 0.5 * torch.sin(points * self.frequency + phase)           # (B, P, 3)
        shade = torch.where(hit[..., None], tex, torch.zeros_like(tex))
        rgb = (shade * 2 - 1).transpose(1, 2).reshape(-1, 3, h, w)
        depth = torch.where(hit, t, torch.zeros_like(t)).reshape(-1, 1, h, w)
        alpha = hit.to(rgb.dtype).reshape(-1, 1, h, w)
        return RenderOutput(rgb=rgb, depth=depth, alpha=alpha)


def view_noise(cameras: Camera, channels: int, h: int, w: int) -> Tensor:
    """(B, C, H, W) standard-normal noise, the same for the same camera and independent across cameras."""
    from zoo3d.data.augment import stable_hash

    out = []
    for vec in cameras.to_eg3d().detach().cpu().double():
        key = stable_hash(0x5EED, *[int(round(float(x) * 1e6)) for x in vec[:16]])
        out.append(torch.randn(channels, h, w, generator=torch.Generator().manual_seed(key), dtype=torch.float32))
    return torch.stack(out).to(device=cameras.device, dtype=cameras.dtype)


def blur_radius(sigma: float) -> int:
    """Half-width (px) of :func:`gaussian_blur`'s kernel: 3 sigma, at least 1. Its reflect padding needs images
    wider and taller than this."""
    return max(1, math.ceil(3 * sigma))


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W) images with standard deviation ``sigma`` px (reflect padding, so
    the images must be larger than :func:`blur_radius` on both sides)."""
    if sigma <= 0:
        return images
    radius = blur_radius(sigma)
    x = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    k = torch.exp(-x ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = images.shape[1]
    out = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1),
                   groups=c)
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1),
                    groups=c)


class DegradedGenerator(Generator):
    """``base`` with every view blurred (Gaussian, ``blur`` px) and/or noised (std ``noise`` in [-1, 1] units).

    The noise is drawn per camera (the same camera always gets the same noise), so a blurred
    base stays almost exactly consistent but loses its detail, and a noised one keeps its detail
    but carries an unexplainable part that differs in every view. Depth and alpha pass through.
    """

    def __init__(self, base: Generator, blur: float = 0.0, noise: float = 0.0):
        super().__init__()
        self.base = base
        self.blur, self.noise = float(blur), float(noise)
        self.z_dim = base.z_dim
        self.resolution = base.resolution
        self.camera_prior = base.camera_prior
        self.strictly_3d_consistent = noise == 0 and bool(getattr(base, "strictly_3d_consistent", True))
        if noise > 0:  # what the report's notes say makes it inconsistent: no upsampler here
            self.inconsistency = "per-view noise"

    def represent(self, z: Tensor, psi: float = 1.0):
        return self.base.represent(z, psi)

    def render(self, representation, cameras: Camera, resolution=None) -> RenderOutput:
        out = self.base.render(representation, cameras, resolution)
        rgb = gaussian_blur(out.rgb, self.blur)
        if self.noise > 0:
            rgb = rgb + self.noise * view_noise(cameras, rgb.shape[1], *rgb.shape[-2:]).to(rgb.dtype)
        return RenderOutput(rgb=rgb.clamp(-1, 1), depth=out.depth, alpha=out.alpha)
