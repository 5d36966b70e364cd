"""Typed results shared by renderers, generators and discriminators."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from torch import Tensor


@dataclass
class RenderOutput:
    """What a renderer (and so a generator) returns for a batch of B cameras at H x W.

    Attributes:
        rgb: (B, 3, H, W) image in [-1, 1] (the dataset convention). Composited colour c in
            [0, 1] is mapped as ``2c - 1``; where nothing is hit and no background is given
            the colour is black (-1).
        depth: (B, 1, H, W) expected distance along the ray from the camera centre, world units
            (rays are unit length, so this is Euclidean distance, not camera-space z), as renderers
            composite it: sum w t, not divided by sum w (GRAM-HD's convention). Where the foreground is
            not opaque it is not the surface's distance; :func:`zoo3d.eval.depth.surface_depth` is.
        alpha: (B, 1, H, W) accumulated opacity in [0, 1] of the foreground (background excluded).
        features: (B, C, H, W) composited features, when the representation has them.
        weights: (B, N, H, W) compositing weight of each of N layers/samples, sorted by depth.
        points: (B, N, H, W, 3) world positions of those layers/samples (manifold intersections).
        normals: (B, 3, H, W) expected unit normal in world space, when asked for.
        raw: a lower-resolution render from before a 2D upsampler, for models that have one
            (their ``rgb`` is then *not* strictly 3D-consistent).
        extras: anything model-specific (textures, LR images, ...). ``extras["foreground_depth"]``
            (B, 1, H, W): sum w t over the foreground alone, from a renderer whose ``depth`` also sums
            a background layer (the manifold renderer's plane).
    """

    rgb: Tensor
    depth: Tensor | None = None
    alpha: Tensor | None = None
    features: Tensor | None = None
    weights: Tensor | None = None
    points: Tensor | None = None
    normals: Tensor | None = None
    raw: "RenderOutput | None" = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def resolution(self) -> tuple[int, int]:
        return tuple(self.rgb.shape[-2:])

    def foreground_depth_sum(self) -> Tensor | None:
        """Sum w t over the foreground alone, which divided by ``alpha`` is the surface's distance (None without a
        ``depth``): ``extras["foreground_depth"]`` where the renderer gives it (its ``depth`` also sums a background
        layer); else ``depth`` less the weight a render put beyond the opacity it reports (a last sample filled so
        that every ray is opaque, pi-GAN's and upstream StyleSDF's inference renders) at the last sample's
        ``extras["t"]``, read from ``weights``; else ``depth`` itself."""
        given = self.extras.get("foreground_depth") if self.extras else None
        if given is not None or self.depth is None:
            return given if given is not None else None
        t = (self.extras or {}).get("t")
        if self.alpha is None or self.weights is None or not isinstance(t, Tensor) or self.weights.shape != t.shape \
                or tuple(self.weights.shape[-2:]) != tuple(self.depth.shape[-2:]):
            return self.depth
        beyond = (self.weights.sum(1, keepdim=True) - self.alpha).clamp_min(0)
        return self.depth - beyond * t[:, -1:]

    def detach(self) -> "RenderOutput":
        """A copy with every tensor detached (for logging and evaluation)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Tensor):
                v = v.detach()
            elif isinstance(v, RenderOutput):
                v = v.detach()
            elif isinstance(v, dict):
                v = {k: (x.detach() if isinstance(x, Tensor) else x) for k, x in v.items()}
            out[f.name] = v
        return replace(self, **out)


@dataclass
class DiscriminatorOutput:
    """A discriminator's answer for B images.

    Attributes:
        logit: (B, 1) realness logit (non-saturating loss convention: higher = more real).
        pose: (B, 2) predicted (yaw, pitch) in radians (zoo3d convention), for pose heads.
        patch: (B, 1, h, w) patch logits, for patch discriminators.
        extras: model-specific outputs.
    """

    logit: Tensor
    pose: Tensor | None = None
    patch: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)
