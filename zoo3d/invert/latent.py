"""Latent spaces an optimisation inverter can search: z always, W and W+ where a generator exposes them.

A generator opts in to W/W+ inversion by implementing :class:`SupportsLatentSpaces` (duck-typed, checked
with ``isinstance`` at run time): a StyleGAN-like mapping ``z -> w`` and a synthesis from W+ codes.
Everything else is inverted in z through the plain :class:`zoo3d.core.Generator` interface. A generator whose
mapping gives every layer a w of its own (pi-GAN's and GRAM's FiLM frequencies and phases,
:mod:`zoo3d.invert.film`) has no single w to broadcast: it lists the spaces it has as ``latent_spaces``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from zoo3d.errors import UserError

__all__ = ["SupportsLatentSpaces", "LatentSpace", "available_spaces", "layer_ws_only", "no_w_reason",
           "resolve_space"]

SPACES = ("z", "w", "w+")
#: why a generator with W+ and no W (:func:`layer_ws_only`) refuses ``w``
LAYER_WS = "its mapping network gives every layer a w of its own (W+), so no single w is broadcast to all"


@runtime_checkable
class SupportsLatentSpaces(Protocol):  # pragma: no mutate block (stubs; isinstance checks every name in the body)
    """What a generator implements to be inverted in W or W+.

    Attributes:
        w_dim: size of one style vector w. num_ws: how many style vectors a W+ code has.
        latent_spaces (optional): the spaces it is inverted in, of ``("z", "w", "w+")`` (default all three);
            ``("z", "w+")`` where no single w broadcast to every layer is a code the mapping gives.
        no_single_w (optional): why it has no W, said in the refusal of ``w`` (default :data:`LAYER_WS`).
    Methods:
        map_latent(z (B, z_dim), psi=1.0) -> W+ (B, num_ws, w_dim): the mapping network, broadcast.
        mean_latent() -> (1, w_dim), or (1, num_ws, w_dim) where each layer's w has a mean of its own: the average
            w (the usual starting point of W/W+ optimisation).
        represent_ws(ws (B, num_ws, w_dim)) -> a representation ``render`` accepts.
    """

    w_dim: int
    num_ws: int

    def map_latent(self, z: Tensor, psi: float = 1.0) -> Tensor: ...

    def mean_latent(self) -> Tensor: ...

    def represent_ws(self, ws: Tensor): ...


def available_spaces(generator) -> tuple[str, ...]:
    """The spaces ``generator`` is inverted in: ``z``, and where it implements :class:`SupportsLatentSpaces` those
    its ``latent_spaces`` lists (``w`` and ``w+`` without one)."""
    if not isinstance(generator, SupportsLatentSpaces):
        return ("z",)
    return tuple(s for s in SPACES if s in getattr(generator, "latent_spaces", SPACES))


def layer_ws_only(generator) -> bool:
    """Whether ``generator`` has W+ and no W: its mapping gives every layer a w of its own (pi-GAN's, GRAM's)."""
    spaces = available_spaces(generator)
    return "w+" in spaces and "w" not in spaces


def no_w_reason(generator) -> str:
    """Why ``generator`` (W+ and no W: :func:`layer_ws_only`) has no single w: its ``no_single_w``, else
    :data:`LAYER_WS`."""
    return getattr(generator, "no_single_w", LAYER_WS)


def resolve_space(generator, space: str) -> str:
    """``auto`` -> ``w+`` where available, else ``z``; an unavailable space is a UserError."""
    spaces = available_spaces(generator)
    if space == "auto":
        return "w+" if "w+" in spaces else "z"
    if space not in spaces:
        why = (no_w_reason(generator) if layer_ws_only(generator) and space == "w" else
               "W/W+ need a mapping network exposed through zoo3d.invert.SupportsLatentSpaces")
        raise UserError(f"This generator can be inverted in {', '.join(spaces)} only, not '{space}' ({why}).")
    return space


class LatentSpace:
    """A trainable latent of B instances in one space and how it becomes a representation.

    ``z``: starts at 0 (the prior's mode); ``w``: one (B, w_dim) vector broadcast to every layer;
    ``w+``: (B, num_ws, w_dim), one vector per layer; both start at the mean w (where ``mean_latent`` gives one per
    layer, ``w+`` starts each layer at its own and ``w`` at their average).
    """

    def __init__(self, generator, space: str, batch: int, psi: float = 1.0):
        self.space, self.psi = resolve_space(generator, space), psi
        device, dtype = generator.device, generator.dtype
        if self.space == "z":
            init = torch.zeros(batch, generator.z_dim, device=device, dtype=dtype)
        else:
            with torch.no_grad():
                mean = generator.mean_latent().to(device=device, dtype=dtype)
            mean = mean.reshape(1, -1, generator.w_dim)  # one w, or one per layer
            init = (mean.mean(1).expand(batch, -1) if self.space == "w" else
                    mean.expand(batch, generator.num_ws, -1))
        self.start = init.clone()
        self.param = torch.nn.Parameter(init.clone())

    def codes(self, generator, noise: Tensor | None = None) -> Tensor:
        """The latent (plus ``noise``, shaped as ``param``, where given) as the generator consumes it: z (B, z_dim)
        or W+ (B, num_ws, w_dim)."""
        value = self.param if noise is None else self.param + noise
        if self.space == "w":
            return value[:, None].expand(-1, generator.num_ws, -1)
        return value

    def represent(self, generator, noise: Tensor | None = None):
        if self.space == "z":
            return generator.represent(self.codes(generator, noise), self.psi)
        return generator.represent_ws(self.codes(generator, noise))
