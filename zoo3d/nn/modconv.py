"""StyleGAN2 synthesis pieces: modulated convolution, styled conv, ToRGB, and a synthesis network on W+.

``ModulatedConv2d`` scales the input channels of a shared kernel by a per-sample style,
optionally demodulates (normalises each output filter to unit L2 norm so unit-variance input
gives unit-variance output), and runs the whole batch as one grouped convolution.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.nn.equalized import BiasLeakyReLU, EqualLinear
from zoo3d.nn.fir import DEFAULT_KERNEL, Blur, Upsample

__all__ = ["Blur", "ModulatedConv2d", "NoiseInjection", "StyleSynthesis", "StyledConv", "ToRGB", "Upsample"]


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution; x (B, in, H, W), style (B, style_dim) -> (B, out, H', W').

    Args:
        in_channels, out_channels, kernel_size: the convolution (padding keeps the size).
        style_dim: size of the style vector, mapped to per-input-channel scales by an equalised
            affine layer (bias 1). ``None``: the style *is* the (B, in_channels) scale vector
            (GRAM-HD's super-resolution net, whose own mapping MLP produces the scales).
        demodulate: normalise each output filter per sample (off for ToRGB-style outputs).
        up: x2 transposed convolution followed by a [1,3,3,1] FIR blur (H' = 2H).
        bias: add a learned per-channel bias after the convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int | None,
                 demodulate: bool = True, up: bool = False, bias: bool = False,
                 blur_kernel: Sequence[float] = DEFAULT_KERNEL, eps: float = 1e-8):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0) if style_dim is not None else None
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.up, self.eps = demodulate, up, eps
        if up:
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)

    def modulated_weight(self, style: Tensor) -> Tensor:
        """Per-sample kernels (B, out, in, k, k), demodulated if configured."""
        s = self.modulation(style) if self.modulation is not None else style
        w = self.weight[None] * self.scale * s[:, None, :, None, None]
        if self.demodulate:
            w = w * torch.rsqrt(w.square().sum(dim=(2, 3, 4), keepdim=True) + self.eps)
        return w

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        b, c, h, wd = x.shape
        w = self.modulated_weight(style).to(x.dtype)
        k = self.kernel_size
        x = x.reshape(1, b * c, h, wd)
        if self.up:
            w = w.transpose(1, 2).reshape(b * c, self.out_channels, k, k)
            out = F.conv_transpose2d(x, w, stride=2, groups=b)
            out = self.blur(out.reshape(b, self.out_channels, *out.shape[-2:]))
        else:
            out = F.conv2d(x, w.reshape(b * self.out_channels, c, k, k), padding=k // 2, groups=b)
            out = out.reshape(b, self.out_channels, *out.shape[-2:])
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"demodulate={self.demodulate}, up={self.up}")


class NoiseInjection(nn.Module):
    """Adds learned-strength (init 0) per-pixel Gaussian noise, shared across channels; (B, C, H, W) -> same.

    Modes: "random" draws fresh noise, "const" uses a fixed buffer drawn at construction (needs ``resolution``;
    the same z then always gives the same output), "none" adds nothing. An explicit ``noise`` tensor wins.
    """

    def __init__(self, resolution: int | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        if resolution is not None:
            self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        else:
            self.noise_const = None

    def forward(self, x: Tensor, noise: Tensor | None = None, mode: str = "random") -> Tensor:
        if noise is None:
            if mode == "none":
                return x
            if mode == "const":
                if self.noise_const is None or self.noise_const.shape[-2:] != x.shape[-2:]:
                    raise ValueError(f"no constant noise for {tuple(x.shape[-2:])} maps: "
                                     "build the layer with that resolution")
                noise = self.noise_const
            elif mode == "random":
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
            else:
                raise ValueError(f"noise mode must be 'random', 'const' or 'none', got {mode!r}")
        return x + self.weight * noise.to(x.dtype)


class StyledConv(nn.Module):
    """ModulatedConv2d -> optional noise injection -> bias + leaky ReLU 0.2 x sqrt(2) [-> clamp to +-``clamp``].

    forward(x, style, noise=None, noise_mode="random"|"const"|"none"); "const" needs ``resolution`` (the output side).
    ``clamp``: StyleGAN2-ADA's ``conv_clamp`` (e.g. 256 in EG3D's super-resolution layers), applied after the
    activation; None = no clamping.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, up: bool = False,
                 demodulate: bool = True, noise: bool = True, resolution: int | None = None,
                 blur_kernel: Sequence[float] = DEFAULT_KERNEL, clamp: float | None = None):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, demodulate=demodulate,
                                    up=up, blur_kernel=blur_kernel)
        self.noise = NoiseInjection(resolution) if noise else None
        self.activate = BiasLeakyReLU(out_channels)
        self.clamp = clamp

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None, noise_mode: str = "random") -> Tensor:
        out = self.conv(x, style)
        if self.noise is not None:
            out = self.noise(out, noise, noise_mode)
        out = self.activate(out)
        return out if self.clamp is None else out.clamp(-self.clamp, self.clamp)


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation + bias, plus the FIR-upsampled skip from the previous resolution.

    forward(x (B, in, H, W), style, skip (B, out, H/2, W/2) or None) -> (B, out, H, W).
    ``clamp``: StyleGAN2-ADA's ``conv_clamp`` on this layer's own output (before the skip is added); None = none.
    """

    def __init__(self, in_channels: int, style_dim: int, out_channels: int = 3, upsample: bool = True,
                 blur_kernel: Sequence[float] = DEFAULT_KERNEL, clamp: float | None = None):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.upsample = Upsample(blur_kernel) if upsample else None
        self.clamp = clamp

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x, style) + self.bias
        if self.clamp is not None:
            out = out.clamp(-self.clamp, self.clamp)
        if skip is not None:
            out = out + (self.upsample(skip) if self.upsample is not None else skip)
        return out


class StyleSynthesis(nn.Module):
    """StyleGAN2 synthesis network (skip architecture) from ``start_res`` to ``resolution``, consuming W+.

    Starts from a learned constant (or, with ``in_channels``, from an input feature map at
    ``start_res``, as StyleSDF's decoder does), then per doubling: StyledConv(up), StyledConv,
    ToRGB added to the upsampled running output.

    Args:
        w_dim: style size. out_channels: output channels (3 for images, 96 for EG3D tri-planes).
        resolution: output side, ``start_res * 2^n``. channels: dict or callable resolution -> width.
        in_channels: input feature channels, or None for a learned constant.
        noise: include noise injection layers.
        clamp: StyleGAN2-ADA's ``conv_clamp`` on every conv and ToRGB layer's output; None = none.

    ``num_ws`` = 2 + 2n styles; forward(ws (B, num_ws, w_dim) or (B, w_dim), x=None, noise_mode="random"|"const"|"none")
    -> (B, out_channels, resolution, resolution), linear (no output activation).
    """

    def __init__(self, w_dim: int, out_channels: int, resolution: int,
                 channels: Mapping[int, int] | Callable[[int], int], start_res: int = 4, in_channels: int | None = None, noise: bool = True,
                 blur_kernel: Sequence[float] = DEFAULT_KERNEL, clamp: float | None = None):
        super().__init__()
        n = int(round(math.log2(resolution / start_res)))
        if n < 0 or start_res * 2 ** n != resolution:
            raise ValueError(f"resolution {resolution} must be start_res {start_res} times a power of two")
        ch = channels if callable(channels) else channels.__getitem__
        c0 = ch(start_res)
        self.const = nn.Parameter(torch.randn(1, c0, start_res, start_res)) if in_channels is None else None
        self.conv1 = StyledConv(in_channels or c0, c0, 3, w_dim, noise=noise, resolution=start_res,
                                blur_kernel=blur_kernel, clamp=clamp)
        self.to_rgb1 = ToRGB(c0, w_dim, out_channels, upsample=False, blur_kernel=blur_kernel, clamp=clamp)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        prev = c0
        for i in range(1, n + 1):
            res = start_res * 2 ** i
            c = ch(res)
            styled = dict(noise=noise, resolution=res, blur_kernel=blur_kernel, clamp=clamp)
            self.convs.append(StyledConv(prev, c, 3, w_dim, up=True, **styled))
            self.convs.append(StyledConv(c, c, 3, w_dim, **styled))
            self.to_rgbs.append(ToRGB(c, w_dim, out_channels, blur_kernel=blur_kernel, clamp=clamp))
            prev = c
        self.num_ws = 2 + 2 * n
        self.w_dim, self.out_channels, self.resolution, self.start_res = w_dim, out_channels, resolution, start_res

    def forward(self, ws: Tensor, x: Tensor | None = None, noise_mode: str = "random") -> Tensor:
        if ws.dim() == 2:
            ws = ws.unsqueeze(1).expand(-1, self.num_ws, -1)
        if ws.shape[1] != self.num_ws:
            raise ValueError(f"expected {self.num_ws} styles, got {ws.shape[1]}")
        if x is None:
            if self.const is None:
                raise ValueError("this synthesis network starts from input features: pass x")
            x = self.const.expand(ws.shape[0], -1, -1, -1)
        out = self.conv1(x, ws[:, 0], noise_mode=noise_mode)
        skip = self.to_rgb1(out, ws[:, 1])
        for i, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * i](out, ws[:, 1 + 2 * i], noise_mode=noise_mode)
            out = self.convs[2 * i + 1](out, ws[:, 2 + 2 * i], noise_mode=noise_mode)
            skip = to_rgb(out, ws[:, 3 + 2 * i], skip)
        return skip
