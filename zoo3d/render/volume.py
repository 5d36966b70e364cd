"""VolumeRenderer: NeRF-style quadrature for density and SDF fields (pi-GAN, EG3D tri-planes, StyleSDF, NeuS).

Per ray: S samples in [near, far] (bin centres, or stratified draws while training), optional
importance samples drawn from the coarse weights by inverse CDF and merged (sorted), each sample
owning the section of ray around it (midpoint quadrature, :mod:`zoo3d.render.samples`). Opacity:

* density: ``alpha = 1 - exp(-act(sigma) * delta)``, act = softplus or ReLU;
* sdf, ``stylesdf``: density ``sigmoid(-d / a) / a`` with the learnable ``a = rep.sdf_sharpness``;
* sdf, ``neus``: NeuS's discrete opacity (:func:`neus_alpha`) with ``s = rep.sdf_sharpness``.

Weights ``w = alpha * T`` with T = exclusive cumprod(1 - alpha + 1e-10); rgb (in [0, 1]) is composited,
a background added, and mapped to [-1, 1]. Depth is ``sum w t`` (not normalised: it fades to 0 where
nothing is hit and no background is given).

The authors' codebases place and integrate samples slightly differently; options reproduce them
exactly (for imported checkpoints): ``spacing`` (bin centres, StyleSDF's bin edges, pi-GAN's
inclusive linspace), ``intervals`` (zoo3d's sections, or NeRF's differences to the next sample with
a 1e10 last interval), ``depth_along="axis"`` (near/far and samples measured along the camera's
viewing axis, StyleSDF), ``importance_bins="midpoints"`` (pi-GAN's pdf over the midpoints of the
coarse samples), ``eval_fill_last`` (the last sample takes the weight the others leave, StyleSDF's
``force_background`` / pi-GAN's ``last_back``) and ``eval_view_dirs="camera"`` (view directions in
the camera frame, StyleSDF's ``static_viewdirs``); ``sampling="eg3d"`` is EG3D's own sampler and
ray marcher (linspace samples, integration over the intervals between them). :class:`SampleDraws`
replaces the random draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.outputs import RenderOutput
from zoo3d.core.renderer import Renderer
from zoo3d.core.representation import check_field_kind
from zoo3d.errors import UserError
from zoo3d.render.composite import composite, compositing_weights, weighted_sum
from zoo3d.render.intersect import intersect_plane_z
from zoo3d.render.manifold import resolve_resolution
from zoo3d.render.samples import (SPACINGS, draw_like, interval_midpoints, linspace_samples, place_samples,
                                  sample_pdf, section_edges, smoothed_interval_weights)

#: NeRF's length of the last interval ("differences" integration): the last sample absorbs what is left.
LAST_INTERVAL = 1e10


@dataclass
class SampleDraws:
    """Uniform draws in [0, 1) used instead of random ones (to reproduce another implementation's samples).

    jitter: (B, H*W, S) per-sample or (B, H*W, 1) per-ray coarse jitter (see :func:`place_samples`);
    importance: (B, H*W, num_importance) inverse-CDF draws. Either may be None. Rays are row-major.
    Given draws are used in eval mode too.
    """

    jitter: Tensor | None = None
    importance: Tensor | None = None

    def rays(self, start: int, stop: int) -> "SampleDraws":
        """The draws of rays [start, stop)."""
        return SampleDraws(*(None if x is None else x[:, start:stop] for x in (self.jitter, self.importance)))


def stylesdf_density(sdf: Tensor, sharpness: Tensor) -> Tensor:
    """StyleSDF: sigma = sigmoid(-d / a) / a (per world unit); small a = sharp surface."""
    return torch.sigmoid(-sdf / sharpness) / sharpness


def neus_alpha_from_ends(sdf_prev: Tensor, sdf_next: Tensor, inv_s, eps: float = 1e-5) -> Tensor:
    """NeuS discrete opacity of a section from the SDF at its two ends:
    alpha = max((Phi_s(f_prev) - Phi_s(f_next)) / Phi_s(f_prev), 0), Phi_s = sigmoid(s x) (upstream +1e-5 guards)."""
    prev_cdf, next_cdf = torch.sigmoid(sdf_prev * inv_s), torch.sigmoid(sdf_next * inv_s)
    return ((prev_cdf - next_cdf + eps) / (prev_cdf + eps)).clamp(0.0, 1.0)


def neus_alpha(sdf: Tensor, cos: Tensor, dist_before: Tensor, dist_after: Tensor, inv_s,
               cos_anneal_ratio: float = 1.0) -> Tensor:
    """NeuS opacity from the SDF at a section's sample point (upstream: the section midpoint).

    The section-end SDFs are estimated from ``sdf`` and the ray-direction slope ``cos`` (d . grad f,
    or a finite-difference estimate), annealed as upstream:
    c = -(relu(-cos/2 + 1/2)(1 - r) + relu(-cos) r) <= 0, f_prev = f - c * dist_before,
    f_next = f + c * dist_after (upstream: both distances = delta / 2).
    """
    c = -(F.relu(-cos * 0.5 + 0.5) * (1.0 - cos_anneal_ratio) + F.relu(-cos) * cos_anneal_ratio)
    return neus_alpha_from_ends(sdf - c * dist_before, sdf + c * dist_after, inv_s)


def ray_slope(values: Tensor, t: Tensor) -> Tensor:
    """d values / d t along each ray (..., S) by central differences (one-sided at the ends)."""
    if values.shape[-1] < 2:
        return torch.zeros_like(values)
    dv = torch.cat([values[..., 1:2] - values[..., :1], values[..., 2:] - values[..., :-2],
                    values[..., -1:] - values[..., -2:-1]], dim=-1)
    dt = torch.cat([t[..., 1:2] - t[..., :1], t[..., 2:] - t[..., :-2], t[..., -1:] - t[..., -2:-1]], dim=-1)
    return dv / dt.clamp_min(1e-12)


class VolumeRenderer(Renderer):
    """Renders any FieldRepresentation.

    Args:
        num_samples: coarse samples per ray; num_importance: extra inverse-CDF samples (0 = none).
        near, far: sampled distance range. stratified: jitter samples (and draw random u for
            importance sampling) while the module is in training mode; in eval mode samples are the
            bin centres and importance samples deterministic.
        density_activation: "softplus" or "relu" for density fields.
        sdf_mode: "stylesdf" or "neus" for SDF fields (sharpness from ``rep.sdf_sharpness``).
        background: None (black), "white", an RGB colour in [0, 1], or "plane" (the opaque plane
            z = ``rep.background_z`` (default -0.12) coloured by ``rep.background_radiance`` if present,
            else by ``rep.query``; samples behind it are dropped).
        chunk: rays (summed over the batch) per pass; cos_anneal_ratio: NeuS's r (1 = no annealing).
        neus_slope: how NeuS mode gets the SDF slope along the ray: "finite" (central differences
            of neighbouring samples, no extra pass) or "gradient" (d . grad f by autograd, as upstream).
        jitter: how training-mode samples are jittered: "stratified" (one draw per bin, NeRF/pi-GAN)
            or "offset" (one offset per ray, samples stay evenly spaced: StyleSDF's offset sampling).
        spacing: "bins" (bin centres), "edges" (bin near edges, StyleSDF) or "linspace" (near to far
            inclusive, jittered by +-half a step, pi-GAN); see :func:`zoo3d.render.samples.place_samples`.
        intervals: the ray length each sample stands for: "sections" (from the midpoint before it to
            the midpoint after it, [near, far] tiled exactly) or "differences" (to the next sample; the
            last one's is 1e10, so it absorbs everything left: NeRF, pi-GAN, StyleSDF).
        depth_along: "ray" (near, far and sample depths are distances along the unit ray) or "axis"
            (depths along the camera's viewing axis, so samples lie on planes facing the camera: StyleSDF).
        importance_bins: the pdf importance samples are drawn from: "sections" (every coarse sample's
            section) or "midpoints" (between the coarse samples' midpoints, from the inner S - 2
            weights + 1e-5: pi-GAN).
        eval_fill_last: in eval mode the last sample takes the weight the others leave (1 - sum),
            so every ray is opaque (StyleSDF ``force_background``, pi-GAN ``last_back``). ``alpha``
            still reports the opacity before the filling, and a ``background`` is added with 1 - that
            opacity, as pi-GAN's ``fancy_integration`` adds its white after ``last_back``.
        eval_view_dirs: the directions the field sees in eval mode: "world" (the rays') or "camera"
            (the ray in the camera frame, x right, y up, looking down -z: view dependence locked to
            the image, StyleSDF ``static_viewdirs``).
        sampling: "sections" (all of the above) or "eg3d": EG3D's ImportanceRenderer + MipRayMarcher2,
            i.e. samples at ``linspace(near, far, S)`` jittered by up to one spacing, the S - 1
            intervals between neighbours integrated with the raw field and colour averaged at their
            ends, importance samples from the smoothed interval weights (:mod:`zoo3d.render.samples`);
            depth and weights then refer to the interval midpoints. In eval mode its jitter is the
            middle of each range and its importance draws ``(i + 0.5) / N`` (upstream always draws).
    """

    def __init__(self, num_samples: int = 24, num_importance: int = 0, near: float = 0.88, far: float = 1.12,
                 stratified: bool = True, density_activation: str = "softplus", sdf_mode: str = "stylesdf",
                 background: None | str | Sequence[float] = None, chunk: int = 16384, cos_anneal_ratio: float = 1.0,
                 neus_slope: str = "finite", jitter: str = "stratified", spacing: str = "bins",
                 intervals: str = "sections", depth_along: str = "ray", importance_bins: str = "sections",
                 eval_fill_last: bool = False, eval_view_dirs: str = "world", sampling: str = "sections"):
        super().__init__()
        if sampling not in ("sections", "eg3d"):
            raise ValueError(f"sampling must be 'sections' or 'eg3d', not {sampling!r}")
        if sampling == "eg3d" and (background == "plane" or num_samples < 3):
            raise ValueError("sampling='eg3d' needs num_samples >= 3 and no background plane")
        ignored = [name for name, value, default in (("depth_along", depth_along, "ray"), ("eval_fill_last",
                   eval_fill_last, False), ("eval_view_dirs", eval_view_dirs, "world")) if value != default]
        if sampling == "eg3d" and ignored:  # EG3D's marcher has its own rules for these: refused, not dropped
            raise ValueError(f"sampling='eg3d' has EG3D's own depths, view directions and last sample; "
                             f"{', '.join(ignored)} would be ignored")
        self.sampling = sampling
        if jitter not in ("stratified", "offset"):
            raise ValueError(f"jitter must be 'stratified' or 'offset', not {jitter!r}")
        for name, value, allowed in (("spacing", spacing, SPACINGS), ("intervals", intervals, ("sections", "differences")),
                                     ("depth_along", depth_along, ("ray", "axis")),
                                     ("importance_bins", importance_bins, ("sections", "midpoints")),
                                     ("eval_view_dirs", eval_view_dirs, ("world", "camera"))):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        self.jitter, self.spacing, self.intervals, self.depth_along = jitter, spacing, intervals, depth_along
        self.importance_bins, self.eval_fill_last, self.eval_view_dirs = importance_bins, eval_fill_last, eval_view_dirs
        if importance_bins == "midpoints" and num_importance > 0 and num_samples < 3:
            raise ValueError("importance_bins='midpoints' draws from the inner num_samples - 2 weights: "
                             f"it needs num_samples >= 3, got {num_samples}")
        if density_activation not in ("softplus", "relu"):
            raise ValueError(f"density_activation must be 'softplus' or 'relu', not {density_activation!r}")
        if sdf_mode not in ("stylesdf", "neus"):
            raise ValueError(f"sdf_mode must be 'stylesdf' or 'neus', not {sdf_mode!r}")
        if isinstance(background, str) and background not in ("white", "plane"):
            raise ValueError(f"background must be None, 'white', 'plane' or an RGB colour, not {background!r}")
        self.num_samples, self.num_importance, self.near, self.far = num_samples, num_importance, near, far
        self.stratified, self.density_activation, self.sdf_mode = stratified, density_activation, sdf_mode
        if neus_slope not in ("finite", "gradient"):
            raise ValueError(f"neus_slope must be 'finite' or 'gradient', not {neus_slope!r}")
        self.background, self.chunk, self.cos_anneal_ratio = background, chunk, cos_anneal_ratio
        self.neus_slope = neus_slope

    def render(self, rep, cameras: Camera, resolution=None, generator: torch.Generator | None = None,
               draws: SampleDraws | None = None) -> RenderOutput:
        """Render B instances (one camera each) at (H, W); ``generator`` seeds the sample jitter,
        ``draws`` replaces the random draws altogether."""
        H, W = resolve_resolution(resolution, cameras)
        origins, dirs = cameras.rays(H, W)
        B, P = origins.shape[:2]
        camera_view = self.eval_view_dirs == "camera" and not self.training
        local = None  # (x, y, 1): the rays in the OpenCV camera frame, unit depth
        if self.depth_along == "axis" or camera_view:
            local = _camera_frame_directions(cameras, H, W).to(dirs)
        stretch = None
        if self.depth_along == "axis":
            # rays of unit depth along the viewing axis, computed as the authors do (R (x, y, 1), unnormalised):
            # points o + z d then round exactly as theirs; the length is the distance per unit of depth
            dirs = local @ cameras.cam2world[:, :3, :3].transpose(1, 2).to(dirs)
            stretch = dirs.norm(dim=-1, keepdim=True)
        view = None
        if camera_view:
            view = local * torch.tensor([1.0, -1.0, -1.0], dtype=dirs.dtype, device=dirs.device)  # x right, y up
            view = view / view.norm(dim=-1, keepdim=True)
        per_chunk = max(1, self.chunk // B)

        def part(s: int):
            e = s + per_chunk
            return self.render_rays(rep, origins[:, s:e], dirs[:, s:e], generator,
                                    draws=None if draws is None else draws.rays(s, e),
                                    stretch=None if stretch is None else stretch[:, s:e],
                                    view_dirs=None if view is None else view[:, s:e])

        parts = [part(s) for s in range(0, P, per_chunk)]

        def image(key):
            vals = [p[key] for p in parts]
            return None if vals[0] is None else torch.cat(vals, 1).transpose(1, 2).reshape(B, -1, H, W)

        t = torch.cat([p["t"] for p in parts], 1)
        return RenderOutput(rgb=image("rgb") * 2 - 1, depth=image("depth"), alpha=image("alpha"),
                            features=image("features"), weights=image("weights"),
                            extras={"t": t.transpose(1, 2).reshape(B, -1, H, W),
                                    "raw": image("raw")})

    # ------------------------------------------------------------------ per ray chunk
    def render_rays(self, rep, origins: Tensor, dirs: Tensor, generator: torch.Generator | None = None,
                    draws: SampleDraws | None = None, stretch: Tensor | None = None,
                    view_dirs: Tensor | None = None) -> dict:
        """Render rays (B, p, 3): rgb (B, p, 3) in [0, 1], depth/alpha (B, p, 1), features, weights/t/raw (B, p, K).

        ``stretch`` (B, p, 1): the length of ``dirs`` when they are not unit vectors but have unit depth
        along the viewing axis (``depth_along="axis"``: near/far and samples are depths); ``view_dirs`` (B, p, 3): the directions the
        field sees instead of ``dirs``; ``draws``: see :class:`SampleDraws`. ``raw`` is the field's
        raw density or SDF value at each sample. A field whose ``kind`` is neither is refused
        (:func:`zoo3d.core.representation.check_field_kind`).
        """
        check_field_kind(rep)
        if self.sampling == "eg3d":
            return self._render_rays_eg3d(rep, origins, dirs, generator, draws or SampleDraws())
        B, p, _ = origins.shape
        random = self.stratified and self.training
        draws = draws or SampleDraws()
        jitter = self.jitter if (random or draws.jitter is not None) else False
        t = place_samples(self.near, self.far, self.num_samples, (B, p), origins, self.spacing, jitter,
                          generator, u=draws.jitter)
        near, far = self.near, self.far
        if stretch is not None and view_dirs is None:  # the field sees unit directions (StyleSDF normalises them)
            view_dirs = dirs / stretch
        rgb, raw, feats, slope = self._query(rep, origins, dirs, t, view_dirs, stretch)
        if stretch is not None:  # from depths to distances along the ray
            dirs = dirs / stretch
            t = t * stretch
            near, far = near * stretch, far * stretch
        if self.num_importance > 0:
            with torch.no_grad():
                coarse_slope = None if slope is None else slope.detach()
                coarse = self._with_density_noise(rep, raw.detach(), generator)
                w = compositing_weights(self._alpha(rep, coarse, t, coarse_slope, near, far, stretch))
                if self.importance_bins == "midpoints":
                    edges, w = 0.5 * (t[..., 1:] + t[..., :-1]), w[..., 1:-1] + 1e-5
                else:
                    edges = _section_edges(t, near, far)
                t_fine = sample_pdf(edges, w, self.num_importance, deterministic=not random,
                                    generator=generator, u=draws.importance)
            rgb_f, raw_f, feats_f, slope_f = self._query(rep, origins, dirs, t_fine, view_dirs)  # t_fine: distances
            t, order = torch.sort(torch.cat([t, t_fine], -1), dim=-1)
            raw = torch.cat([raw, raw_f], -1).gather(-1, order)
            if slope is not None:
                slope = torch.cat([slope, slope_f], -1).gather(-1, order)
            rgb = torch.cat([rgb, rgb_f], -2).gather(-2, order.unsqueeze(-1).expand(*order.shape, 3))
            if feats is not None:
                feats = torch.cat([feats, feats_f], -2)
                feats = feats.gather(-2, order.unsqueeze(-1).expand(*order.shape, feats.shape[-1]))
        alpha = self._alpha(rep, self._with_density_noise(rep, raw, generator), t, slope, near, far, stretch)

        if self.background == "plane":
            return {**self._with_plane(rep, origins, dirs, t, alpha, rgb, feats), "raw": raw}
        w = compositing_weights(alpha)
        acc = w.sum(-1, keepdim=True)
        if self.eval_fill_last and not self.training:
            w = torch.cat([w[..., :-1], 1 - w[..., :-1].sum(-1, keepdim=True)], -1)
        out_rgb = weighted_sum(w, rgb)
        if self.background is not None:
            colour = torch.ones(3, device=rgb.device, dtype=rgb.dtype) if self.background == "white" else \
                torch.as_tensor(self.background, device=rgb.device, dtype=rgb.dtype)
            out_rgb = out_rgb + (1 - acc) * colour  # the opacity before any fill, as pi-GAN adds its white
        return {"rgb": out_rgb, "depth": (w * t).sum(-1, keepdim=True), "alpha": acc,
                "features": None if feats is None else weighted_sum(w, feats), "weights": w, "t": t, "raw": raw}

    def _render_rays_eg3d(self, rep, origins: Tensor, dirs: Tensor, generator: torch.Generator | None,
                          draws: SampleDraws) -> dict:
        """EG3D's ImportanceRenderer + MipRayMarcher2 on rays (B, p, 3); the outputs of :meth:`render_rays`."""
        B, p, _ = origins.shape
        S, N = self.num_samples, self.num_importance
        random = self.stratified and self.training

        def uniform(given: Tensor | None, n: int) -> Tensor | None:
            if given is not None or not random:
                return given
            return draw_like(torch.rand, (B, p, n), origins, generator)

        u = uniform(draws.jitter, S)
        t = linspace_samples(self.near, self.far, S, (B, p), origins, 0.5 if u is None else u)
        rgb, raw, feats, _ = self._query(rep, origins, dirs, t)
        if N > 0:
            with torch.no_grad():
                delta, mids, raw_mid = interval_midpoints(t, raw.detach())
                alpha = self._interval_alpha(rep, self._with_density_noise(rep, raw_mid, generator), delta)
                w = smoothed_interval_weights(compositing_weights(alpha))
                # upstream's pdf: the S - 3 inner smoothed weights over the segments between the first S - 2 mids
                t_fine = sample_pdf(mids[..., :S - 2], w[..., 1:-1], N, u=uniform(draws.importance, N))
            rgb_f, raw_f, feats_f, _ = self._query(rep, origins, dirs, t_fine)
            t, order = torch.sort(torch.cat([t, t_fine], -1), dim=-1)
            raw = torch.cat([raw, raw_f], -1).gather(-1, order)
            rgb = torch.cat([rgb, rgb_f], -2).gather(-2, order.unsqueeze(-1).expand(*order.shape, 3))
            if feats is not None:
                feats = torch.cat([feats, feats_f], -2)
                feats = feats.gather(-2, order.unsqueeze(-1).expand(*order.shape, feats.shape[-1]))
        delta, t_mid, raw_mid, rgb_mid, feats_mid = interval_midpoints(t, raw, rgb, feats)
        comp = composite(self._interval_alpha(rep, self._with_density_noise(rep, raw_mid, generator), delta),
                         rgb_mid, t_mid, feats_mid)
        out_rgb = comp.rgb
        if self.background is not None:
            colour = torch.ones(3, device=rgb.device, dtype=rgb.dtype) if self.background == "white" else \
                torch.as_tensor(self.background, device=rgb.device, dtype=rgb.dtype)
            out_rgb = out_rgb + (1 - comp.acc) * colour
        return {"rgb": out_rgb, "depth": comp.depth, "alpha": comp.acc, "features": comp.features,
                "weights": comp.weights, "t": t_mid, "raw": raw_mid}

    @staticmethod
    def _with_density_noise(rep, raw: Tensor, generator: torch.Generator | None) -> Tensor:
        """``raw`` + N(0, std^2), std = ``rep.density_noise`` (0 or absent: ``raw`` itself), for a density field.

        Drawn afresh at each integration, as pi-GAN's ``fancy_integration`` draws its ``nerf_noise``: once over
        the coarse samples for the importance weights, once over every sample for the image."""
        std = getattr(rep, "density_noise", 0.0) if rep.kind == "density" else 0.0
        if not std:
            return raw
        return raw + draw_like(torch.randn, raw.shape, raw, generator) * std

    def _interval_alpha(self, rep, raw: Tensor, delta: Tensor) -> Tensor:
        """Opacity of intervals of length ``delta`` from the raw field averaged over each (density or StyleSDF)."""
        if rep.kind == "density":
            sigma = F.softplus(raw) if self.density_activation == "softplus" else F.relu(raw)
        elif self.sdf_mode == "stylesdf":
            sigma = stylesdf_density(raw, rep.sdf_sharpness)
        else:
            raise ValueError("sampling='eg3d' renders density and StyleSDF fields, not NeuS opacities")
        return 1 - torch.exp(-sigma * delta)

    def _query(self, rep, origins, dirs, t, view_dirs=None, stretch=None):
        """Field at the samples: rgb (B, p, S, 3), raw (B, p, S), features (B, p, S, C) or None, and the SDF
        slope along the ray d . grad f (B, p, S) when NeuS uses gradients (else None): d is the unit ray
        (``dirs / stretch``), whatever directions the field is shown."""
        B, p, S = t.shape
        pts = origins.unsqueeze(-2) + t.unsqueeze(-1) * dirs.unsqueeze(-2)  # (B, p, S, 3)
        d = (dirs if view_dirs is None else view_dirs).unsqueeze(-2).expand_as(pts).reshape(B, p * S, 3)
        pts = pts.reshape(B, p * S, 3)
        slope = None
        if self._wants_gradient(rep):
            create_graph = torch.is_grad_enabled()
            with torch.enable_grad():
                pts = pts.detach().requires_grad_(True)
                rad = rep.query(pts, d)
                (grad,) = torch.autograd.grad(rad.sigma.sum(), pts, create_graph=create_graph)
            ray = dirs if stretch is None else dirs / stretch
            slope = (grad * ray.unsqueeze(-2).expand(B, p, S, 3).reshape(B, p * S, 3)).sum(-1).reshape(B, p, S)
        else:
            rad = rep.query(pts, d)
        feats = None if rad.features is None else rad.features.reshape(B, p, S, -1)
        return rad.rgb.reshape(B, p, S, 3), rad.sigma.reshape(B, p, S), feats, slope

    def _wants_gradient(self, rep) -> bool:
        return rep.kind == "sdf" and self.sdf_mode == "neus" and self.neus_slope == "gradient"

    def _alpha(self, rep, raw: Tensor, t: Tensor, slope: Tensor | None = None, near=None, far=None,
               stretch: Tensor | None = None) -> Tensor:
        """Opacity of each sample's interval from the raw field value (density or SDF) (B, p, S);
        ``slope`` = d . grad f for NeuS (finite differences along the ray when None). ``near``/``far``
        (numbers or (B, p, 1)) default to the renderer's; ``stretch`` scales the 1e10 last interval."""
        near = self.near if near is None else near
        far = self.far if far is None else far
        edges = _section_edges(t, near, far)
        if self.intervals == "differences":
            last = torch.full_like(t[..., :1], LAST_INTERVAL)
            delta = torch.cat([t[..., 1:] - t[..., :-1], last if stretch is None else last * stretch], -1)
        else:
            delta = edges[..., 1:] - edges[..., :-1]
        if rep.kind == "density":
            sigma = F.softplus(raw) if self.density_activation == "softplus" else F.relu(raw)
            return 1 - torch.exp(-sigma * delta)
        sharp = getattr(rep, "sdf_sharpness", None)
        if sharp is None:
            raise UserError(f"{type(rep).__name__} is an SDF field (kind 'sdf') without `sdf_sharpness`, the tensor "
                            f"that turns its distances into opacity (StyleSDF's alpha, NeuS's s); give it one "
                            f"(docs/plugins.md).")
        if self.sdf_mode == "stylesdf":
            return 1 - torch.exp(-stylesdf_density(raw, sharp) * delta)
        slope = ray_slope(raw, t) if slope is None else slope
        return neus_alpha(raw, slope, t - edges[..., :-1], edges[..., 1:] - t, sharp, self.cos_anneal_ratio)

    def _with_plane(self, rep, origins, dirs, t, alpha, rgb, feats) -> dict:
        z = getattr(rep, "background_z", None)
        z = -0.12 if z is None else z
        t_bg, hit = intersect_plane_z(origins, dirs, z)
        in_front = ~hit.unsqueeze(-1) | (t < t_bg.unsqueeze(-1))
        alpha = alpha * in_front
        p_bg = origins + t_bg.unsqueeze(-1) * dirs
        answer = getattr(rep, "background_radiance", None)
        bg = answer(p_bg, dirs) if answer is not None else rep.query(p_bg, dirs)
        a_all = torch.cat([alpha, hit.to(alpha.dtype).unsqueeze(-1)], -1)
        rgb_all = torch.cat([rgb, bg.rgb.unsqueeze(-2)], -2)
        t_all = torch.cat([t, t_bg.unsqueeze(-1)], -1)
        f_all = None
        if feats is not None:
            bg_f = bg.features if bg.features is not None else feats.new_zeros(*feats.shape[:2], feats.shape[-1])
            f_all = torch.cat([feats, bg_f.unsqueeze(-2)], -2)
        comp = composite(a_all, rgb_all, t_all, f_all)
        return {"rgb": comp.rgb, "depth": comp.depth, "alpha": comp.weights[..., :-1].sum(-1, keepdim=True),
                "features": comp.features, "weights": comp.weights, "t": t_all}


def _section_edges(t: Tensor, near, far) -> Tensor:
    """:func:`section_edges` with near/far given as numbers or per-ray tensors (..., 1)."""
    if not torch.is_tensor(near):
        return section_edges(t, near, far)
    mid = 0.5 * (t[..., 1:] + t[..., :-1])
    return torch.cat([near.expand_as(t[..., :1]), mid, far.expand_as(t[..., :1])], dim=-1)


def _camera_frame_directions(cameras: Camera, H: int, W: int) -> Tensor:
    """(B, H*W, 3) ray directions ``(x, y, 1)`` through the pixel centres in the OpenCV camera frame
    (unit depth, not unit length), as :meth:`Camera.rays` computes them before rotating and normalising."""
    uv = cameras.pixel_grid(H, W)
    k = cameras.intrinsics
    x = (uv[None, :, 0] - k[:, None, 0, 2]) / k[:, None, 0, 0]
    y = (uv[None, :, 1] - k[:, None, 1, 2]) / k[:, None, 1, 1]
    return torch.stack([x, y, torch.ones_like(x)], dim=-1)
