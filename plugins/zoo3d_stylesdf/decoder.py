"""StyleSDF stage 2: a StyleGAN2-style 2D generator from the rendered 64^2 feature map to the final image.

Upstream (``model.py::Decoder``): the renderer's w goes through PixelNorm + Linear(256 -> 512) + 4 x
Linear(512 -> 512) (lr_mul 0.01); synthesis = StyledConv(feature channels -> C(64)) + ToRGB at the
render resolution, then per octave [StyledConv up, StyledConv, ToRGB with skip-upsampled rgb];
channels {64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}, noise injection, blur [1, 3, 3, 1].
The low-resolution rgb is not fed in. With truncation, upstream truncates the renderer's w and then,
again, the decoder's w (towards the mean decoder w of untruncated renderer ws).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo3d.nn.mapping import MappingNetwork
from zoo3d.nn.modconv import StyleSynthesis

from .config import StyleSDFDecoderConfig


def decoder_channels(resolution: int, multiplier: int = 2, max_channels: int = 512) -> int:
    """Upstream widths {64: 512, 128: 256, 256: 128, 512: 64, 1024: 32} at multiplier 2 (capped); 512 below 64."""
    table = {64: 256 * multiplier, 128: 128 * multiplier, 256: 64 * multiplier, 512: 32 * multiplier,
             1024: 16 * multiplier}
    return max(1, min(max_channels, table.get(resolution, 512 if resolution < 64 else 16 * multiplier)))


class StyleSDFDecoder(nn.Module):
    """features (B, feature_dim, r, r) and renderer w (B, style_dim) -> rgb (B, 3, R, R), linear (about [-1, 1])."""

    def __init__(self, feature_dim: int, style_dim: int, render_resolution: int, cfg: StyleSDFDecoderConfig):
        super().__init__()
        self.mapping = MappingNetwork(style_dim, cfg.w_dim, num_layers=cfg.mapping_layers, lr_mul=0.01)
        self.synthesis = StyleSynthesis(
            cfg.w_dim, 3, cfg.output_resolution,
            lambda r: decoder_channels(r, cfg.channel_multiplier, cfg.max_channels),
            start_res=render_resolution, in_channels=feature_dim)
        self.output_resolution = cfg.output_resolution

    def forward(self, features: Tensor, renderer_w: Tensor, noise_mode: str = "random", psi: float = 1.0,
                centre: Tensor | None = None) -> Tensor:
        """``psi`` < 1 truncates the decoder's w towards ``centre`` (1, w_dim) as upstream does, on top of
        the renderer's own truncation."""
        w = self.mapping(renderer_w)
        if psi != 1.0:
            w = torch.lerp(centre.to(w), w, psi)
        return self.synthesis(w, features, noise_mode=noise_mode)
