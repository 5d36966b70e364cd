"""Sample placement along rays for volume rendering: bins, stratified jitter, inverse-CDF (importance) sampling.

All depths are distances along unit rays. A sorted set of S samples t (..., S) in [near, far] owns
the *sections* whose edges are near, the midpoints between neighbours, and far (:func:`section_edges`):
each sample is evaluated for the piece of ray around it (midpoint quadrature) and the sections tile
[near, far] exactly, so no 1e10 "last delta" is needed.

EG3D's ray marcher instead places S samples at ``linspace(near, far, S)`` plus a jitter of up to one
spacing (:func:`linspace_samples`), integrates over the S - 1 *intervals* between neighbours with the
field averaged at their ends (:func:`interval_midpoints`), and draws importance samples from the
interval weights smoothed by a 2-tap max then a 2-tap mean (:func:`smoothed_interval_weights`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def draw_like(sample: Callable[..., Tensor], shape: tuple[int, ...], like: Tensor,
              generator: torch.Generator | None = None) -> Tensor:
    """``sample`` (``torch.rand`` or ``torch.randn``) of ``shape`` in ``like``'s dtype, on ``like``'s device.

    A seeded draw is made on ``generator``'s device and then moved, so one seed gives the same numbers whichever
    device renders (and a CPU generator serves a CUDA render); without a generator it is drawn where ``like`` is.
    """
    device = like.device if generator is None else generator.device
    return sample(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def bin_centres(near: float, far: float, num: int, shape: tuple[int, ...], like: Tensor,
                jitter: bool | str = False, generator: torch.Generator | None = None) -> Tensor:
    """(shape..., num) depths in [near, far]: the centres of ``num`` equal bins, or jittered.

    ``jitter``: False (bin centres); True or ``"stratified"`` (one uniform draw inside each bin,
    NeRF/pi-GAN); ``"offset"`` (one uniform offset per ray shared by all its bins, StyleSDF's
    offset sampling, which keeps samples evenly spaced).
    """
    return place_samples(near, far, num, shape, like, "bins", jitter, generator)


#: Where the ``num`` samples of a ray sit before any jitter (Δ is the spacing):
#: ``"bins"``: the centres of ``num`` equal bins of [near, far], Δ = (far - near) / num (zoo3d);
#: ``"edges"``: the bins' near edges ``near + kΔ``, same Δ (StyleSDF's ``t_vals``);
#: ``"linspace"``: ``near`` to ``far`` inclusive, Δ = (far - near) / (num - 1) (pi-GAN).
SPACINGS = ("bins", "edges", "linspace")


def place_samples(near: float, far: float, num: int, shape: tuple[int, ...], like: Tensor,
                  spacing: str = "bins", jitter: bool | str = False, generator: torch.Generator | None = None,
                  u: Tensor | None = None) -> Tensor:
    """(shape..., num) sample depths along rays laid out by ``spacing`` (see :data:`SPACINGS`).

    ``jitter`` False: the layout itself. Otherwise each sample moves by ``u * Δ`` (``"bins"``,
    ``"edges"``: inside its bin) or ``(u - 1/2) * Δ`` (``"linspace"``: around its position, pi-GAN's
    ``perturb_points``), with ``u`` one uniform draw per sample (True / ``"stratified"``) or per ray
    (``"offset"``). ``u`` (shape..., num) or (shape..., 1) replaces the random draws (to reproduce
    another implementation's samples exactly).
    """
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, not {spacing!r}")
    kw = dict(device=like.device, dtype=like.dtype)
    if spacing == "linspace":
        base = torch.linspace(near, far, num, **kw)
        step = base[1] - base[0] if num > 1 else far - near  # as pi-GAN's perturb_points computes it
    elif spacing == "edges":
        step = (far - near) / num
        s = torch.linspace(0.0, 1.0 - 1.0 / num, num, **kw)
        base = near * (1 - s) + far * s
    else:
        step = (far - near) / num
        base = near + step * torch.arange(num, **kw)
    if not jitter:
        return (base + 0.5 * step if spacing == "bins" else base).expand(*shape, num).contiguous()
    if jitter not in (True, "stratified", "offset"):
        raise ValueError(f"jitter must be False, True, 'stratified' or 'offset', not {jitter!r}")
    if u is None:
        draws = 1 if jitter == "offset" else num
        u = draw_like(torch.rand, (*shape, draws), like, generator)
    u = u.to(device=like.device, dtype=like.dtype)
    if spacing == "linspace":
        return base + (u - 0.5) * step
    return base + u * step


def section_edges(t: Tensor, near: float, far: float) -> Tensor:
    """(..., S + 1) section edges for sorted samples t (..., S): near, midpoints, far."""
    mid = 0.5 * (t[..., 1:] + t[..., :-1])
    return torch.cat([torch.full_like(t[..., :1], near), mid, torch.full_like(t[..., :1], far)], dim=-1)


def sample_pdf(edges: Tensor, weights: Tensor, num: int, deterministic: bool = True,
               generator: torch.Generator | None = None, eps: float = 1e-5, u: Tensor | None = None) -> Tensor:
    """Inverse-CDF sampling of a piecewise-constant pdf over sections.

    Args:
        edges: (..., K + 1) increasing section edges; weights: (..., K) non-negative (not normalised).
        num: samples per ray; deterministic: u = (i + 0.5) / num instead of uniform draws.
        u: (..., num) draws in [0, 1) to use instead (to reproduce another implementation's samples).
    Returns:
        (..., num) depths, sorted when deterministic. No gradient flows (sample positions).
    """
    with torch.no_grad():
        w = weights + eps
        pdf = w / w.sum(-1, keepdim=True)
        cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], dim=-1).clamp(max=1.0)
        shape = (*cdf.shape[:-1], num)
        if u is not None:
            u = u.to(device=cdf.device, dtype=cdf.dtype).expand(shape).contiguous()
        elif deterministic:
            u = ((torch.arange(num, device=cdf.device, dtype=cdf.dtype) + 0.5) / num).expand(shape).contiguous()
        else:
            u = draw_like(torch.rand, shape, cdf, generator)
        K = weights.shape[-1]
        idx = torch.searchsorted(cdf.contiguous(), u, right=True)
        lo = (idx - 1).clamp(0, K - 1)
        cdf_lo, cdf_hi = cdf.gather(-1, lo), cdf.gather(-1, lo + 1)
        e_lo, e_hi = edges.gather(-1, lo), edges.gather(-1, lo + 1)
        frac = ((u - cdf_lo) / (cdf_hi - cdf_lo).clamp_min(1e-12)).clamp(0, 1)
        return e_lo + frac * (e_hi - e_lo)


def linspace_samples(near: float, far: float, num: int, shape: tuple[int, ...], like: Tensor,
                     u: Tensor | float = 0.0) -> Tensor:
    """(shape..., num) depths ``linspace(near, far, num) + u (far - near) / (num - 1)`` (EG3D's stratified samples).

    ``u`` in [0, 1): (shape..., num) uniform draws, or one number for every sample (0.5 = the middle of each
    jitter range). The last sample may lie up to one spacing beyond ``far``, as upstream's do.
    """
    base = torch.linspace(near, far, num, device=like.device, dtype=like.dtype)
    delta = (far - near) / (num - 1)
    if not torch.is_tensor(u):
        return (base + u * delta).expand(*shape, num).contiguous()
    return base + u.to(device=like.device, dtype=like.dtype) * delta


def interval_midpoints(t: Tensor, *values: Tensor | None) -> tuple[Tensor | None, ...]:
    """EG3D/MipNeRF intervals between neighbouring samples t (..., S): their lengths (..., S - 1), their
    midpoints (..., S - 1), then each value averaged over the interval's two ends (values (..., S) or
    (..., S, C); None stays None)."""
    out = [t[..., 1:] - t[..., :-1], (t[..., 1:] + t[..., :-1]) / 2]
    for v in values:
        if v is None:
            out.append(None)
        elif v.dim() == t.dim():
            out.append((v[..., :-1] + v[..., 1:]) / 2)
        else:
            out.append((v[..., :-1, :] + v[..., 1:, :]) / 2)
    return tuple(out)


def smoothed_interval_weights(weights: Tensor, floor: float = 0.01) -> Tensor:
    """EG3D's importance weights: (..., K) -> 2-tap max (edge-padded) -> 2-tap mean -> + ``floor``, (..., K)."""
    shape = weights.shape
    w = weights.reshape(-1, 1, shape[-1])
    w = torch.nn.functional.avg_pool1d(torch.nn.functional.max_pool1d(w, 2, 1, padding=1), 2, 1)
    return w.reshape(shape) + floor
