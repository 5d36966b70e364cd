"""FiLM-conditioned SIREN layers (pi-GAN), the radiance trunk GRAM, pi-GAN and StyleSDF share.

A FiLM-SIREN layer computes ``y = sin(freq * (W x + b) + phase)`` where the per-instance
``freq``/``phase`` (B, out_dim) come from a mapping network and broadcast over the points
(B, P, ·). Initialisations follow pi-GAN/GRAM: hidden layers ``U(±sqrt(6/n)/25)``, the first
layer ``U(±1/n)``; the mapping network is Kaiming-normal with its last layer scaled by 0.25
and frequencies ``freq = 15 * raw + 30``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "ColorFiLMLayer", "FiLMSirenLayer", "FiLMSirenTrunk", "PiGanMappingNetwork",
    "first_layer_film_sine_init", "frequency_init", "truncate_film",
]


def frequency_init(freq: float = 25.0) -> Callable[[nn.Module], None]:
    """SIREN hidden-layer init for ``Module.apply``: Linear weights ~ U(±sqrt(6/n)/freq), n = fan-in (bias untouched)."""

    def init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            bound = math.sqrt(6.0 / module.weight.shape[-1]) / freq
            with torch.no_grad():
                module.weight.uniform_(-bound, bound)

    return init


def first_layer_film_sine_init(module: nn.Module) -> None:
    """SIREN first-layer init for ``Module.apply``: Linear weights ~ U(±1/n), n = fan-in (bias untouched)."""
    if isinstance(module, nn.Linear):
        bound = 1.0 / module.weight.shape[-1]
        with torch.no_grad():
            module.weight.uniform_(-bound, bound)


def _broadcast_over_points(film: Tensor, x: Tensor) -> Tensor:
    """(B, C) FiLM parameters -> (B, 1, ..., 1, C) so they broadcast against x (B, ..., C); per-point FiLM passes through."""
    if film.dim() == x.dim():
        return film
    return film.reshape(film.shape[0], *([1] * (x.dim() - 2)), film.shape[-1])


class FiLMSirenLayer(nn.Module):
    """``sin(freq * (W x + b) + phase)``; x (B, P, in_dim), freq/phase (B, out_dim) or (B, P, out_dim) -> (B, P, out_dim).

    Initialised with ``frequency_init(25)``; callers re-init the first layer with
    :func:`first_layer_film_sine_init`.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.layer = nn.Linear(in_dim, out_dim)
        self.layer.apply(frequency_init(25.0))

    def forward(self, x: Tensor, freq: Tensor, phase: Tensor) -> Tensor:
        h = self.layer(x)
        return torch.sin(_broadcast_over_points(freq, h) * h + _broadcast_over_points(phase, h))


