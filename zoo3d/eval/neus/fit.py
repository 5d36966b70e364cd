"""Fit a NeuS to V posed views of one instance and re-render those views.

Rays of all views are pooled and sampled in batches across views (NeuS upstream draws
512 rays from one image per step; pooling makes each step see every view and converge
in fewer steps). Optimiser: Adam, linear warm-up then cosine decay (NeuS schedule).

A short fit can lose its surface: the initial sphere covers every pixel, most of them background, and in
the first few dozen steps the SDF may turn positive everywhere, leaving the direction-only background to
paint a blur (a fit of a trained pi-GAN head fell from 0.89 mean opacity to 0 by step 20 and stayed there
to step 400). While it lasts the fit does not use the cameras at all, so it says nothing about the views'
consistency. A fit whose rays stay transparent for ``VANISH_WINDOW`` steps after its ramp (warm-up and
slope anneal) is drawn again from a new seed, up to ``settings.restarts`` times; fits that keep a surface
are untouched.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.devices import flush_denormals
from zoo3d.eval.neus.fields import ColorNetwork, DirectionalBackground, SDFNetwork, Variance
from zoo3d.eval.neus.render import render_rays


#: steps in a row whose batch mean opacity is below ``settings.vanish_opacity`` that mark a vanished surface
VANISH_WINDOW = 10
#: attempt k of a fit with seed s draws its networks and rays from seed s + k * RESTART_SEED_STRIDE
RESTART_SEED_STRIDE = 1000


@dataclass
class NeusFit:
    """renders (V, 3, H, W) in [-1, 1]; seconds of fitting (every attempt); final training loss; the learned s;
    restarts: how many attempts lost their surface and were drawn again; opacity: the re-rendered pixels' mean
    opacity (near 0: the fit kept no surface; None without a re-render)."""

    renders: Tensor | None
    seconds: float
    final_loss: float
    inv_s: float
    iterations: int
    restarts: int = 0
    opacity: float | None = None


class _SurfaceVanished(Exception):
    """An attempt's rays stayed transparent after its ramp (see the module docstring)."""


def learning_rate_factor(step: int, total: int, warmup: int, alpha: float) -> float:
    """NeuS schedule: linear warm-up over ``warmup`` steps, then cosine from 1 to ``alpha``."""
    if step < warmup:  # so warmup >= 1 here
        return step / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return (math.cos(math.pi * progress) + 1.0) * 0.5 * (1 - alpha) + alpha


def normalised_rays(cameras: Camera, resolution: int, scale: float) -> tuple[Tensor, Tensor]:
    """Rays (V*H*W, 3) of all views with the scene scaled by 1 / scale (subject inside the unit sphere)."""
    origins, dirs = cameras.rays(resolution, resolution)
    return (origins / scale).reshape(-1, 3), dirs.reshape(-1, 3)


#: ``callback(iterations_done, render_pixels)``: called after every optimiser step (after a restart the count
#: starts again from 1); ``render_pixels(idx)`` renders pixels of the pooled views (index ``(v * H + y) * W + x``)
#: as the final re-render does: (n, 3) in [0, 1].
StepCallback = Callable[[int, Callable[[Tensor], Tensor]], None]


def fit_neus(images: Tensor, cameras: Camera, settings, seed: int = 0, rerender: bool = True,
             callback: StepCallback | None = None) -> NeusFit:
    """Fit NeuS to ``images`` (V, 3, H, W) in [-1, 1] seen by ``cameras`` (V views); re-render them.

    ``settings`` is a :class:`zoo3d.eval.protocol.NeusSettings`. The scene is scaled by
    ``settings.scene_radius`` x the mean camera distance. Deterministic for a given seed on CPU.
    ``rerender=False`` skips the final re-render (timing runs); ``renders`` is then None.
    ``callback`` (see :data:`StepCallback`) watches the fit without changing it (its renders draw no random
    numbers); its time counts in ``seconds``. An attempt that loses its surface is drawn again (module
    docstring); the last allowed attempt runs to the end whatever happens, and ``restarts`` counts the others.
    On a CPU it runs with subnormal floats flushed to zero (:func:`zoo3d.devices.flush_denormals`), restored after.
    """
    attempts, abandoned_seconds = settings.restarts + 1, 0.0
    with flush_denormals(images.device):  # its Softplus and sigmoids make many; results unchanged where measured
        for attempt in range(attempts):
            start = time.perf_counter()
            try:
                fit = _fit_once(images, cameras, settings, int(seed) + attempt * RESTART_SEED_STRIDE, rerender,
                                callback, watch_surface=attempt + 1 < attempts)
            except _SurfaceVanished:
                abandoned_seconds += time.perf_counter() - start
                continue
            fit.restarts, fit.seconds = attempt, abandoned_seconds + fit.seconds
            return fit
    raise AssertionError("unreachable: the last attempt is not watched")


