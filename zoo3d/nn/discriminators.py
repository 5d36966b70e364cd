"""Image discriminators shared by the models; all return :class:`zoo3d.core.DiscriminatorOutput`.

* :class:`CoordConvDiscriminator` — GRAM's fixed-resolution CoordConv residual encoder with a
  pose head (logit + (yaw, pitch)), used by GRAM, GRAM-HD, GRAMInverter and StyleSDF; its blocks
  (:class:`ResidualCoordConvBlock`, :class:`FromRGB`, :func:`coordconv_channels`) also build pi-GAN's
  progressive variant (``zoo3d_pigan.discriminator``).
* :class:`StyleGAN2Discriminator` — residual StyleGAN2 discriminator with FIR down-sampling,
  minibatch-stddev and EG3D's camera-conditioned projection output (tri-plane, StyleSDF).

GRAM-HD's patch discriminator lives with GRAM-HD (``zoo3d_gram_hd.discriminator``).

Inputs are images (B, C, H, W) in [-1, 1].
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.cameras import Camera
from zoo3d.core.discriminator import Discriminator
from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.nn.equalized import BiasLeakyReLU, EqualConv2d, EqualLinear
from zoo3d.nn.fir import DEFAULT_KERNEL, Blur
from zoo3d.nn.mapping import MappingNetwork

__all__ = [
    "CoordConv2d", "CoordConvDiscriminator", "FromRGB", "MinibatchStd", "ResidualCoordConvBlock",
    "StyleGAN2Discriminator", "coordconv_channels", "log2_resolution", "mbstd_group", "minibatch_stddev", "split_logit_pose",
]


def log2_resolution(resolution: int) -> int:
    """log2 of a discriminator's input side, which must be a power of two >= 4 (ValueError otherwise)."""
    log2 = int(round(math.log2(resolution)))
    if resolution < 4 or 2 ** log2 != resolution:
        raise ValueError(f"discriminator resolution must be a power of two >= 4, got {resolution}")
    return log2


# --------------------------------------------------------------------------- CoordConv (GRAM / pi-GAN)
class CoordConv2d(nn.Module):
    """Conv2d on the input plus two coordinate channels, both linspace(-1, 1): y (down the rows), then x (across columns).

    (B, C, H, W) -> conv over (B, C + 2, H, W). The order matches pi-GAN/GRAM/StyleSDF (their ``xx`` channel
    runs along the first spatial axis), so upstream weights map one-to-one. PyTorch's default conv init, as upstream.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, **conv_kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels + 2, out_channels, kernel_size, **conv_kwargs)

    @staticmethod
    def add_coords(x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C + 2, H, W) with channel C = row coordinate y, C + 1 = column coordinate x."""
        b, _, h, w = x.shape
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        return torch.cat([x, ys, xs], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.add_coords(x))


class ResidualCoordConvBlock(nn.Module):
    """Two 3x3 CoordConv + LReLU(0.2); avg-pool x2 on both branches; 1x1 skip projection if channels change; (y + skip)/sqrt(2).

    (B, in, H, W) -> (B, out, H/2, W/2) (or H, W when ``downsample=False``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, downsample: bool = True):
        super().__init__()
        p = kernel_size // 2
        self.network = nn.Sequential(
            CoordConv2d(in_channels, out_channels, kernel_size, padding=p), nn.LeakyReLU(0.2),
            CoordConv2d(out_channels, out_channels, kernel_size, padding=p), nn.LeakyReLU(0.2),
        )
        self.proj = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        y = self.network(x)
        if self.downsample:
            y = F.avg_pool2d(y, 2)
            x = F.avg_pool2d(x, 2)
        if self.proj is not None:
            x = self.proj(x)
        return (y + x) * (1.0 / math.sqrt(2.0))


def coordconv_channels(resolution: int, max_channels: int = 400, channel_scale: float = 1.0) -> int:
    """Channels of the CoordConv encoder at a feature resolution: min(max_channels, scale * 2^(13 - log2 R)), at least 1."""
    log2 = int(round(math.log2(resolution)))
    return max(1, min(max_channels, int(round(channel_scale * 2 ** (13 - log2)))))


class FromRGB(nn.Sequential):
    """1x1 conv + LReLU 0.2: an image into the encoder's first width."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, 1), nn.LeakyReLU(0.2))


def split_logit_pose(out: Tensor, pose_dim: int) -> DiscriminatorOutput:
    """(B, 1 + pose_dim, 1, 1) -> the logit (B, 1) and the pose (B, pose_dim) (None when pose_dim is 0)."""
    out = out.flatten(1)
    return DiscriminatorOutput(logit=out[:, :1], pose=out[:, 1:1 + pose_dim] if pose_dim > 0 else None)