class ColorFiLMLayer(FiLMSirenLayer):
    """The view-dependent colour layer: a FiLM-SIREN layer on ``concat(ray_dir, x)``.

    x (B, P, in_dim), ray_dirs (B, P, dir_dim) unit world directions -> (B, P, out_dim).
    The direction comes first, as in pi-GAN/GRAM, so their weight layout matches.
    """

    def __init__(self, in_dim: int, out_dim: int, dir_dim: int = 3):
        super().__init__(in_dim + dir_dim, out_dim)
        self.dir_dim = dir_dim

    def forward(self, x: Tensor, ray_dirs: Tensor, freq: Tensor, phase: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(torch.cat([ray_dirs, x], dim=-1), freq, phase)


class PiGanMappingNetwork(nn.Module):
    """z -> per-layer FiLM frequencies and phases (pi-GAN / GRAM).

    ``num_hidden`` x (Linear -> LeakyReLU 0.2), then Linear(hidden, num_film_layers * film_dim * 2).
    Kaiming-normal init (a=0.2, fan_in), last layer weights x0.25. The output's first half is
    the raw frequencies, the second half the phases.

    Args:
        z_dim: latent size (256 upstream). hidden: width (256). num_film_layers: FiLM layers
            driven, trunk plus colour layer (9 upstream). film_dim: width of each FiLM layer (256).
        freq_scale, freq_bias: ``freq = freq_scale * raw + freq_bias`` (15, 30 upstream).

    Returns from forward: ``(freq, phase)``, each (B, num_film_layers, film_dim).
    """

    def __init__(self, z_dim: int, hidden: int, num_film_layers: int, film_dim: int, num_hidden: int = 3,
                 freq_scale: float = 15.0, freq_bias: float = 30.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = z_dim
        for _ in range(num_hidden):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(width, num_film_layers * film_dim * 2)
        for m in [*self.hidden, self.out]:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
        with torch.no_grad():
            self.out.weight.mul_(0.25)
        self.z_dim, self.num_film_layers, self.film_dim = z_dim, num_film_layers, film_dim
        self.freq_scale, self.freq_bias = freq_scale, freq_bias

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        raw = self.out(self.hidden(z)).view(z.shape[0], 2, self.num_film_layers, self.film_dim)
        return raw[:, 0] * self.freq_scale + self.freq_bias, raw[:, 1]

    @torch.no_grad()
    def average(self, num_samples: int = 10000, generator: torch.Generator | None = None,
                batch_size: int = 2048) -> tuple[Tensor, Tensor]:
        """Mean (freq, phase), each (1, num_film_layers, film_dim), over ``num_samples`` z ~ N(0, I) (GRAM's get_avg_w)."""
        p = self.out.weight
        total_f = torch.zeros(1, self.num_film_layers, self.film_dim, device=p.device, dtype=p.dtype)
        total_p = torch.zeros_like(total_f)
        done = 0
        while done < num_samples:
            n = min(batch_size, num_samples - done)
            z = torch.randn(n, self.z_dim, generator=generator, device="cpu" if generator is None else generator.device)
            f, ph = self(z.to(p))
            total_f += f.sum(0, keepdim=True)
            total_p += ph.sum(0, keepdim=True)
            done += n
        return total_f / num_samples, total_p / num_samples


def truncate_film(freq: Tensor, phase: Tensor, avg_freq: Tensor, avg_phase: Tensor,
                  psi: float) -> tuple[Tensor, Tensor]:
    """Truncation trick on FiLM parameters: ``avg + psi * (x - avg)`` (psi=1 is a no-op, 0 the average instance)."""
    if psi == 1.0:
        return freq, phase
    return torch.lerp(avg_freq, freq, psi), torch.lerp(avg_phase, phase, psi)


class FiLMSirenTrunk(nn.Module):
    """``num_layers`` FiLM-SIREN layers: Linear(in_dim, hidden), then Linear(hidden, hidden).

    forward(x (B, P, in_dim), freq, phase) with freq/phase (B, L, hidden), L >= num_layers
    (layer i uses slice i; extra slices, e.g. the colour layer's, are ignored) -> list of
    ``num_layers`` tensors (B, P, hidden), one per layer. GRAM sums per-layer heads over
    them; pi-GAN and StyleSDF use the last.
    """

    def __init__(self, in_dim: int = 3, hidden: int = 256, num_layers: int = 8):
        super().__init__()
        self.layers = nn.ModuleList(
            [FiLMSirenLayer(in_dim if i == 0 else hidden, hidden) for i in range(num_layers)]
        )
        self.layers[0].apply(first_layer_film_sine_init)
        self.in_dim, self.hidden, self.num_layers = in_dim, hidden, num_layers

    def forward(self, x: Tensor, freq: Tensor, phase: Tensor) -> list[Tensor]:
        if freq.shape[1] < self.num_layers:
            raise ValueError(f"need FiLM parameters for {self.num_layers} layers, got {freq.shape[1]}")
        outputs = []
        for i, layer in enumerate(self.layers):
            x = layer(x, freq[:, i], phase[:, i])
            outputs.append(x)
        return outputs
