"""The inverter interface: images (+ cameras) -> a representation the shared renderers can draw."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.outputs import RenderOutput


@dataclass
class InversionResult:
    """The inverted scene of B images.

    Attributes:
        representation: renderable by the generator's renderer (``render(rep, cameras)``).
        cameras: the input-view cameras used (given, or estimated when none was given).
        latent: the latent code found (W or W+), when the method has one.
        generator: the generator to render the result with when the method tuned its own copy (PTI);
            None: the inverter's generator.
        extras: method-specific values.
    """

    representation: Any
    cameras: Camera
    latent: Tensor | None = None
    generator: torch.nn.Module | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Inverter(torch.nn.Module, ABC):
    """Inverts images (B, 3, H, W) in [-1, 1] into 3D.

    ``cameras`` may be None when the inverter can estimate the pose: it then sets ``has_pose_head`` True and
    implements ``estimate_cameras(images) -> Camera``, and ``zoo3d invert`` without ``--pose`` passes None; an
    inverter without one (the default) is always given the cameras (``zoo3d invert`` asks for ``--pose``).
    ``render`` draws the result from any cameras.

    An inverter whose results can be saved (``zoo3d invert``'s ``inversion.safetensors``, rendered again by
    ``zoo3d render --inversion`` and loaded by :func:`zoo3d.invert.load_inversion`) overrides ``state`` and
    ``restore``: ``restore(state(result), result.cameras)`` on an inverter built from the same weights renders as
    ``result`` does, pixel for pixel. One that does not is still inverted; its results are not saved.
    """

    #: True when ``estimate_cameras(images)`` gives the input views' cameras, so ``invert`` takes ``cameras=None``
    has_pose_head: bool = False

    @abstractmethod
    def invert(self, images: Tensor, cameras: Camera | None = None) -> InversionResult: ...

    @abstractmethod
    def render(self, result: InversionResult, cameras: Camera,
               resolution: tuple[int, int] | None = None) -> RenderOutput: ...

    def state(self, result: InversionResult) -> dict[str, Tensor] | None:
        """The tensors that, with this inverter's weights and ``result.cameras``, rebuild ``result`` (the latent and
        whatever else its render needs, by name); None: this inverter's results are not saved."""
        return None

    def restore(self, state: dict[str, Tensor], cameras: Camera) -> InversionResult:
        """The result :meth:`state` gave ``state`` for, seen from ``cameras`` (its input-view cameras)."""
        raise NotImplementedError(f"{type(self).__name__} does not restore saved inversions")
