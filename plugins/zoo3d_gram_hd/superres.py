"""GRAM-HD's two super-resolution networks, built from ESRGAN's RRDBs (:mod:`zoo3d.nn.rrdb`).

* :class:`StyleRRDBNet` — the foreground net: each manifold's LR texture (rgb, alpha, 32
  features = 36 channels) is a separate batch element; style-modulated sub-pixel upsampling
  driven by its own mapping MLP of the generator's z.
* :class:`RRDBNet` — the background net: plain RRDBs, bilinear+conv upsampling and a global
  bicubic residual, starting as exactly bicubic up-sampling (zero-initialised last conv).

Speed (same results up to fp32 rounding): on CPU the activations run channels-last (oneDNN's direct
NHWC convolutions; outputs are returned contiguous), leaky ReLUs act in place, residual sums are one
``add`` each, and the style net's modulated convolutions run as one plain convolution per instance
over its manifolds (they share the instance's style) instead of a grouped convolution over all maps.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.nn.modconv import ModulatedConv2d
from zoo3d.nn.rrdb import RRDB

__all__ = ["RRDBNet", "SharedStyleModulatedConv2d", "StyleRRDBNet", "default_up_channels"]


def _num_stages(scale: int) -> int:
    stages = int(round(math.log2(scale)))
    if scale < 2 or 2 ** stages != scale:
        raise ValueError(f"super-resolution scale must be a power of two >= 2, got {scale}")
    return stages


def default_up_channels(scale: int, style: bool) -> list[int]:
    """GRAM-HD's upsampling widths: style net [64, 64, 32, 16][:n], background net [64, 32, 16, 8][:n], n = log2(scale)."""
    n = _num_stages(scale)
    base = [64, 64, 32, 16] if style else [64, 32, 16, 8]
    return (base + [base[-1]] * n)[:n]


def _checked_up_channels(up_channels: Sequence[int] | None, scale: int, style: bool) -> list[int]:
    """The given widths (one per x2 stage) or GRAM-HD's defaults."""
    up_channels = list(up_channels) if up_channels is not None else default_up_channels(scale, style)
    if len(up_channels) != _num_stages(scale):
        raise ValueError(f"up_channels needs {_num_stages(scale)} entries for scale {scale}, got {up_channels}")
    return up_channels


def _fast_layout(x: Tensor) -> Tensor:
    """Channels-last activations on CPU (oneDNN's NHWC convolutions are the fastest there); elsewhere unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cpu" else x


class SharedStyleModulatedConv2d(ModulatedConv2d):
    """A :class:`ModulatedConv2d` whose styles may be one per *group* of consecutive maps.

    forward(x (B*per, in, H, W), style (B, in)) -> (B*per, out, H, W): the ``per`` maps of group b share
    style[b], so each group's modulated kernel is applied as one plain convolution over its maps (GRAM-HD's
    manifolds of one instance) instead of a grouped convolution with a kernel per map. With one style per
    map it computes exactly what ModulatedConv2d does.

    ``kernels``: how the kernel is stored, which sets how fast Adam turns it (the output is demodulated, so
    only its direction counts). "upstream": as GRAM-HD's ``ModConv2D``, an ``nn.Conv2d`` whose kernel is used
    as stored, of std 1/sqrt(3 fan_in) (PyTorch's default; drawn Gaussian here, its bias starting at 0).
    "equalized": StyleGAN2's equalised form, a unit-std kernel scaled by 1/sqrt(fan_in) when used, which at
    the same learning rate turns about sqrt(3 fan_in) times slower (20-40 times for GRAM-HD's 3x3 convs);
    runs stored before the choice existed keep it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int | None = None,
                 bias: bool = True, kernels: str = "upstream"):
        super().__init__(in_channels, out_channels, kernel_size, style_dim, bias=bias)
        if kernels == "upstream":
            with torch.no_grad():
                self.weight.mul_(self.scale / math.sqrt(3))
            self.scale = 1.0
        elif kernels != "equalized":
            raise ValueError(f"kernels must be 'upstream' or 'equalized', got {kernels!r}")
        self.kernels = kernels

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        if x.shape[0] % style.shape[0]:
            raise ValueError(f"{x.shape[0]} maps cannot share {style.shape[0]} styles in equal groups")
        per = x.shape[0] // style.shape[0]
        w = self.modulated_weight(style).to(x.dtype)  # (B, out, in, k, k)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        outs = [F.conv2d(x[b * per:(b + 1) * per], w[b], bias, padding=self.kernel_size // 2)
                for b in range(w.shape[0])]
        return outs[0] if len(outs) == 1 else torch.cat(outs)


