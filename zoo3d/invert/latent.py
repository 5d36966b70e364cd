"""Latent spaces an optimisation inverter can search: z always, W and W+ where a generator exposes them.

A generator opts in to W/W+ inversion by implementing :class:`SupportsLatentSpaces` (duck-typed, checked
with ``isinstance`` at run time): a StyleGAN-like mapping ``z -> w`` and a synthesis from W+ codes.
Everything else is inverted in z through the plain :class:`zoo3d.core.Generator` interface.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from zoo3d.errors import UserError

__all__ = ["SupportsLatentSpaces", "LatentSpace", "available_spaces", "resolve_space"]

SPACES = ("z", "w", "w+")


@runtime_checkable
class SupportsLatentSpaces(Protocol):  # pragma: no mutate block (stubs; isinstance checks every name in the body)
    """What a generator implements to be inverted in W or W+.

    Attributes:
        w_dim: size of one style vector w. num_ws: how many style vectors a W+ code has.
    Methods:
        map_latent(z (B, z_dim), psi=1.0) -> W+ (B, num_ws, w_dim): the mapping network, broadcast.
        mean_latent() -> (1, w_dim): the average w (the usual starting point of W/W+ optimisation).
        represent_ws(ws (B, num_ws, w_dim)) -> a representation ``render`` accepts.
    """

    w_dim: int
    num_ws: int

    def map_latent(self, z: Tensor, psi: float = 1.0) -> Tensor: ...

    def mean_latent(self) -> Tensor: ...

    def represent_ws(self, ws: Tensor): ...


def available_spaces(generator) -> tuple[str, ...]:
    return SPACES if isinstance(generator, SupportsLatentSpaces) else ("z",)


def resolve_space(generator, space: str) -> str:
    """``auto`` -> ``w+`` where available, else ``z``; an unavailable space is a UserError."""
    spaces = available_spaces(generator)
    if space == "auto":
        return "w+" if "w+" in spaces else "z"
    if space not in spaces:
        raise UserError(f"This generator can be inverted in {', '.join(spaces)} only, not '{space}' "
                        f"(W/W+ need a mapping network exposed through zoo3d.invert.SupportsLatentSpaces).")
    return space


class LatentSpace:
    """A trainable latent of B instances in one space and how it becomes a representation.

    ``z``: starts at 0 (the prior's mode); ``w``: one (B, w_dim) vector broadcast to every layer;
    ``w+``: (B, num_ws, w_dim), one vector per layer; both start at the mean w.
    """

    def __init__(self, generator, space: str, batch: int, psi: float = 1.0):
        self.space, self.psi = resolve_space(generator, space), psi
        device, dtype = generator.device, generator.dtype
        if self.space == "z":
            init = torch.zeros(batch, generator.z_dim, device=device, dtype=dtype)
        else:
            with torch.no_grad():
                mean = generator.mean_latent().to(device=device, dtype=dtype).reshape(1, -1)
            init = mean.expand(batch, -1) if self.space == "w" else mean[:, None].expand(batch, generator.num_ws, -1)
        self.param = torch.nn.Parameter(init.clone())

    def codes(self, generator) -> Tensor:
        """The latent as the generator consumes it: z (B, z_dim) or W+ (B, num_ws, w_dim)."""
        if self.space == "w":
            return self.param[:, None].expand(-1, generator.num_ws, -1)
        return self.param

    def represent(self, generator):
        if self.space == "z":
            return generator.represent(self.param, self.psi)
        return generator.represent_ws(self.codes(generator))
