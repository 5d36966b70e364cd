"""The two representation protocols every renderer understands.

A representation is the 3D scene of a batch of B instances, produced by a generator from
latents or by an inverter from images. World units; the subject sits at the origin
(see :mod:`zoo3d.cameras`). Colours are in [0, 1] here; renderers map them to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from torch import Tensor

from zoo3d.errors import PluginError, closest

#: what a :class:`FieldRepresentation`'s ``kind`` may be
FIELD_KINDS = ("density", "sdf")


@dataclass
class Radiance:
    """Radiance answered at points: rgb (..., 3) in [0, 1], alpha or sigma (..., 1), features (..., C) or None."""

    rgb: Tensor
    alpha: Tensor | None = None
    sigma: Tensor | None = None
    features: Tensor | None = None


@runtime_checkable
class ManifoldRepresentation(Protocol):
    """Radiance manifolds (GRAM): the level sets ``s(x) = l`` of one scalar field carry radiance.

    Contract:
        levels: (N,) descending level values; ``s`` must *decrease* along a ray where it enters
            a manifold (GRAM's geometric init makes s ~ 10 * |x - c|).
        scalar(x): x (B, P, 3) world points -> s (B, P).
        radiance(points, dirs): points (B, N, P, 3) on manifold n (index n = level n), dirs
            (B, P, 3) unit view directions -> Radiance with rgb (B, N, P, 3) in [0, 1],
            alpha (B, N, P, 1) in [0, 1] (the manifold's opacity at that point; GRAM uses
            ``1 - exp(-0.04 * softplus(.))``) and optional features (B, N, P, C).
        background_z: world z of an opaque background plane perpendicular to world z, or None.
        background_radiance(points, dirs): points (B, P, 3) on that plane -> Radiance with rgb
            (B, P, 3) (alpha is ignored: the plane is opaque) and optional features (B, P, C).
    """

    levels: Tensor
    background_z: float | None

    def scalar(self, x: Tensor) -> Tensor: ...

    def radiance(self, points: Tensor, dirs: Tensor) -> Radiance: ...

    def background_radiance(self, points: Tensor, dirs: Tensor) -> Radiance: ...


@runtime_checkable
class FieldRepresentation(Protocol):
    """A neural field queried anywhere (tri-plane, SDF, NeRF).

    Contract:
        kind: ``"density"`` (query returns the *raw* density, which the renderer's
            ``density_activation`` (softplus or ReLU) turns into sigma >= 0 per world unit) or
            ``"sdf"`` (query returns a signed distance in world units, negative inside).
        query(points, dirs): points (B, P, 3), dirs (B, P, 3) unit -> Radiance with rgb
            (B, P, 3) in [0, 1], ``sigma`` (B, P, 1) holding the raw density or the SDF value, and
            optional features (B, P, C).
        bounds: half-extent of the axis-aligned box [-b, b]^3 outside which the field is empty.
        sdf_sharpness (``kind == "sdf"`` only): a tensor, learnable or fixed, that turns distances into
            opacity: StyleSDF's alpha in ``sigmoid(-d / alpha) / alpha``, or NeuS's s (the renderer's
            ``sdf_mode`` says which).
        density_noise (``kind == "density"``, optional): the std of the N(0, std^2) noise the renderer adds to
            the raw density at each integration (pi-GAN's ``nerf_noise``); 0 or absent: none.
    """

    kind: Literal["density", "sdf"]
    bounds: float

    def query(self, points: Tensor, dirs: Tensor) -> Radiance: ...


def check_field_kind(representation) -> None:
    """Refuse, in one sentence naming its class, a field whose ``kind`` is neither ``"density"`` nor ``"sdf"``: a
    misspelt ``"densty"`` was rendered as an SDF and refused for a missing ``sdf_sharpness`` it never meant to have."""
    kind = getattr(representation, "kind", None)
    if kind not in FIELD_KINDS:
        hint = closest(str(kind), FIELD_KINDS, n=1)
        did = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise PluginError(f"{type(representation).__name__}.kind is {kind!r}, and a field's kind is 'density' or "
                          f"'sdf'{did}; the volume renderer turns the one into opacity by density, the other by signed "
                          f"distance (docs/plugins.md, The model interface).")
