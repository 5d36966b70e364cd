"""The discriminator interface."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.outputs import DiscriminatorOutput


class Discriminator(torch.nn.Module, ABC):
    """Scores images (B, C, H, W) in [-1, 1]; camera-conditioned discriminators also read ``cameras``.

    Returns a :class:`DiscriminatorOutput` (logit, optional pose (yaw, pitch) and patch logits).
    """

    @abstractmethod
    def forward(self, images: Tensor, cameras: Camera | None = None) -> DiscriminatorOutput: ...
