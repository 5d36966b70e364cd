"""GRAMInverter's image encoders: the coarse encoder E_w (image -> W+ and pose) and the detail U-Net.

Architectures are not specified beyond "an encoder to W+" and "a U-Net" (paper §3.2-3.3); these are
plain residual CNNs with LeakyReLU(0.2), average-pool down-sampling and bilinear up-sampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CoarseEncoder", "ResidualBlock", "UNet"]


class ResidualBlock(nn.Module):
    """Two 3x3 convs with LReLU(0.2) and a 1x1 skip; x (B, cin, H, W) -> (B, cout, H, W)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.leaky_relu(self.conv1(F.leaky_relu(x, 0.2)), 0.2))
        return (self.skip(x) + h) / math.sqrt(2)


def _widths(resolution: int, channels: int, max_channels: int, stop: int) -> list[int]:
    """Widths at sides resolution, resolution/2, ..., stop (doubling up to max_channels)."""
    n = int(round(math.log2(resolution / stop)))
    return [min(channels * 2 ** i, max_channels) for i in range(n + 1)]


class CoarseEncoder(nn.Module):
    """E_w: images (B, 3, R, R) in [-1, 1] -> W+ (B, num_ws, w_dim) and pose (B, 2) = (yaw, pitch) radians.

    Residual blocks halve the image down to 4x4; linear heads give W+ as offsets from ``mean_w``
    (the generator's mean w, passed in, as pSp/e4e start from the average latent) and the pose as
    offsets from the camera prior's mean. Both heads start at zero, so an untrained encoder answers
    the mean face at the mean pose. ``pose_head`` False: pose is None.
    """

    def __init__(self, resolution: int, num_ws: int, w_dim: int, channels: int = 32, max_channels: int = 256,
                 pose_head: bool = True, pose_mean: tuple[float, float] = (0.0, 0.0)):
        super().__init__()
        if resolution < 4 or 2 ** int(round(math.log2(resolution))) != resolution:
            raise ValueError(f"the encoder needs a power-of-two resolution >= 4, got {resolution}")
        ch = _widths(resolution, channels, max_channels, 4)
        self.from_rgb = nn.Conv2d(3, ch[0], 3, padding=1)
        self.blocks = nn.ModuleList([ResidualBlock(ch[i], ch[i + 1]) for i in range(len(ch) - 1)])
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(ch[-1] * 16, 4 * w_dim), nn.LeakyReLU(0.2))
        self.latent_head = nn.Linear(4 * w_dim, num_ws * w_dim)
        self.pose_head = nn.Linear(4 * w_dim, 2) if pose_head else None
        for head in (self.latent_head, self.pose_head):
            if head is not None:
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
        self.register_buffer("pose_mean", torch.tensor(pose_mean, dtype=torch.float32))
        self.resolution, self.num_ws, self.w_dim = resolution, num_ws, w_dim

    @property
    def has_pose_head(self) -> bool:
        return self.pose_head is not None

    def forward(self, images: Tensor, mean_w: Tensor) -> tuple[Tensor, Tensor | None]:
        if images.shape[-1] != self.resolution:
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="area")
        h = self.from_rgb(images)
        for block in self.blocks:
            h = F.avg_pool2d(block(h), 2)
        h = self.trunk(h)
        ws = mean_w.reshape(1, 1, self.w_dim) + self.latent_head(h).reshape(-1, self.num_ws, self.w_dim)
        pose = self.pose_mean + self.pose_head(h) if self.pose_head is not None else None
        return ws, pose


class UNet(nn.Module):
    """U-Net: x (B, cin, H, W) -> (B, cout, H / 2^out_level, W / 2^out_level).

    ``depth`` halvings with residual blocks (widths ``channels * 2^i`` up to ``max_channels``), then the
    decoder climbs back with skip connections only up to level ``out_level`` (the voxel's resolution),
    so both global (bottleneck) and local (skips) features reach the output.
    """

    def __init__(self, cin: int, cout: int, channels: int = 32, depth: int = 4, out_level: int = 0,
                 max_channels: int = 256):
        super().__init__()
        if not 0 <= out_level <= depth:
            raise ValueError(f"out_level must be in [0, depth={depth}], got {out_level}")
        ch = [min(channels * 2 ** i, max_channels) for i in range(depth + 1)]
        self.stem = nn.Conv2d(cin, ch[0], 3, padding=1)
        self.down = nn.ModuleList([ResidualBlock(ch[i], ch[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([ResidualBlock(ch[i + 1] + ch[i], ch[i]) for i in range(depth - 1, out_level - 1, -1)])
        self.out = nn.Conv2d(ch[out_level], cout, 1)
        self.depth, self.out_level = depth, out_level

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        skips = [h]
        for block in self.down:
            h = F.avg_pool2d(block(h), 2)
            skips.append(h)
        for block, skip in zip(self.up, reversed(skips[self.out_level:-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat([h, skip], dim=1))
        return self.out(F.leaky_relu(h, 0.2))
