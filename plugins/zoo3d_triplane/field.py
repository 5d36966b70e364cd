"""EG3D's small decoder and the tri-plane scene as a zoo3d FieldRepresentation.

How the decoder output maps to the protocol (and why):

* ``Radiance.features`` (B, P, C) = EG3D's widened sigmoid ``sigmoid(x) (1 + 2e-3) - 1e-3``, so in
  [-1e-3, 1 + 1e-3]; the VolumeRenderer composites them and the generator maps the feature image
  to [-1, 1] (``2f - 1``) as EG3D's ray marcher does. The first 3 channels are the raw RGB.
* ``Radiance.rgb`` (B, P, 3) = those 3 channels clamped to [0, 1] (the protocol's colour).
* ``Radiance.sigma`` (B, P, 1) is the *pre-activation* density the VolumeRenderer feeds to its
  softplus: upstream's density is ``softplus(raw - 1)`` per EG3D unit; here it is that times
  ``density_scale`` per world unit (see config.py), returned as ``softplus^-1`` of it so that the
  renderer's softplus yields it exactly. With ``density_scale`` = 1 this is simply ``raw - 1``.
  :meth:`TriplaneScene.density` gives the density itself (>= 0, per world unit), e.g. for meshing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.core.representation import Radiance
from zoo3d.nn.equalized import EqualLinear

from zoo3d.nn.triplane import aggregate, sample_planes

SIGMOID_WIDENING = 1e-3  # MipNeRF's widened sigmoid, as EG3D
DENSITY_SHIFT = 1.0  # EG3D: sigma = softplus(raw - 1)


class TriplaneDecoder(nn.Module):
    """EG3D's OSGDecoder: FC(C -> hidden) -> softplus -> FC(hidden -> 1 + C); no view direction.

    forward(features (..., C)) -> (raw density (..., 1), features (..., C) in [-1e-3, 1 + 1e-3]).
    """

    def __init__(self, channels: int = 32, hidden: int = 64, lr_mul: float = 1.0):
        super().__init__()
        self.fc1 = EqualLinear(channels, hidden, lr_mul=lr_mul)
        self.fc2 = EqualLinear(hidden, 1 + channels, lr_mul=lr_mul)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        # the plane samples come in at least float32 (zoo3d.nn.triplane.sample_planes): a bf16 decoder takes bf16
        x = self.fc2(F.softplus(self.fc1(features.to(self.fc1.weight.dtype))))
        widened = torch.sigmoid(x[..., 1:]) * (1 + 2 * SIGMOID_WIDENING) - SIGMOID_WIDENING
        return x[..., :1], widened


def inverse_softplus(y: Tensor) -> Tensor:
    """x with softplus(x) = y for y > 0 (stable: y + log(-expm1(-y)))."""
    y = y.clamp_min(torch.finfo(y.dtype).tiny ** 0.5)
    return y + torch.log(-torch.expm1(-y))


@dataclass(eq=False)
class TriplaneScene:
    """The tri-planes of B instances; a FieldRepresentation (``kind`` "density").

    Attributes:
        planes: (B, 3, C, R, R) features of the XY, XZ, YZ planes.
        decoder: the shared :class:`TriplaneDecoder`.
        box_warp: side of the cube the planes span (world units); ``bounds`` = box_warp / 2.
        density_scale: multiplies upstream's density to express it per world unit.
        sr_w: (B, w_dim) the style the super-resolution module is modulated with (EG3D: the last w).
        third_plane: "yz" (zoo3d) or "zx" (EG3D's projection, for imported models); see zoo3d.nn.triplane.
    """

    planes: Tensor
    decoder: TriplaneDecoder
    box_warp: float
    density_scale: float = 1.0
    sr_w: Tensor | None = None
    third_plane: str = "yz"
    kind: Literal["density"] = "density"

    @property
    def bounds(self) -> float:
        return self.box_warp / 2.0

    def decode(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """points (B, P, 3) -> (raw decoder density (B, P, 1), features (B, P, C)); EG3D's ``run_model``."""
        return self.decoder(aggregate(sample_planes(self.planes, points, self.box_warp, self.third_plane)))

    def density(self, points: Tensor) -> Tensor:
        """Volume density (B, P, 1) >= 0 per world unit at points (B, P, 3)."""
        raw, _ = self.decode(points)
        return F.softplus(raw - DENSITY_SHIFT) * self.density_scale

    def query(self, points: Tensor, dirs: Tensor | None = None) -> Radiance:
        """FieldRepresentation query at any points (B, P, 3); ``dirs`` is unused (no view dependence)."""
        raw, features = self.decode(points)
        pre = raw - DENSITY_SHIFT
        if self.density_scale != 1.0:
            pre = inverse_softplus(F.softplus(pre) * self.density_scale)
        return Radiance(rgb=features[..., :3].clamp(0.0, 1.0), sigma=pre, features=features)