class CoordConvDiscriminator(Discriminator):
    """GRAM's GramDiscriminator: fixed-resolution CoordConv residual encoder with a pose head.

    fromRGB 1x1 conv to ``coordconv_channels(R)`` + LReLU, log2(R) - 1 residual blocks down to 2x2
    (channels ``coordconv_channels`` of each level, i.e. 2^(13 - log2 r) capped at ``max_channels``),
    then Conv2d(C, 1 + pose_dim, k=2). ``pose`` is (B, pose_dim) = (yaw, pitch) in radians in the zoo3d
    convention (GRAM regresses (phi, theta); the training recipe supplies targets in zoo3d's order).

    Args:
        resolution: input side R (power of two). max_channels: cap (400 upstream).
        pose_dim: pose outputs (2; 0 = logit only). channel_scale: multiplies every width (tiny presets).
        in_channels: image channels (3).
        mbstd_group: 0 (upstream: none) or the group size of a minibatch-stddev feature map appended before
            the final conv, which lets D see how alike the images of a batch are (against mode collapse).
    """

    def __init__(self, resolution: int, max_channels: int = 400, pose_dim: int = 2, channel_scale: float = 1.0,
                 in_channels: int = 3, mbstd_group: int = 0):
        super().__init__()
        log2 = log2_resolution(resolution)
        ch = [coordconv_channels(2 ** r, max_channels, channel_scale) for r in range(log2, 0, -1)]
        self.from_rgb = FromRGB(in_channels, ch[0])
        self.blocks = nn.Sequential(*[ResidualCoordConvBlock(ch[i], ch[i + 1]) for i in range(len(ch) - 1)])
        self.mbstd = MinibatchStd(mbstd_group) if mbstd_group > 0 else None
        self.final = nn.Conv2d(ch[-1] + (1 if mbstd_group > 0 else 0), 1 + pose_dim, 2)
        self.resolution, self.pose_dim, self.mbstd_group = resolution, pose_dim, mbstd_group

    def forward(self, images: Tensor, cameras: Camera | None = None) -> DiscriminatorOutput:
        if images.shape[-1] != self.resolution or images.shape[-2] != self.resolution:
            raise ValueError(f"expected {self.resolution}x{self.resolution} images, got {tuple(images.shape[-2:])}")
        x = self.blocks(self.from_rgb(images))
        if self.mbstd is not None:
            x = self.mbstd(x)
        return split_logit_pose(self.final(x), self.pose_dim)


# --------------------------------------------------------------------------- StyleGAN2 (EG3D / StyleSDF)
def mbstd_group(batch: int, group_size: int) -> int:
    """The images in each group of :func:`minibatch_stddev` over a pass of ``batch`` images: the largest divisor of
    ``batch`` not above ``group_size`` (1 for a prime batch above it: 5 images in groups of up to 4 are 5 groups of 1,
    of standard deviation 0)."""
    return max(d for d in range(1, min(group_size, batch) + 1) if batch % d == 0)


def minibatch_stddev(x: Tensor, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8) -> Tensor:
    """Append the mean std over groups of samples as ``num_channels`` extra feature maps; (B, C, H, W) -> (B, C + F, H, W).

    The group is the largest divisor of B not above ``group_size`` (so odd batches still work). A discriminator
    takes it through the layer :class:`MinibatchStd`, which the training engine finds among the modules a stage trains
    to refuse a ``train.micro_batch`` or a process's share that would group one image at a time (a map of 0); called
    directly, as here, the group is invisible to that check.
    """
    b, c, h, w = x.shape
    g = mbstd_group(b, group_size)
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + eps).sqrt().mean(dim=(2, 3, 4))  # (B/g, F)
    y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class MinibatchStd(nn.Module):
    """:func:`minibatch_stddev` as a layer. It couples the images of one forward pass in groups of ``group_size``,
    so the training engine finds it in a model's modules and refuses a ``train.micro_batch`` whose chunks hold fewer
    images than a group (as StyleGAN2-ADA and EG3D refuse a ``--batch-gpu`` below ``--mbstd-group``): a discriminator
    of a plugin built with it gets that check too."""

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: Tensor) -> Tensor:
        return minibatch_stddev(x, self.group_size, self.num_channels)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class _ConvLayer(nn.Sequential):
    """Equalised conv, optionally FIR-blurred and stride-2 down-sampled, optionally bias + scaled LReLU, whose
    output is then clamped to +-``clamp`` (StyleGAN2-ADA's ``conv_clamp``; None = none)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 activate: bool = True, bias: bool = True, blur_kernel: Sequence[float] = DEFAULT_KERNEL,
                 clamp: float | None = None):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias and not activate))
        if activate:
            layers.append(BiasLeakyReLU(out_channels))
        super().__init__(*layers)
        self.clamp = clamp

    def forward(self, x: Tensor) -> Tensor:
        x = super().forward(x)
        return x if self.clamp is None else x.clamp(-self.clamp, self.clamp)


class _ResBlock(nn.Module):
    """StyleGAN2 residual D block: conv3x3, conv3x3 with FIR down-sampling (each clamped to +-``clamp``); 1x1
    down-sampled skip (not clamped); sum / sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, blur_kernel: Sequence[float] = DEFAULT_KERNEL,
                 clamp: float | None = None):
        super().__init__()
        self.conv1 = _ConvLayer(in_channels, in_channels, 3, clamp=clamp)
        self.conv2 = _ConvLayer(in_channels, out_channels, 3, downsample=True, blur_kernel=blur_kernel, clamp=clamp)
        self.skip = _ConvLayer(in_channels, out_channels, 1, downsample=True, activate=False, bias=False,
                               blur_kernel=blur_kernel)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) * (1.0 / math.sqrt(2.0))


