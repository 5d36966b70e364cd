"""The detail-manifold reconstructor (GRAMInverter §3.3).

image (B, 3, H, W) -> U-Net -> a low-resolution feature voxel in the *input camera's* space
(C_v x D x V x V: image rows/columns and camera depth) -> sampled at the texels of the manifolds
gridded at a low resolution, by projecting each texel's world point with the input camera
(LR detail manifolds, (B, N + 1, C_v, r, r) with the background plane as the last one) -> manifold
super-resolution, weights shared over manifolds -> HR detail manifolds (B, N + 1, C, R, R), added to the
coarse feature manifolds.

The last convolution of the super-resolution net starts at zero, so before training the detail branch
adds exactly nothing and GRAMInverter renders the coarse inversion.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.cameras import Camera
from zoo3d.nn.rrdb import RRDB
from zoo3d.render.gridding import BACKGROUND_Z, background_grid

from zoo3d_gram_inverter.config import DetailConfig
from zoo3d_gram_inverter.efficient_gram import FeatureManifolds
from zoo3d_gram_inverter.encoders import UNet

__all__ = ["DetailReconstructor", "ManifoldSuperResolution", "sample_camera_voxel"]


def sample_camera_voxel(voxel: Tensor, points: Tensor, cameras: Camera, near: float, far: float,
                        align_corners: bool = False, depth_border: bool = True) -> Tensor:
    """Trilinear samples (B, C, P) of a camera-space voxel (B, C, D, V, V) at world points (B, P, 3).

    Axes: width = image u, height = image v (rows from the top), depth = camera z mapped linearly from
    [near, far]. A cell is the block of image pixels the U-Net pooled into it, so its centre lies at
    ``(j + 0.5) / V`` of the image (and of [near, far] in depth), as every zoo3d pixel grid's
    (align_corners=False): a point on the ray through a cell's centre reads that cell. Points outside the
    image read zeros; points nearer or farther than the voxel's depth range read its first or last depth
    slice (``depth_border``): the background plane lies on the far face for a frontal camera and beyond it
    for any other, and zero padding there had halved or erased its detail. ``align_corners=True`` and
    ``depth_border=False`` are the reads before those fixes, only to replay runs recorded with them.
    """
    uv, z = cameras.project(points)
    depth = (z - near) / (far - near) * 2 - 1
    if depth_border:
        edge = 1.0 if align_corners else 1.0 - 1.0 / voxel.shape[2]  # the outer slices' centres
        depth = depth.clamp(-edge, edge)
    grid = torch.stack([uv[..., 0] * 2 - 1, uv[..., 1] * 2 - 1, depth], dim=-1)
    B, P = points.shape[:2]
    out = F.grid_sample(voxel, grid.reshape(B, 1, 1, P, 3).to(voxel.dtype), mode="bilinear", padding_mode="zeros",
                        align_corners=align_corners)
    return out.reshape(B, voxel.shape[1], P)


class ManifoldSuperResolution(nn.Module):
    """Per-manifold super-resolution: (M, cin, r, r) -> (M, cout, r*scale, r*scale).

    conv_first, ``blocks`` RRDBs with a long skip, log2(scale) stages of (3x3 conv to 4c -> pixel
    shuffle x2 -> LReLU 0.2), an HR conv + LReLU and a zero-initialised last conv.
    """

    def __init__(self, cin: int, cout: int, scale: int, nf: int = 64, blocks: int = 2, gc: int = 32):
        super().__init__()
        stages = int(round(math.log2(scale)))
        if 2 ** stages != scale:
            raise ValueError(f"manifold super-resolution needs a power-of-two scale, got {scale}")
        self.conv_first = nn.Conv2d(cin, nf, 3, padding=1)
        self.trunk = nn.Sequential(*[RRDB(nf, gc) for _ in range(blocks)])
        self.trunk_conv = nn.Conv2d(nf, nf, 3, padding=1)
        self.up = nn.ModuleList([nn.Conv2d(nf, 4 * nf, 3, padding=1) for _ in range(stages)])
        self.hr_conv = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, cout, 3, padding=1)
        nn.init.zeros_(self.conv_last.weight)
        nn.init.zeros_(self.conv_last.bias)

    def forward(self, x: Tensor) -> Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.trunk(fea))
        for conv in self.up:
            fea = F.leaky_relu(F.pixel_shuffle(conv(fea), 2), 0.2)
        return self.conv_last(F.leaky_relu(self.hr_conv(fea), 0.2))


class DetailReconstructor(nn.Module):
    """images (B, 3, H, W) + input cameras -> HR detail :class:`FeatureManifolds`.

    Args:
        config: :class:`DetailConfig`. image_resolution: encoder input side (images are resized to it).
        feature_dim, texture_resolution: the coarse feature manifolds' C and R (the detail matches them).
        near, far: the camera-depth range the voxel covers (the renderer's sampling range).
        background_z: the generator's background plane, whose detail manifold is read there.
    """

    def __init__(self, config: DetailConfig, image_resolution: int, feature_dim: int, texture_resolution: int,
                 near: float = 0.88, far: float = 1.12, background_z: float = BACKGROUND_Z):
        super().__init__()
        c = config
        level = int(round(math.log2(image_resolution / c.voxel_resolution)))
        if level < 0 or image_resolution != c.voxel_resolution * 2 ** level or level > c.unet_depth:
            raise ValueError(f"voxel_resolution {c.voxel_resolution} must be image resolution {image_resolution} "
                             f"divided by 2^k with k <= unet_depth {c.unet_depth}")
        if texture_resolution % c.lr_resolution:
            raise ValueError(f"texture_resolution {texture_resolution} must be a multiple of lr_resolution "
                             f"{c.lr_resolution}")
        self.unet = UNet(3, c.voxel_channels * c.voxel_depth, c.unet_channels, c.unet_depth, out_level=level)
        self.sr = ManifoldSuperResolution(c.voxel_channels, feature_dim, texture_resolution // c.lr_resolution,
                                          c.sr_channels, c.sr_blocks)
        self.config, self.image_resolution = c, image_resolution
        self.near, self.far, self.background_z = near, far, background_z

    def voxel(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) -> the camera-space feature voxel (B, C_v, D, V, V)."""
        if images.shape[-1] != self.image_resolution:
            images = F.interpolate(images, size=(self.image_resolution,) * 2, mode="area")
        v = self.unet(images)
        c = self.config
        return v.reshape(v.shape[0], c.voxel_channels, c.voxel_depth, v.shape[-2], v.shape[-1])

    def lowres_manifolds(self, images: Tensor, cameras: Camera, fg_points: Tensor) -> Tensor:
        """LR detail manifolds (B, N + 1, C_v, r, r): the voxel sampled at the gridded foreground points
        fg_points (1 or B, N, r, r, 3) and at the background plane's texels (last)."""
        voxel = self.voxel(images)
        B = voxel.shape[0]
        _, N, r, _, _ = fg_points.shape
        bg = background_grid(r, self.background_z, device=fg_points.device, dtype=fg_points.dtype).reshape(1, 1, r, r, 3)
        pts = torch.cat([fg_points, bg.expand(fg_points.shape[0], -1, -1, -1, -1)], dim=1)
        pts = pts.reshape(pts.shape[0], -1, 3).expand(B, -1, -1)
        feats = sample_camera_voxel(voxel, pts, cameras.to(device=voxel.device, dtype=pts.dtype), self.near, self.far)
        return feats.reshape(B, voxel.shape[1], N + 1, r, r).transpose(1, 2)

    def forward(self, images: Tensor, cameras: Camera, fg_points: Tensor) -> FeatureManifolds:
        lr = self.lowres_manifolds(images, cameras, fg_points)
        B, M, C, r, _ = lr.shape
        hr = self.sr(lr.reshape(B * M, C, r, r))
        hr = hr.reshape(B, M, hr.shape[1], hr.shape[2], hr.shape[3])
        return FeatureManifolds(hr[:, :-1], hr[:, -1])
