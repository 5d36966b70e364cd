"""ManifoldRenderer: render radiance manifolds (GRAM, GRAM-HD, GRAMInverter) for per-instance cameras.

Per ray: intersect every level of s (:func:`intersect_manifolds`), hit the optional background
plane analytically (opaque), query radiance at the hits, sort all layers by distance and
composite with GRAM's alpha convention (:func:`composite`). Depth is ``sum_k w_k t_k`` (GRAM-HD;
with the opaque background the weights sum to 1), ``t`` = Euclidean distance from the camera centre.

Sparse shading. A representation that also answers ``radiance_at(points (B, Q, 3), dirs (B, Q, 3),
layers (B, Q))`` -- radiance of any points, each on the manifold ``layers`` names (index N = the
background plane) -- is shaded only where a layer can contribute: its hits are sorted by distance
first and radiance is queried front to back, a few layers at a time, at the hits that are valid and
not behind an opaque prefix (transmittance below ``opaque_transmittance``, 1e-6 by default: what is
left out weighs less than that in every output). Invalid hits (alpha 0) are never queried. The
result equals the dense path up to that bound and fp32 rounding; representations without the
method (textures) are shaded densely.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.outputs import RenderOutput
from zoo3d.core.renderer import Renderer
from zoo3d.render.composite import TRANSMITTANCE_EPS, composite
from zoo3d.render.intersect import intersect_manifolds, intersect_plane_z

#: Without a graph nothing of a chunk outlives its compositing, so rays go through at most this many at a time
#: (the scalar field's 64 samples per ray dominate the chunk's memory: ~100 KB per ray).
NO_GRAD_CHUNK = 8192
#: Layers shaded per radiance query of the sparse path (between two transmittance checks).
SPARSE_GROUP = 4
#: Transmittance below which the rest of a ray is not shaded (its weights sum to less than this).
OPAQUE_TRANSMITTANCE = 1e-6


def resolve_resolution(resolution, cameras: Camera) -> tuple[int, int]:
    """(H, W) from an int, a pair, or the cameras' own resolution."""
    if resolution is None:
        resolution = cameras.resolution
    if resolution is None:
        raise ValueError("render needs a resolution: pass one or set Camera.resolution")
    if isinstance(resolution, int):
        return resolution, resolution
    return int(resolution[0]), int(resolution[1])


def _to_rays_layout(x: Tensor) -> Tensor:
    """(B, N, P, ...) -> (B, P, N, ...)."""
    return x.transpose(1, 2)


def _background_layer(origins: Tensor, dirs: Tensor, background_z, background_hits: Tensor | None
                      ) -> tuple[Tensor, Tensor, Tensor]:
    """The background plane as one more layer of each ray: distance t (inf where the plane is missed),
    hit mask and hit points; ``background_hits`` (given points, e.g. GRAM-HD's from LR rays) replace the
    ray-plane intersections while the hit mask stays the rays' own."""
    t, hit = intersect_plane_z(origins, dirs, background_z)
    points = origins + t.unsqueeze(-1) * dirs
    if background_hits is not None:
        points = background_hits.to(points)
        t = (points - origins).norm(dim=-1)
    return torch.where(hit, t, torch.full_like(t, float("inf"))), hit, points


def _accumulate(total: Tensor | None, term: Tensor) -> Tensor:
    return term if total is None else total + term


