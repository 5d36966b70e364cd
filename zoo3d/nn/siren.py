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
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ColorFiLMLayer", "FiLMSirenLayer", "FiLMSirenTrunk", "PiGanMappingNetwork", "film_affine", "film_sine", "linear",
    "first_layer_film_sine_init", "frequency_init", "records_graph", "truncate_film",
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


def film_affine(layer: nn.Linear, freq: Tensor, phase: Tensor, in_scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """A FiLM-SIREN layer's sine argument as one affine map per instance.

    ``freq * (W (in_scale x) + b) + phase = x A^T + c`` with ``A = diag(freq) W in_scale`` (B, out, in)
    and ``c = freq * b + phase`` (B, out), for ``layer`` = Linear(in, out) and freq/phase (B, out).
    Folding the FiLM parameters into the weights turns the layer into one GEMM per instance plus the
    sine (:func:`film_sine`): no per-point products or sums, equal to the unfolded layer up to fp32 rounding.
    """
    a = layer.weight.unsqueeze(0) * (freq.unsqueeze(-1) * in_scale)
    c = torch.addcmul(phase, freq, layer.bias.to(freq.dtype))
    return a.to(freq.dtype), c


def film_sine(x: Tensor, a: Tensor, c: Tensor) -> Tensor:
    """``sin(x A^T + c)`` for x (B, Q, in) and :func:`film_affine`'s A (B, out, in), c (B, out) -> (B, Q, out).

    One batched GEMM with the bias inside it; without a graph the sine runs in place, so a layer costs
    one GEMM and one pass over its output. (Per-instance fused linears stacked afterwards gave the same
    values 1.5 to 3 times slower for GRAM's widths on a 2-core CPU: the stack is a copy of every output.)
    """
    y = torch.baddbmm(c.unsqueeze(1).to(x.dtype), x, a.transpose(1, 2).to(x.dtype))
    return torch.sin(y) if torch.is_grad_enabled() else y.sin_()


def records_graph(*tensors: Tensor | None) -> bool:
    """Whether autograd records an op on these tensors: grad mode on and one of them requires grad.

    A frozen network queried in a training step (the fixed manifolds of GRAMInverter's tiny preset, GRAM-HD's
    stage-1 generator in its super-resolution stage) runs with grad mode on yet records nothing, so
    :func:`linear` can take its no-graph kernel there.
    """
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _onednn_linear_usable(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    return (_ONEDNN_LINEAR is not None and x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32
            and not records_graph(x, weight, bias) and not torch.is_autocast_enabled("cpu"))


def _find_onednn_linear():
    """oneDNN's fused linear (bias and activation inside the GEMM), if this build has it and it computes
    ``x W^T + b``; checked once on a tiny input."""
    try:
        op = torch.ops.mkldnn._linear_pointwise
        if not torch.backends.mkldnn.is_available():
            return None
        g = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(*shape, generator=g) for shape in [(5, 7), (3, 7), (3,)])
        with torch.no_grad():
            ok = torch.allclose(op(x, w, b, "relu", [], ""), torch.relu(x @ w.t() + b), atol=1e-5)
        return op if ok else None
    except Exception:  # an older or CPU-only-without-oneDNN build: plain addmm
        return None


_ONEDNN_LINEAR = _find_onednn_linear()


def linear(x: Tensor, weight: Tensor, bias: Tensor | None, relu: bool = False) -> Tensor:
    """``x W^T + b`` (then ReLU) for x (..., in), weight (out, in).

    On CPU in fp32 where no graph is recorded (grad mode off, or no input or parameter requiring grad:
    :func:`records_graph`) this is oneDNN's fused kernel: bias and ReLU are applied inside the GEMM
    instead of in extra passes over the output (equal to addmm up to fp32 rounding). Elsewhere:
    ``F.linear`` and an in-place ReLU when no graph is recorded.
    """
    if bias is not None and _onednn_linear_usable(x, weight, bias):
        return _ONEDNN_LINEAR(x, weight, bias, "relu" if relu else "none", [], "")
    y = F.linear(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype))
    if relu:
        y = torch.relu(y) if y.requires_grad else y.relu_()
    return y


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

    ``codes(z)`` is the output before the frequencies are scaled, laid out per FiLM layer: (B, num_film_layers,
    2 * film_dim), each layer's raw frequencies then its phases, the tensors upstream's ``forward_with_frequencies``
    takes and pi-GAN's ``inverse_render.py`` optimises (its W+); ``film(codes)`` gives forward's ``(freq, phase)``
    from them, so ``forward(z)`` is ``film(codes(z))``.
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
        return self.film(self.codes(z))

    def codes(self, z: Tensor) -> Tensor:
        """z (B, z_dim) -> (B, num_film_layers, 2 * film_dim): per layer its raw frequencies, then its phases."""
        raw = self.out(self.hidden(z)).view(z.shape[0], 2, self.num_film_layers, self.film_dim)
        return raw.transpose(1, 2).reshape(z.shape[0], self.num_film_layers, 2 * self.film_dim)

    def film(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`codes`' layout (B, num_film_layers, 2 * film_dim) -> ``(freq, phase)``, each (B, num_film_layers,
        film_dim), with ``freq = freq_scale * raw + freq_bias``."""
        return codes[..., :self.film_dim] * self.freq_scale + self.freq_bias, codes[..., self.film_dim:]

    @torch.no_grad()
    def average(self, num_samples: int = 10000, generator: torch.Generator | None = None,
                batch_size: int = 2048) -> tuple[Tensor, Tensor]:
        """Mean (freq, phase), each (1, num_film_layers, film_dim), over ``num_samples`` z ~ N(0, I) (GRAM's get_avg_w)."""
        return self._mean(self, num_samples, generator, batch_size)

    @torch.no_grad()
    def average_codes(self, num_samples: int = 10000, generator: torch.Generator | None = None,
                      batch_size: int = 2048) -> Tensor:
        """Mean :meth:`codes` (1, num_film_layers, 2 * film_dim) over ``num_samples`` z ~ N(0, I): the mean w per
        layer that pi-GAN's ``inverse_render.py`` starts from (its 10000 latents drawn afresh; pass a seeded
        ``generator`` for the same mean each time)."""
        return self._mean(lambda z: (self.codes(z),), num_samples, generator, batch_size)[0]

    def _mean(self, outputs, num_samples: int, generator: torch.Generator | None, batch_size: int) -> tuple:
        """The mean of each tensor ``outputs(z)`` returns, over ``num_samples`` z ~ N(0, I) drawn ``batch_size`` at a
        time on ``generator``'s device (the CPU without one), in the weights' dtype and on their device."""
        p = self.out.weight
        totals = None
        done = 0
        while done < num_samples:
            n = min(batch_size, num_samples - done)
            z = torch.randn(n, self.z_dim, generator=generator, dtype=torch.float32,
                            device="cpu" if generator is None else generator.device)
            sums = [t.sum(0, keepdim=True) for t in outputs(z.to(p))]
            totals = sums if totals is None else [a + b for a, b in zip(totals, sums)]
            done += n
        return tuple(t / num_samples for t in totals)


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
