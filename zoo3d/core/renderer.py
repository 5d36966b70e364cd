"""The renderer interface: representation + cameras -> image, depth, alpha, features."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from zoo3d.cameras import Camera
from zoo3d.core.outputs import RenderOutput


class Renderer(torch.nn.Module, ABC):
    """Renders a batch of representations, one camera per instance (cameras may all differ).

    ``render(rep, cameras, resolution)`` returns a :class:`RenderOutput` of B images at
    ``resolution`` = (H, W) (or ``cameras.resolution`` when None). Renderers hold no
    scene state; any learnable rendering parameter (e.g. StyleSDF's sigmoid sharpness)
    belongs to the representation. They run unchanged on CPU and CUDA, in any float dtype.
    """

    @abstractmethod
    def render(self, representation, cameras: Camera, resolution: tuple[int, int] | None = None) -> RenderOutput:
        ...

    def forward(self, representation, cameras: Camera, resolution: tuple[int, int] | None = None) -> RenderOutput:
        return self.render(representation, cameras, resolution)
