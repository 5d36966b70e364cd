"""Pure-torch rasterization of the cache: triangles -> per-layer nearest hits -> textures -> compositing.

The fallback (and reference) for :mod:`zoo3d.freeview.gl`: batched torch code with no per-pixel or
per-triangle Python loop, so it runs unchanged on CUDA and on the CPU.

1. Vertices are projected with the camera's own model (:meth:`zoo3d.cameras.Camera.project`):
   pixel (i, j) has its centre at ((j + 0.5) / W, (i + 0.5) / H), as the renderers' rays do.
2. Back faces are culled (a manifold is seen only from the side its level is entered from: the
   renderer's "s goes down" crossing rule), then every (triangle, pixel) pair in each triangle's
   bounding box is enumerated and tested with edge functions, :data:`PAIR_CHUNK` pairs at a time.
3. Per layer and pixel the nearest covering triangle wins (the renderer's *first* crossing); its
   perspective-correct barycentrics give the world point (so ``t`` = distance from the camera centre)
   and the UV.
4. Textures are sampled bilinearly (texel centres at (k + 0.5) / R, clamped at the border, as GL
   samples them), and the layers are composited with GRAM's rule (:func:`zoo3d.render.composite`),
   sorted by ``t`` as the renderer does (``order="depth"``) or in the cache's layer order, as a GL
   rasterizer or a glTF viewer blends them (``order="layer"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.render.composite import composite

__all__ = ["LayerHits", "PAIR_CHUNK", "composite_hits", "rasterize_layers", "render_torch"]

#: (triangle, pixel) pairs tested at once. A pair holds about 200 bytes while it is tested, so this bounds the
#: pairs' memory to some 200 MiB whatever the resolution (all pairs of a 2048² frame of a trained GRAM at once
#: needed about 40 GB); at 256² the chunks take as long as one pass over all pairs.
PAIR_CHUNK = 2**20


@dataclass
class LayerHits:
    """Per layer (L) and pixel (P = H * W): hit (L, P) bool, t (L, P) distance (inf where no hit),
    uv (L, P, 2) texture coordinates."""

    hit: Tensor
    t: Tensor
    uv: Tensor


def _stack_layers(cache) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """All layers' vertices (V, 3), uvs (V, 2), faces (F, 3) (global indices) and each face's layer (F,)."""
    verts, uvs, faces, layer_of = [], [], [], []
    offset = 0
    for k, lay in enumerate(cache.layers):
        verts.append(lay.vertices)
        uvs.append(lay.uvs)
        faces.append(lay.faces + offset)
        layer_of.append(torch.full((lay.faces.shape[0],), k, dtype=torch.int64, device=lay.faces.device))
        offset += lay.vertices.shape[0]
    return torch.cat(verts), torch.cat(uvs), torch.cat(faces), torch.cat(layer_of)


@torch.no_grad()
def rasterize_layers(cache, camera: Camera, height: int, width: int, pair_chunk: int = PAIR_CHUNK) -> LayerHits:
    """Nearest front-facing hit of every layer at every pixel for one camera (batch 1), testing at most
    ``pair_chunk`` (triangle, pixel) pairs at a time."""
    verts, uvs, faces, layer_of = _stack_layers(cache)
    device, dtype, L, P = verts.device, verts.dtype, len(cache.layers), height * width
    cam = camera.to(device=device, dtype=dtype)
    uv_img, z = cam.project(verts.unsqueeze(0))
    sx = uv_img[0, :, 0] * width - 0.5  # pixel-index coordinates: pixel j's centre at j
    sy = uv_img[0, :, 1] * height - 0.5
    z = z[0]
    t_out = torch.full((L, P), float("inf"), device=device, dtype=dtype)
    uv_out = torch.zeros(L, P, 2, device=device, dtype=dtype)

    # per face: the three edge functions w_k = a_k x + b_k y + c_k, normalised so that w sums to 1
    x, y = sx[faces], sy[faces]  # (F, 3)
    xn, yn = x.roll(-1, 1), y.roll(-1, 1)  # corner k + 1
    xp, yp = x.roll(1, 1), y.roll(1, 1)  # corner k - 1
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (y[:, 1] - y[:, 0]) * (x[:, 2] - x[:, 0])
    # counter-clockwise seen from the camera is clockwise on the y-down pixel grid: area < 0 is front-facing
    front = (area < -1e-12) & (z[faces] > 1e-6).all(-1)
    lo_x, hi_x = x.amin(1).ceil().clamp(0, width - 1), x.amax(1).floor().clamp(-1, width - 1)
    lo_y, hi_y = y.amin(1).ceil().clamp(0, height - 1), y.amax(1).floor().clamp(-1, height - 1)
    keep = torch.nonzero(front & (hi_x >= lo_x) & (hi_y >= lo_y)).squeeze(-1)
    if keep.numel() == 0:
        return LayerHits(torch.zeros(L, P, dtype=torch.bool, device=device), t_out, uv_out)
    inv_area = 1.0 / area[keep].unsqueeze(-1)
    a = (yp[keep] - yn[keep]) * -inv_area  # w_k = edge(corner k+1 -> k-1, pixel) / area
    b = (xn[keep] - xp[keep]) * -inv_area
    c = (xp[keep] * yn[keep] - xn[keep] * yp[keep]) * -inv_area
    coeff = torch.cat([a, b, c, 1.0 / z[faces[keep]]], -1)  # (F', 12): a, b, c, 1/z per corner
    bw = (hi_x - lo_x + 1)[keep].long()
    counts = bw * (hi_y - lo_y + 1)[keep].long()
    ends = torch.cumsum(counts, 0)
    starts = ends - counts
    table = torch.stack([lo_x[keep].long(), lo_y[keep].long(), bw, starts, layer_of[keep] * P], -1)
    nearest = torch.full((L * P,), -float("inf"), device=device, dtype=dtype)
    best = torch.full((L * P,), -1, device=device, dtype=torch.int64)
    total = int(ends[-1])
    for s in range(0, total, pair_chunk):
        # pairs s ... e - 1 of the bounding boxes, in (face, pixel) order: one gather of each per-face table
        e = min(s + pair_chunk, total)
        f0, f1 = (int(f) for f in torch.searchsorted(ends, torch.tensor([s, e - 1], device=device), right=True))
        span = torch.minimum(ends[f0:f1 + 1], torch.tensor(e, device=device)) - starts[f0:f1 + 1].clamp(min=s)
        owner = torch.repeat_interleave(torch.arange(f0, f1 + 1, device=device), span)
        pair = torch.arange(s, e, device=device)
        ints = table[owner]
        local = pair - ints[:, 3]
        py = ints[:, 1] + torch.div(local, ints[:, 2], rounding_mode="floor")
        px = ints[:, 0] + local - (py - ints[:, 1]) * ints[:, 2]
        k = coeff[owner]
        w = k[:, 0:3] * px.unsqueeze(-1).to(dtype) + k[:, 3:6] * py.unsqueeze(-1).to(dtype) + k[:, 6:9]
        inside = torch.nonzero(w.amin(-1) >= -1e-7).squeeze(-1)
        q = w[inside] * k[inside, 9:12]  # perspective: w_k / z_k
        inv_z = q.sum(-1)
        key = ints[inside, 4] + py[inside] * width + px[inside]
        index = pair[inside]

        # nearest (largest 1/z) face per (layer, pixel) so far; ties go to the later pair, and every pair of this
        # chunk comes after those of the chunks before, so the result does not depend on the chunk size
        nearest.scatter_reduce_(0, key, inv_z, reduce="amax")
        win = torch.nonzero(inv_z == nearest[key]).squeeze(-1)
        best.scatter_reduce_(0, key[win], index[win], reduce="amax")
        won = win[best[key[win]] == index[win]]
        slot = key[won]
        corners = faces[keep[owner[inside[won]]]]  # (K, 3)
        bary = (q[won] / inv_z[won].unsqueeze(-1)).unsqueeze(-1)
        point = (bary * verts[corners]).sum(1)
        t_out.view(-1)[slot] = (point - cam.origins[0]).norm(dim=-1)
        uv_out.view(-1, 2)[slot] = (bary * uvs[corners]).sum(1)
    return LayerHits(torch.isfinite(t_out), t_out, uv_out)


def _sample(texture: Tensor, uv: Tensor) -> Tensor:
    """Bilinear samples (M, 4, P) of textures (M, 4, R, R) at glTF uvs (M, P, 2), clamped at the border."""
    grid = (uv * 2 - 1).unsqueeze(1).to(texture.dtype)  # (M, 1, P, 2)
    return F.grid_sample(texture, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, :, 0]


@torch.no_grad()
def composite_hits(cache, hits: LayerHits, order: str = "depth",
                   pair_chunk: int = PAIR_CHUNK) -> tuple[Tensor, Tensor, Tensor]:
    """Texture the hits and composite them: rgb (P, 3) in the maps' range, depth (P, 1), foreground alpha (P, 1).

    Pixels are independent here, so they go ``pair_chunk`` (layer, pixel) pairs at a time: what a pixel holds while
    it is composited is about as large as a rasterized pair, and a frame at once would not be bounded either."""
    L, P = hits.t.shape
    step = max(1, pair_chunk // L)
    by_size: dict[tuple, list[int]] = {}
    for k, lay in enumerate(cache.layers):
        by_size.setdefault(tuple(lay.texture.shape), []).append(k)
    textures = [(idx, torch.stack([cache.layers[k].texture for k in idx])) for idx in by_size.values()]  # once a frame
    parts = [_composite(cache, textures, LayerHits(hits.hit[:, a:a + step], hits.t[:, a:a + step],
                                                    hits.uv[:, a:a + step]), order) for a in range(0, P, step)]
    return tuple(torch.cat(part) for part in zip(*parts))


def _composite(cache, textures: list[tuple[list[int], Tensor]], hits: LayerHits,
               order: str) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`composite_hits` of one chunk of pixels; ``textures``: the layers' maps stacked by size, with their
    layer indices."""
    L, P = hits.t.shape
    rgba = torch.empty(L, 4, P, device=hits.t.device, dtype=hits.t.dtype)
    for idx, tex in textures:
        rgba[idx] = _sample(tex, hits.uv[idx]).to(rgba.dtype)
    alpha = rgba[:, 3] * hits.hit  # (L, P)
    rgb = rgba[:, :3].permute(2, 0, 1)  # (P, L, 3)
    alpha, t = alpha.transpose(0, 1), hits.t.transpose(0, 1)  # (P, L)
    fg = torch.tensor([not lay.opaque for lay in cache.layers], device=alpha.device).expand(P, L)
    if order == "depth":
        t, perm = torch.sort(t, dim=-1)
        alpha, fg = alpha.gather(1, perm), fg.gather(1, perm)
        rgb = rgb.gather(1, perm.unsqueeze(-1).expand(-1, -1, 3))
    elif order != "layer":
        raise ValueError(f"order must be 'depth' or 'layer', not {order!r}")
    comp = composite(alpha, rgb, torch.where(torch.isfinite(t), t, torch.zeros_like(t)))
    colour = comp.rgb
    if any(cache.backdrop):  # seen through what the layers leave: 1 - their summed weights
        backdrop = torch.tensor(cache.backdrop, device=colour.device, dtype=colour.dtype)
        colour = colour + (1 - comp.weights.sum(-1, keepdim=True)) * backdrop
    return colour, comp.depth, (comp.weights * fg).sum(-1, keepdim=True)


@torch.no_grad()
def render_torch(cache, camera: Camera, height: int, width: int, order: str = "depth") -> tuple[Tensor, Tensor, Tensor]:
    """One camera: rgb (3, H, W) composited colour (the maps' range, about [0, 1]), depth (1, H, W), alpha (1, H, W)."""
    hits = rasterize_layers(cache, camera, height, width)
    rgb, depth, alpha = composite_hits(cache, hits, order)
    image = lambda x: x.transpose(0, 1).reshape(-1, height, width)  # noqa: E731
    return image(rgb), image(depth), image(alpha)
