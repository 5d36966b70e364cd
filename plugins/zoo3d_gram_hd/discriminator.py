"""GRAM-HD's patch discriminator: pix2pix's NLayerDiscriminator without normalisation."""

from __future__ import annotations

from torch import Tensor, nn

from zoo3d.cameras import Camera
from zoo3d.core.discriminator import Discriminator
from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.nn.discriminators import log2_resolution

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(Discriminator):
    """pix2pix NLayerDiscriminator with ``norm_layer = Identity`` (GRAM-HD's patch discriminator).

    4x4 convs: Conv(in, ndf, s2) + LReLU 0.2; n_layers - 1 x Conv(s2, no bias) + LReLU; Conv(s1, no bias) + LReLU;
    Conv(s1) -> 1 channel. For an R x R input the patch map is (R / 2^n_layers - 2)^2 (30 x 30 at 256, n_layers 3).

    Returns ``patch`` (B, 1, h, w) and ``logit`` (B, 1) = the patch mean.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=False), nn.LeakyReLU(0.2)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=False), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers

    @classmethod
    def for_resolution(cls, resolution: int, in_channels: int = 3) -> "PatchDiscriminator":
        """GRAM-HD's sizing: ndf = min(64, 2^(14 - log2 R)), n_layers = max(3, log2 R - 6) (64/3, 32/3, 16/4 at 256/512/1024)."""
        log2 = log2_resolution(resolution)
        return cls(in_channels, ndf=min(64, 2 ** (14 - log2)), n_layers=max(3, log2 - 6))

    @staticmethod
    def output_size(resolution: int, n_layers: int = 3) -> int:
        """Side of the patch map for a square input: n_layers stride-2 4x4 convs (pad 1), then two stride-1 ones."""
        side = resolution
        for _ in range(n_layers):
            side = (side + 2 - 4) // 2 + 1
        return side - 2

    def forward(self, images: Tensor, cameras: Camera | None = None) -> DiscriminatorOutput:
        patch = self.model(images)
        return DiscriminatorOutput(logit=patch.mean(dim=(2, 3)), patch=patch)
