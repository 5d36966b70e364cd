"""Analytic calibration scenes: a textured sphere rendered exactly, consistent or not.

``TexturedSphereGenerator(consistent=True)`` is a perfectly 3D-consistent generator (its
rgb/depth are an exact ray-sphere intersection with a 3D procedural texture); with
``consistent=False`` the texture is rotated by an amount that depends on the camera, so
each view shows a different object: every consistency metric must rank it worse. Used by
the tests and as a fallback reference for calibration; the ``oracle`` models are the main one.
"""

from __future__ import annotations

import torch
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