class _RRDBTrunk(nn.Module):
    """conv_first -> nb RRDBs -> trunk_conv, with a long skip around the trunk; (B, in_ch, H, W) -> (B, nf, H, W)."""

    def __init__(self, in_ch: int, nf: int, nb: int, gc: int):
        super().__init__()
        self.conv_first = nn.Conv2d(in_ch, nf, 3, padding=1)
        self.trunk = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.trunk_conv = nn.Conv2d(nf, nf, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        fea = self.conv_first(_fast_layout(x))
        return fea + self.trunk_conv(self.trunk(fea))


def _bicubic_up(x: Tensor, scale: int) -> Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


class StyleRRDBNet(nn.Module):
    """GRAM-HD's foreground super-resolution network (styleesrgan).

    RRDB trunk, then log2(scale) stages of (modulated 3x3 conv to 4c channels -> pixel shuffle x2 -> LReLU 0.2),
    a modulated 3x3 HR conv + LReLU and a modulated ``last_kernel`` x ``last_kernel`` last conv; every modulated
    conv demodulates and adds a bias, as upstream. The per-input-channel styles of all of them come from one
    mapping MLP z -> style_hidden x3 (LReLU 0.2) -> sum of their input widths (Kaiming-normal a=0.2 init).

    Output channels: the first ``out_ch - 1`` are linear (rgb, unclamped); the last is alpha = sigmoid(logit).

    ``residual=True`` (not upstream; for short CPU runs) adds a global bicubic skip from the first ``out_ch``
    input channels: out = bicubic_up(x[:, :out_ch]) + gain * net, alpha clamped to [0, 1], with a learnable
    scalar ``gain`` starting at 0 — so the untrained net is exactly bicubic up-sampling of the LR rgba maps
    and training only has to learn the detail. A caller that has a better HR estimate passes it as ``base``
    (GRAM-HD's ``residual: field``: the LR radiance field gridded at the HR side) instead.

    ``kernels``: how the modulated kernels are stored ("upstream" or "equalized", :class:`SharedStyleModulatedConv2d`).

    forward(x (B*M, in_ch, H, W), z (B, z_dim), psi=1.0, base=None) -> (B*M, out_ch, H*scale, W*scale), where
    the M manifolds of instance b are contiguous in x (instance-major) and share z[b].
    """

    def __init__(self, in_ch: int = 36, out_ch: int = 4, nf: int = 64, nb: int = 8, gc: int = 32, scale: int = 4,
                 z_dim: int = 256, up_channels: Sequence[int] | None = None, style_hidden: int = 256,
                 last_kernel: int = 1, residual: bool = False, kernels: str = "upstream"):
        super().__init__()
        if residual and in_ch < out_ch:
            raise ValueError("StyleRRDBNet's residual needs in_ch >= out_ch")
        up_channels = _checked_up_channels(up_channels, scale, style=True)
        self.body = _RRDBTrunk(in_ch, nf, nb, gc)
        self.up_convs = nn.ModuleList()
        prev = nf
        for c in up_channels:
            self.up_convs.append(SharedStyleModulatedConv2d(prev, 4 * c, 3, kernels=kernels))
            prev = c
        self.hr_conv = SharedStyleModulatedConv2d(prev, prev, 3, kernels=kernels)
        self.conv_last = SharedStyleModulatedConv2d(prev, out_ch, last_kernel, kernels=kernels)
        self.style_split = [nf, *up_channels[:-1], prev, prev]
        layers: list[nn.Module] = []
        width = z_dim
        for _ in range(3):
            layers += [nn.Linear(width, style_hidden), nn.LeakyReLU(0.2)]
            width = style_hidden
        self.mapping = nn.Sequential(*layers, nn.Linear(width, sum(self.style_split)))
        for m in self.mapping:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
        self.register_buffer("style_avg", torch.zeros(sum(self.style_split)))
        self.z_dim, self.scale, self.out_ch = z_dim, scale, out_ch
        self.residual_gain = nn.Parameter(torch.zeros(())) if residual else None

    def styles(self, z: Tensor, psi: float = 1.0) -> Tensor:
        """z (B, z_dim) -> concatenated styles (B, sum(style_split)), truncated towards ``style_avg`` by psi."""
        s = self.mapping(z)
        if psi == 1.0:
            return s
        if not bool(self.style_avg.any()):
            raise ValueError("truncation needs the style average: call compute_style_average() first")
        return torch.lerp(self.style_avg.to(s), s, psi)

    @torch.no_grad()
    def compute_style_average(self, num_samples: int = 10000, generator: torch.Generator | None = None) -> Tensor:
        """Set ``style_avg`` to the mean style over z ~ N(0, I) and return it."""
        p = self.mapping[0].weight
        z = torch.randn(num_samples, self.z_dim, generator=generator, dtype=torch.float32,
                        device="cpu" if generator is None else generator.device).to(p)
        self.style_avg.copy_(self.mapping(z).mean(0))
        return self.style_avg

    def forward(self, x: Tensor, z: Tensor, psi: float = 1.0, base: Tensor | None = None) -> Tensor:
        if x.shape[0] % z.shape[0]:
            raise ValueError(f"batch of textures ({x.shape[0]}) is not a multiple of the batch of z ({z.shape[0]})")
        *s_up, s_hr, s_last = self.styles(z, psi).split(self.style_split, dim=1)
        fea = self.body(x)
        for conv, s in zip(self.up_convs, s_up):
            fea = F.leaky_relu(F.pixel_shuffle(conv(fea, s), 2), 0.2, inplace=True)
        fea = F.leaky_relu(self.hr_conv(fea, s_hr), 0.2, inplace=True)
        out = self.conv_last(fea, s_last).contiguous()
        if self.residual_gain is None:
            if base is not None:
                raise ValueError("a base for the residual needs StyleRRDBNet(residual=True)")
            return torch.cat([out[:, :-1], torch.sigmoid(out[:, -1:])], dim=1)
        if base is None:
            base = _bicubic_up(x[:, :self.out_ch], self.scale)
        out = base + self.residual_gain * out
        return torch.cat([out[:, :-1], out[:, -1:].clamp(0, 1)], dim=1)


class RRDBNet(nn.Module):
    """GRAM-HD's background super-resolution network (esrgan with a global bicubic residual).

    RRDB trunk, log2(scale) stages of (3x3 conv -> LReLU 0.2 -> bilinear x2), HR conv + LReLU, zero-initialised
    last conv; out = bicubic_up(x) + 0.2 * net(x), so at init it is exactly bicubic up-sampling. ``base``
    replaces bicubic_up(x) with the caller's own HR estimate (GRAM-HD's ``residual: field``).

    forward(x (B, in_ch, H, W), base=None) -> (B, out_ch, H*scale, W*scale); the residual needs in_ch == out_ch.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, nf: int = 64, nb: int = 4, gc: int = 32, scale: int = 4,
                 up_channels: Sequence[int] | None = None):
        super().__init__()
        if in_ch != out_ch:
            raise ValueError("RRDBNet's global bicubic residual needs in_ch == out_ch")
        up_channels = _checked_up_channels(up_channels, scale, style=False)
        self.body = _RRDBTrunk(in_ch, nf, nb, gc)
        self.up_convs = nn.ModuleList()
        prev = nf
        for c in up_channels:
            self.up_convs.append(nn.Conv2d(prev, c, 3, padding=1))
            prev = c
        self.hr_conv = nn.Conv2d(prev, prev, 3, padding=1)
        self.conv_last = nn.Conv2d(prev, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv_last.weight)
        nn.init.zeros_(self.conv_last.bias)
        self.scale = scale

    def forward(self, x: Tensor, base: Tensor | None = None) -> Tensor:
        fea = self.body(x)
        for conv in self.up_convs:
            fea = F.interpolate(F.leaky_relu(conv(fea), 0.2, inplace=True), scale_factor=2, mode="bilinear",
                                align_corners=False)
        fea = F.leaky_relu(self.hr_conv(fea), 0.2, inplace=True)
        if base is None:
            base = _bicubic_up(x, self.scale)
        return torch.add(base, self.conv_last(fea).contiguous(), alpha=0.2)