class StyleGAN2Discriminator(Discriminator):
    """Residual StyleGAN2 discriminator; with ``c_dim`` > 0, EG3D's camera-conditioned projection output.

    fromRGB 1x1 -> residual blocks R -> 4 (widths min(channel_base / r, max_channels)) -> minibatch
    stddev -> conv3x3 -> FC(C*16, C) -> FC(C, cmap_dim or 1). Conditioned: the camera vector c (B, c_dim)
    goes through a mapping network (no z) to ``cmap`` (B, cmap_dim) and
    ``logit = (features * cmap).sum(1) / sqrt(cmap_dim)``.

    Args:
        resolution: input side (power of two). in_channels: 3, or 6 for EG3D's image + upsampled raw render.
        channel_base, max_channels: widths (32768 and 512 upstream). c_dim: 25 for EG3D cameras, 0 = none.
        cmap_dim: projection size (defaults to the 4x4 width). mapping_layers: layers of the c mapping (8).
        mbstd_group_size, mbstd_num_channels: minibatch-stddev grouping (4, 1).
        clamp: StyleGAN2-ADA's ``conv_clamp``, the output clamp of fromRGB, each block's two 3x3 convs and the
            final conv (not the skips or the FC layers), as EG3D's D at its default 256; None = none.

    forward(images, cameras=None, c=None): c defaults to ``cameras.to_eg3d()`` when the D is conditioned.
    """

    def __init__(self, resolution: int, in_channels: int = 3, channel_base: int = 32768, max_channels: int = 512,
                 c_dim: int = 0, cmap_dim: int | None = None, mapping_layers: int = 8, mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1, blur_kernel: Sequence[float] = DEFAULT_KERNEL,
                 clamp: float | None = None):
        super().__init__()
        log2 = log2_resolution(resolution)
        ch = {2 ** r: max(1, min(channel_base // 2 ** r, max_channels)) for r in range(2, log2 + 1)}
        self.from_rgb = _ConvLayer(in_channels, ch[resolution], 1, clamp=clamp)
        self.blocks = nn.Sequential(*[_ResBlock(ch[2 ** r], ch[2 ** (r - 1)], blur_kernel, clamp)
                                      for r in range(log2, 2, -1)])
        c4 = ch[4]
        self.mbstd_group_size, self.mbstd_num_channels = mbstd_group_size, mbstd_num_channels
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_num_channels)
        self.final_conv = _ConvLayer(c4 + mbstd_num_channels, c4, 3, clamp=clamp)
        self.final_fc = EqualLinear(c4 * 16, c4, activation="lrelu")
        self.c_dim = c_dim
        self.cmap_dim = (cmap_dim or c4) if c_dim > 0 else 0
        self.out = EqualLinear(c4, self.cmap_dim if c_dim > 0 else 1)
        self.mapping = (MappingNetwork(0, self.cmap_dim, num_layers=mapping_layers, c_dim=c_dim, w_avg_beta=None)
                        if c_dim > 0 else None)
        self.resolution = resolution

    def forward(self, images: Tensor, cameras: Camera | None = None, c: Tensor | None = None) -> DiscriminatorOutput:
        x = self.blocks(self.from_rgb(images))
        x = self.mbstd(x)
        x = self.final_fc(self.final_conv(x).flatten(1))
        x = self.out(x)
        if self.mapping is None:
            return DiscriminatorOutput(logit=x)
        if c is None:
            if cameras is None:
                raise ValueError("this discriminator is camera-conditioned: pass cameras or c")
            c = cameras.to_eg3d()
        cmap = self.mapping(None, c.to(x))
        logit = (x * cmap).sum(dim=1, keepdim=True) * (1.0 / math.sqrt(self.cmap_dim))
        return DiscriminatorOutput(logit=logit)
