"""Stand-in generators and linear discriminators whose GAN losses have closed forms (GRAM / GRAM-HD loss tests).

A linear D, ``logit = <w, x> + b``, has the input gradient ``w`` for every image, so its R1 penalty is
``gamma / 2 * |w|^2`` exactly; its pose head ``pose = mean(x) * p`` is linear too. The generators draw
``z`` (B, 1) then their cameras' (yaw, pitch) uniformly from the step's RNG and paint the constant
image ``level * z + yaw / 4``, so the losses can be recomputed by hand from the same draws.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.model import RealBatch, Stage, StepContext
from zoo3d.core.outputs import DiscriminatorOutput

class ConstantGenerator(torch.nn.Module):
    """z ~ U[0, 1) (B, 1), yaw ~ U[-0.3, 0.3), pitch ~ U[-0.15, 0.15) from ``generator``; images level * z + yaw / 4."""

    #: The scene and spread its cameras are drawn from (radius 1, 12 deg), in its own draw order: what a
    #: camera-conditioned discriminator's check of the reals' labels compares them with.
    camera_prior = CameraPrior(distribution="uniform", yaw_std=0.3, pitch_std=0.15)

    def __init__(self, level: float = 0.8):
        super().__init__()
        self.level = torch.nn.Parameter(torch.tensor(level))

    def sample_z(self, n, generator=None, device=None):
        return torch.rand(n, 1, generator=generator)

    def sample_cameras(self, n, generator=None, device=None):
        u = torch.rand(n, 2, generator=generator)
        return Camera.from_angles((u[:, 0] - 0.5) * 0.6, (u[:, 1] - 0.5) * 0.3)

    def image(self, z: Tensor, yaw: Tensor, resolution) -> Tensor:
        return (self.level * z + yaw[:, None] / 4)[:, :, None, None].expand(z.shape[0], 3, *resolution)

    def forward(self, z, cameras, resolution):
        return SimpleNamespace(rgb=self.image(z, cameras.to_angles()["yaw"], resolution))


class LinearD(torch.nn.Module):
    """logit = <w, x> + b; pose = mean(x) * p (or no pose head)."""

    def __init__(self, resolution: int, seed: int = 0, pose: bool = True):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(3, resolution, resolution, generator=g) * 0.1)
        self.b = torch.nn.Parameter(torch.tensor(0.2))
        self.p = torch.nn.Parameter(torch.tensor([0.5, -0.3])) if pose else None

    def logit(self, x: Tensor) -> Tensor:
        return (x * self.w).sum(dim=(1, 2, 3))[:, None] + self.b

    def pose(self, x: Tensor) -> Tensor | None:
        return None if self.p is None else x.mean(dim=(1, 2, 3))[:, None] * self.p

    def forward(self, x, cameras=None):
        return DiscriminatorOutput(logit=self.logit(x), pose=self.pose(x))


def softplus(x: Tensor) -> Tensor:
    return torch.log1p(torch.exp(x))


def area_half(x: Tensor) -> Tensor:
    """(B, C, 2R, 2R) -> (B, C, R, R): the mean of each 2 x 2 block."""
    B, C, H, W = x.shape
    return x.reshape(B, C, H // 2, 2, W // 2, 2).mean(dim=(3, 5))


def real_batch(n: int, resolution: int, seed: int = 1, cameras: bool = True) -> RealBatch:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, resolution, resolution, generator=g) * 2 - 1
    cams = Camera.from_angles(torch.rand(n, generator=g) - 0.5, torch.rand(n, generator=g) * 0.4 - 0.2)
    return RealBatch(images=images, cameras=cams if cameras else None)


def context(modules: dict, real: RealBatch | None, seed: int = 5, batch_size: int = 3) -> StepContext:
    stage = Stage(name="s", steps=1, phases=[], optimizers={}, batch_size=batch_size)
    return StepContext(modules=modules, config=None, stage=stage, step=0, stage_step=0,
                       device=torch.device("cpu"), real=real, rng=torch.Generator().manual_seed(seed))


def draws(n: int, seed: int = 5) -> tuple[Tensor, Tensor]:
    """z (n, 1) and (yaw, pitch) (n, 2) a :class:`ConstantGenerator` draws first from ``context(seed=seed)``'s RNG."""
    g = torch.Generator().manual_seed(seed)
    z, u = torch.rand(n, 1, generator=g), torch.rand(n, 2, generator=g)
    return z, torch.stack([(u[:, 0] - 0.5) * 0.6, (u[:, 1] - 0.5) * 0.3], dim=-1)


def fakes(gen: ConstantGenerator, n: int, resolution: int, seed: int = 5) -> Tensor:
    """The images ``gen`` paints from those draws, (n, 3, R, R)."""
    z, pose = draws(n, seed)
    return gen.image(z, pose[:, 0], (resolution, resolution))


def sampled_pose(n: int, seed: int = 5) -> Tensor:
    return draws(n, seed)[1]