def _fit_once(images: Tensor, cameras: Camera, settings, seed: int, rerender: bool,
              callback: StepCallback | None, watch_surface: bool) -> NeusFit:
    """One attempt of :func:`fit_neus`; raises :class:`_SurfaceVanished` when ``watch_surface`` and it loses it."""
    device, dtype = images.device, torch.float32
    views, _, height, width = images.shape
    assert height == width, "NeuS fit expects square views"
    cameras = cameras.to(device=device, dtype=dtype)
    scale = settings.scene_radius * float(cameras.origins.norm(dim=-1).mean())
    origins, dirs = normalised_rays(cameras, height, scale)
    target = ((images.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).reshape(-1, 3)

    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(int(seed))
        sdf_net = SDFNetwork(settings.sdf_layers, settings.sdf_hidden, settings.feature_dim, settings.sdf_multires)
        color_net = ColorNetwork(settings.feature_dim, settings.color_layers, settings.color_hidden,
                                 settings.view_multires)
        variance = Variance(settings.init_variance)
        background = DirectionalBackground()
    modules = torch.nn.ModuleList([sdf_net, color_net, variance, background]).to(device)
    optim = torch.optim.Adam(modules.parameters(), lr=settings.lr)
    total = settings.iterations
    warmup = int(settings.warmup_fraction * total)
    anneal = int(settings.anneal_fraction * total)  # 0: the exact slope from the start, as NeuS's anneal_end 0
    n_rays = origins.shape[0]
    render_kw = dict(n_coarse=settings.n_coarse, n_importance=settings.n_importance,
                     upsample_steps=settings.upsample_steps)
    ramp = max(warmup, anneal)
    transparent_steps = 0

    def rerender_pixels(idx: Tensor) -> tuple[Tensor, Tensor]:
        """Colours (n, 3) in [0, 1] and opacities (n,) of the pooled views' pixels ``idx``."""
        colours, opacities = [], []
        for s in range(0, idx.shape[0], settings.eval_chunk):
            i = idx[s:s + settings.eval_chunk]
            out = render_rays(sdf_net, color_net, variance, background, origins[i], dirs[i], cos_anneal_ratio=1.0,
                              perturb=False, create_graph=False, **render_kw)
            colours.append(out.color.detach())
            opacities.append(out.weight_sum.detach())
        return torch.cat(colours), torch.cat(opacities)

    def render_pixels(idx: Tensor) -> Tensor:
        return rerender_pixels(idx)[0]

    start = time.perf_counter()
    loss_value = float("nan")
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(int(seed) + 1)
        for step in range(total):
            for group in optim.param_groups:
                group["lr"] = settings.lr * learning_rate_factor(step, total, warmup, settings.lr_alpha)
            idx = torch.randint(0, n_rays, (settings.batch_rays,), generator=gen).to(device)
            out = render_rays(sdf_net, color_net, variance, background, origins[idx], dirs[idx],
                              cos_anneal_ratio=min(1.0, step / anneal) if anneal else 1.0, perturb=True,
                              create_graph=True, **render_kw)
            # L1 averaged over RGB; NeuS sums it over RGB per ray, so its eikonal term weighs a third of
            # this one's. Summed, the small-network fit of the CI calibration scene falls apart (15.4 dB for
            # the consistent sphere against 24.6 for the re-textured one; docs/metrics.md).
            color_loss = (out.color - target[idx]).abs().mean()
            grad_norm = out.gradients.norm(dim=-1)
            inside = out.inside.to(grad_norm.dtype)
            eikonal = ((grad_norm - 1.0) ** 2 * inside).sum() / (inside.sum() + 1e-5)
            loss = color_loss + settings.eikonal_weight * eikonal
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            loss_value = float(color_loss.detach())
            if watch_surface:
                transparent = float(out.weight_sum.detach().mean()) < settings.vanish_opacity
                transparent_steps = transparent_steps + 1 if transparent and step >= ramp else 0
                if transparent_steps >= VANISH_WINDOW:
                    raise _SurfaceVanished
            if callback is not None:
                callback(step + 1, render_pixels)
    seconds = time.perf_counter() - start

    modules.eval()
    if not rerender:
        return NeusFit(None, seconds, loss_value, float(variance.inv_s().detach()), total)
    colours, opacities = rerender_pixels(torch.arange(n_rays, device=device))
    renders = colours.reshape(views, height, width, 3).permute(0, 3, 1, 2) * 2 - 1
    return NeusFit(renders, seconds, loss_value, float(variance.inv_s().detach()), total,
                   opacity=float(opacities.mean()))
