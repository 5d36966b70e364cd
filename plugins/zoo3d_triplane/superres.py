"""EG3D's super-resolution module: two StyleGAN2 synthesis blocks after the neural render.

The feature image (B, C, h, w) in [-1, 1] and its first 3 channels (the raw RGB) are resized
(antialiased bilinear) to ``input_resolution``; block 0 maps C -> channels[0] (x2 up-sampling when
the total factor is 4, as SuperresolutionHybrid8XDC; none when it is 2, as Hybrid2X/4X), block 1 maps
channels[0] -> channels[1] with x2 up-sampling. Each block adds its ToRGB to the (up-sampled) running
RGB, which starts from the raw RGB. Every layer is modulated by one style (EG3D: the last w,
repeated) and no noise is injected (EG3D's ``superresolution_noise_mode='none'``). Layer outputs are
clamped to +-``clamp`` (EG3D's ``conv_clamp`` = 256 in these fp16 blocks; None = none).
"""

from __future__ import annotations

from torch import Tensor, nn

from zoo3d.nn.modconv import StyledConv, ToRGB

from zoo3d.nn.resize import resize


class SynthesisBlock(nn.Module):
    """StyledConv(in -> out, optional x2 up) -> StyledConv(out -> out) -> ToRGB added to the running RGB.

    forward(x (B, in, h, w), rgb (B, 3, h, w), w (B, w_dim)) -> (x (B, out, h', w'), rgb (B, 3, h', w')).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, up: bool, clamp: float | None = None):
        super().__init__()
        self.conv0 = StyledConv(in_channels, out_channels, 3, w_dim, up=up, noise=False, clamp=clamp)
        self.conv1 = StyledConv(out_channels, out_channels, 3, w_dim, noise=False, clamp=clamp)
        self.to_rgb = ToRGB(out_channels, w_dim, 3, upsample=up, clamp=clamp)

    def forward(self, x: Tensor, rgb: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
        x = self.conv1(self.conv0(x, w), w)
        return x, self.to_rgb(x, w, rgb)


class SuperResolution(nn.Module):
    """(features (B, C, h, w) in [-1, 1], w (B, w_dim)) -> RGB (B, 3, resolution, resolution), linear.

    Args:
        in_channels: feature channels of the neural render (32). w_dim: style size.
        input_resolution: side the render is resized to first (128 for 512 output, 64 for 128).
        resolution: output side, 2x or 4x ``input_resolution``. channels: widths of the two blocks.
        clamp: the layers' output clamp (EG3D: 256).
    """

    def __init__(self, in_channels: int, w_dim: int, input_resolution: int, resolution: int,
                 channels: tuple[int, int], clamp: float | None = None):
        super().__init__()
        factor = resolution // input_resolution
        if factor not in (2, 4) or input_resolution * factor != resolution:
            raise ValueError(f"super-resolution factor must be 2 or 4, got {resolution} / {input_resolution}")
        self.block0 = SynthesisBlock(in_channels, channels[0], w_dim, up=factor == 4, clamp=clamp)
        self.block1 = SynthesisBlock(channels[0], channels[1], w_dim, up=True, clamp=clamp)
        self.input_resolution, self.resolution = input_resolution, resolution

    def forward(self, features: Tensor, w: Tensor) -> Tensor:
        x = resize(features, self.input_resolution)
        rgb = x[:, :3]
        x, rgb = self.block0(x, rgb, w)
        _, rgb = self.block1(x, rgb, w)
        return rgb