class ManifoldRenderer(Renderer):
    """Renders any ManifoldRepresentation.

    Args:
        num_samples: coarse samples per ray used to find the level crossings (GRAM: 64).
        near, far: sampled distance range along each ray (GRAM FFHQ: 0.88, 1.12).
        chunk: rays (summed over the batch) processed at once; bounds peak memory.
        compute_normals: also return normals from grad s (costs one backward pass through s).
        upsample_align_corners: how LR intersections are bilinearly upsampled for HR rendering.
            False (default) matches zoo3d's pixel-centre rays at ``(j + 0.5) / W``; GRAM-HD used
            True because its ray grid puts the edge pixel centres at the image borders.
        align_corners: cast rays on GRAM's pixel grid (edge pixel centres on the image borders,
            :meth:`zoo3d.cameras.Camera.rays`) instead of pixel centres; set for imported releases.
        white_background: add ``1 - sum(weights)`` to the colour (GRAM's CARLA setting, which has no
            background plane).
        upsample_background: with ``intersection_resolution``, also take the background-plane hits by
            bilinear upsampling of the LR ones, as GRAM-HD does, instead of intersecting every HR ray
            with the plane (exact; the default).
        opaque_transmittance: sparse shading (see the module doc) stops a ray once its transmittance is
            below this; 0 shades every valid hit.
    """

    def __init__(self, num_samples: int = 64, near: float = 0.88, far: float = 1.12, chunk: int = 16384,
                 compute_normals: bool = False, upsample_align_corners: bool = False, align_corners: bool = False,
                 white_background: bool = False, upsample_background: bool = False,
                 opaque_transmittance: float = OPAQUE_TRANSMITTANCE):
        super().__init__()
        if num_samples < 2:
            raise ValueError("ManifoldRenderer needs at least 2 samples per ray")
        self.num_samples, self.near, self.far = num_samples, near, far
        self.chunk, self.compute_normals = chunk, compute_normals
        self.upsample_align_corners = upsample_align_corners
        self.align_corners, self.white_background = align_corners, white_background
        self.upsample_background = upsample_background
        self.opaque_transmittance = opaque_transmittance

    # ------------------------------------------------------------------ public
    def render(self, rep, cameras: Camera, resolution=None, intersection_resolution=None,
               intersections: tuple[Tensor, Tensor] | None = None) -> RenderOutput:
        """Render B instances, one camera each, at ``resolution`` (H, W).

        ``intersection_resolution`` (h, w) smaller than the output: intersections are computed at
        (h, w), their points bilinearly upsampled and validity upsampled then thresholded at > 0.99,
        and radiance is queried at full resolution (GRAM-HD's HR rendering).
        ``intersections``: (points (B, N, h*w, 3), valid (B, N, h*w)) from :meth:`intersect` at the
        intersection resolution (the output's when ``intersection_resolution`` is None), used instead
        of intersecting again (GRAM-HD renders its LR image and its HR image from one intersection).
        """
        H, W = resolve_resolution(resolution, cameras)
        ref = rep.levels
        cameras = cameras.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else None)
        origins, dirs = cameras.rays(H, W, align_corners=self.align_corners)
        B, P = origins.shape[:2]
        per_chunk = max(1, self._chunk() // B)

        hits = intersections
        hr_background = None
        if intersection_resolution is not None:
            h, w = resolve_resolution(intersection_resolution, cameras)
            if (h, w) != (H, W):
                if hits is None:
                    hits = self.intersect(rep, cameras, (h, w))
                hits = self._upsample_hits(hits, (h, w), (H, W))
                if self.upsample_background and getattr(rep, "background_z", None) is not None:
                    hr_background = self._upsampled_background_hits(rep, cameras, (h, w), (H, W))

        parts = []
        for start in range(0, P, per_chunk):
            sl = slice(start, start + per_chunk)
            o, d = origins[:, sl], dirs[:, sl]
            if hits is None:
                pts, valid, _ = intersect_manifolds(rep, o, d, self.near, self.far, self.num_samples)
            else:
                pts, valid = hits[0][:, :, sl], hits[1][:, :, sl]
            bg = None if hr_background is None else hr_background[:, sl]
            parts.append(self._shade(rep, o, d, pts, valid, bg))
        if not any(p.get("shaded", True) for p in parts):
            self._zero_features(rep, parts, origins, dirs)
        return self._assemble(parts, B, H, W)

    @staticmethod
    def _zero_features(rep, parts: list[dict], origins: Tensor, dirs: Tensor) -> None:
        """Sparse shading that shaded nothing (no hit, no background plane) learnt no feature width: one query
        of one point tells it, and the features are zeros, as the dense path composites them."""
        rad = rep.radiance_at(origins[:, :1], dirs[:, :1], origins.new_zeros(origins.shape[0], 1, dtype=torch.long))
        if rad.features is not None:
            for part in parts:
                part["features"] = part["rgb"].new_zeros(*part["rgb"].shape[:-1], rad.features.shape[-1])

    def intersect(self, rep, cameras: Camera, resolution) -> tuple[Tensor, Tensor]:
        """The ray-manifold hits of the (H, W) rays: points (B, N, H*W, 3) and valid (B, N, H*W), in chunks."""
        h, w = resolve_resolution(resolution, cameras)
        ref = rep.levels
        cameras = cameras.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else None)
        o, d = cameras.rays(h, w, align_corners=self.align_corners)
        B = o.shape[0]
        per_chunk = max(1, self._chunk() // B)
        pts, valid = [], []
        for start in range(0, h * w, per_chunk):
            sl = slice(start, start + per_chunk)
            p, v, _ = intersect_manifolds(rep, o[:, sl], d[:, sl], self.near, self.far, self.num_samples)
            pts.append(p)
            valid.append(v)
        # joined in the rays-major layout intersect_manifolds returns its hits in (a (B, N, P) view of (B, P, N)
        # memory), so rendering from them computes what rendering alone does, in the same order
        return (torch.cat([p.transpose(1, 2) for p in pts], 1).transpose(1, 2),
                torch.cat([v.transpose(1, 2) for v in valid], 1).transpose(1, 2))

    def _chunk(self) -> int:
        return self.chunk if torch.is_grad_enabled() else min(self.chunk, NO_GRAD_CHUNK)

    # ------------------------------------------------------------------ steps
    def _upsample_hits(self, hits: tuple[Tensor, Tensor], low, high) -> tuple[Tensor, Tensor]:
        """LR hits (B, N, h*w, ...) -> bilinearly upsampled points (B, N, H*W, 3), valid where the upsampled validity > 0.99."""
        (h, w), (H, W) = low, high
        pts, valid = hits
        B, N = pts.shape[:2]
        grid = pts.reshape(B, N, h, w, 3).permute(0, 1, 4, 2, 3).reshape(B, N * 3, h, w)
        up = F.interpolate(grid, size=(H, W), mode="bilinear", align_corners=self.upsample_align_corners)
        up = up.reshape(B, N, 3, H * W).transpose(-1, -2)
        v = F.interpolate(valid.to(pts.dtype).reshape(B, N, h, w), size=(H, W), mode="bilinear",
                          align_corners=self.upsample_align_corners)
        return up, v.reshape(B, N, H * W) > 0.99

    def _upsampled_background_hits(self, rep, cameras, low, high) -> Tensor:
        """Background-plane hits of the (h, w) rays, bilinearly upsampled to (B, H*W, 3) (GRAM-HD)."""
        (h, w), (H, W) = low, high
        o, d = cameras.rays(h, w, align_corners=self.align_corners)
        t, _ = intersect_plane_z(o, d, rep.background_z)
        hits = (o + t.unsqueeze(-1) * d).transpose(1, 2).reshape(o.shape[0], 3, h, w)
        up = F.interpolate(hits, size=(H, W), mode="bilinear", align_corners=self.upsample_align_corners)
        return up.reshape(o.shape[0], 3, H * W).transpose(1, 2)

    def _shade(self, rep, origins: Tensor, dirs: Tensor, points: Tensor, valid: Tensor,
               background_hits: Tensor | None = None) -> dict:
        """Radiance at the hits of one ray chunk, sorted and composited; everything in (B, p, K, ...) layout.

        ``background_hits`` (B, p, 3): given plane points instead of the rays' own hits (upsampled, GRAM-HD)."""
        if hasattr(rep, "radiance_at") and not self.compute_normals:
            return self._shade_sparse(rep, origins, dirs, points, valid, background_hits)
        return self._shade_dense(rep, origins, dirs, points, valid, background_hits)

    def _sorted_layers(self, rep, origins: Tensor, dirs: Tensor, points: Tensor, valid: Tensor,
                       background_hits: Tensor | None) -> dict:
        """Every layer of every ray (N hits + the background plane's), sorted near to far: t (B, p, K) (inf where
        the plane is missed), points (B, p, K, 3), valid (B, p, K), layer (B, p, K) (N = background)."""
        B, N, p, _ = points.shape
        t = (points - origins.unsqueeze(1)).norm(dim=-1)  # (B, N, p)
        layers = {"t": _to_rays_layout(t), "points": _to_rays_layout(points), "valid": _to_rays_layout(valid),
                  "layer": torch.arange(N, device=points.device).expand(B, p, N)}
        bg_z = getattr(rep, "background_z", None)
        if bg_z is not None:
            t_bg, hit, p_bg = _background_layer(origins, dirs, bg_z, background_hits)
            extra = {"t": t_bg, "points": p_bg, "valid": hit,
                     "layer": torch.full_like(hit, N, dtype=torch.long)}
            for k, v in extra.items():
                layers[k] = torch.cat([layers[k], v.unsqueeze(2)], dim=2)
        order = torch.argsort(layers["t"], dim=-1)
        for k, v in layers.items():
            idx = order if v.dim() == 3 else order.unsqueeze(-1).expand(*order.shape, v.shape[-1])
            layers[k] = v.gather(2, idx)
        return layers

    def _shade_sparse(self, rep, origins: Tensor, dirs: Tensor, points: Tensor, valid: Tensor,
                      background_hits: Tensor | None) -> dict:
        """Sorted first, then radiance front to back, :data:`SPARSE_GROUP` layers at a time, only at valid hits whose
        transmittance so far is at least ``opaque_transmittance`` (the module doc); composited as it goes."""
        N = points.shape[1]
        layers = self._sorted_layers(rep, origins, dirs, points, valid, background_hits)
        t_sorted, valid_s, layer_s = layers["t"], layers["valid"], layers["layer"]
        B, p, K = t_sorted.shape
        t_finite = torch.where(torch.isfinite(t_sorted), t_sorted, torch.zeros_like(t_sorted))
        dtype = points.dtype
        trans = torch.ones(B, p, device=points.device, dtype=dtype)
        rgb = depth = acc = fg_acc = fg_depth = features = None
        shaded = False
        weights = []
        for start in range(0, K, SPARSE_GROUP):
            g = slice(start, min(start + SPARSE_GROUP, K))
            need = valid_s[:, :, g]
            if self.opaque_transmittance > 0:
                need = need & (trans >= self.opaque_transmittance).unsqueeze(-1)
            rad = self._query_sparse(rep, layers["points"][:, :, g], dirs, layer_s[:, :, g], need)
            shaded = shaded or rad["queried"]
            background = layer_s[:, :, g] == N
            alpha = torch.where(background, need.to(dtype), rad["alpha"])
            for j in range(alpha.shape[-1]):
                a = alpha[..., j]
                w = a * trans
                trans = trans * (1.0 - a + TRANSMITTANCE_EPS)
                weights.append(w)
                wc = w.unsqueeze(-1)
                rgb = _accumulate(rgb, wc * rad["rgb"][:, :, j])
                depth = _accumulate(depth, wc * t_finite[:, :, g][..., j:j + 1])
                acc = _accumulate(acc, wc)
                fg = (~background[..., j:j + 1]).to(dtype)
                fg_acc = _accumulate(fg_acc, wc * fg)
                fg_depth = _accumulate(fg_depth, wc * fg * t_finite[:, :, g][..., j:j + 1])
                if rad["features"] is not None:
                    features = _accumulate(features, wc * rad["features"][:, :, j])
        if self.white_background:
            rgb = rgb + (1.0 - acc)
        return {"rgb": rgb, "depth": depth, "features": features, "weights": torch.stack(weights, dim=-1),
                "alpha": fg_acc, "foreground_depth": fg_depth, "points": layers["points"], "valid": valid_s,
                "layer": layer_s, "shaded": shaded}

    @staticmethod
    def _query_sparse(rep, points: Tensor, dirs: Tensor, layer: Tensor, need: Tensor) -> dict:
        """``rep.radiance_at`` at the needed layers of (B, p, G) only, packed per instance (padded to the largest
        count); returns rgb (B, p, G, 3), alpha (B, p, G) and features (B, p, G, C) or None, zero where not needed,
        and whether anything was queried."""
        B, p, G = need.shape
        flat = need.reshape(B, p * G)
        counts = flat.sum(dim=1)
        q = int(counts.max()) if B > 1 else int(counts[0])
        rgb = points.new_zeros(B, p * G, 3)
        alpha = points.new_zeros(B, p * G)
        features = None
        if q > 0:
            # needed positions first, in order (a stable sort of the mask); the tail of each row is padding
            idx = torch.sort(flat.to(torch.uint8), dim=1, descending=True, stable=True).indices[:, :q]
            keep = (torch.arange(q, device=idx.device) < counts.unsqueeze(1)).to(points.dtype).unsqueeze(-1)
            pts = points.reshape(B, p * G, 3).gather(1, idx.unsqueeze(-1).expand(B, q, 3))
            ray_dirs = dirs.gather(1, (idx // G).unsqueeze(-1).expand(B, q, 3))
            rad = rep.radiance_at(pts, ray_dirs, layer.reshape(B, p * G).gather(1, idx))
            rgb = rgb.scatter(1, idx.unsqueeze(-1).expand(B, q, 3), rad.rgb.to(rgb.dtype) * keep)
            alpha = alpha.scatter(1, idx, (rad.alpha.to(alpha.dtype) * keep).squeeze(-1))
            if rad.features is not None:
                C = rad.features.shape[-1]
                features = points.new_zeros(B, p * G, C).scatter(
                    1, idx.unsqueeze(-1).expand(B, q, C), rad.features.to(points.dtype) * keep).reshape(B, p, G, C)
        return {"rgb": rgb.reshape(B, p, G, 3), "alpha": alpha.reshape(B, p, G), "features": features,
                "queried": q > 0}

    def _shade_dense(self, rep, origins: Tensor, dirs: Tensor, points: Tensor, valid: Tensor,
                     background_hits: Tensor | None = None) -> dict:
        """Radiance at every hit (``rep.radiance``), then sorted and composited."""
        B, N, p, _ = points.shape
        rad = rep.radiance(points, dirs)
        t = (points - origins.unsqueeze(1)).norm(dim=-1)  # (B, N, p)
        alpha = rad.alpha.squeeze(-1) * valid.to(rad.alpha.dtype)
        layers = {
            "alpha": _to_rays_layout(alpha), "t": _to_rays_layout(t), "rgb": _to_rays_layout(rad.rgb),
            "points": _to_rays_layout(points), "valid": _to_rays_layout(valid),
            "layer": torch.arange(N, device=points.device).expand(B, p, N),
        }
        fg_features = rad.features
        if self.compute_normals:
            layers["normals"] = _to_rays_layout(self._manifold_normals(rep, points))

        bg_z = getattr(rep, "background_z", None)
        if bg_z is not None:
            t_bg, hit, p_bg = _background_layer(origins, dirs, bg_z, background_hits)
            bg = rep.background_radiance(p_bg, dirs)
            extra = {
                "alpha": hit.to(alpha.dtype), "t": t_bg,
                "rgb": bg.rgb, "points": p_bg, "valid": hit, "layer": torch.full_like(hit, N, dtype=torch.long),
            }
            if self.compute_normals:
                extra["normals"] = torch.zeros_like(p_bg).index_fill_(-1, torch.tensor([2], device=p_bg.device), 1.0)
            for k, v in extra.items():
                layers[k] = torch.cat([layers[k], v.unsqueeze(2)], dim=2)
            if fg_features is not None or bg.features is not None:
                fg_f = _to_rays_layout(fg_features) if fg_features is not None else None
                bg_f = bg.features
                C = (fg_f if fg_f is not None else bg_f).shape[-1]
                fg_f = fg_f if fg_f is not None else bg_f.new_zeros(B, p, N, C)
                bg_f = bg_f if bg_f is not None else fg_f.new_zeros(B, p, C)
                layers["features"] = torch.cat([fg_f, bg_f.unsqueeze(2)], dim=2)
        elif fg_features is not None:
            layers["features"] = _to_rays_layout(fg_features)

        order = torch.argsort(layers["t"], dim=-1)
        for k, v in layers.items():
            idx = order if v.dim() == 3 else order.unsqueeze(-1).expand(*order.shape, v.shape[-1])
            layers[k] = v.gather(2, idx)
        t_sorted = layers["t"]
        t_finite = torch.where(torch.isfinite(t_sorted), t_sorted, torch.zeros_like(t_sorted))
        comp = composite(layers["alpha"], layers["rgb"], t_finite, layers.get("features"))
        fg_mask = layers["layer"] < N
        rgb = comp.rgb + (1.0 - comp.acc) if self.white_background else comp.rgb
        out = {
            "rgb": rgb, "depth": comp.depth, "features": comp.features, "weights": comp.weights,
            "alpha": (comp.weights * fg_mask).sum(-1, keepdim=True),
            "foreground_depth": (comp.weights * fg_mask * t_finite).sum(-1, keepdim=True),
            "points": layers["points"], "valid": layers["valid"], "layer": layers["layer"],
        }
        if self.compute_normals:
            n = (comp.weights.unsqueeze(-1) * layers["normals"]).sum(-2)
            out["normals"] = F.normalize(n, dim=-1)
            out["layer_normals"] = layers["normals"]
        return out

    def _manifold_normals(self, rep, points: Tensor) -> Tensor:
        """Unit grad s at points (B, N, p, 3); s decreases into a manifold, so grad s faces the camera."""
        create_graph = torch.is_grad_enabled()
        B = points.shape[0]
        with torch.enable_grad():
            x = points.detach().requires_grad_(True)
            s = rep.scalar(x.reshape(B, -1, 3))
            (g,) = torch.autograd.grad(s.sum(), x, create_graph=create_graph)
        return F.normalize(g, dim=-1)

    @staticmethod
    def _assemble(parts: list[dict], B: int, H: int, W: int) -> RenderOutput:
        def cat(key):
            vals = [p[key] for p in parts]
            known = next((v for v in vals if v is not None), None)
            if known is None:
                return None
            # a sparse chunk that queried nothing has no features: zeros, as the dense path composites them
            vals = [v if v is not None else known.new_zeros(known.shape[0], p["rgb"].shape[1], known.shape[-1])
                    for v, p in zip(vals, parts)]
            return torch.cat(vals, dim=1)

        def image(x):  # (B, P, C) -> (B, C, H, W)
            return None if x is None else x.transpose(1, 2).reshape(B, -1, H, W)

        def layered(x):  # (B, P, K, ...) -> (B, K, H, W, ...)
            return x.transpose(1, 2).reshape(B, x.shape[2], H, W, *x.shape[3:])

        rgb = cat("rgb")
        extras = {"valid": layered(cat("valid")), "layer_index": layered(cat("layer")),
                  "foreground_depth": image(cat("foreground_depth"))}
        normals = None
        if "normals" in parts[0]:
            normals = image(cat("normals"))
            extras["layer_normals"] = layered(cat("layer_normals"))
        return RenderOutput(
            rgb=image(rgb) * 2 - 1, depth=image(cat("depth")), alpha=image(cat("alpha")),
            features=image(cat("features")), weights=layered(cat("weights")), points=layered(cat("points")),
            normals=normals, extras=extras,
        )
