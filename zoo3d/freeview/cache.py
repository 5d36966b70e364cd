"""The free-view cache: one instance's radiance manifolds as a stack of textured meshes.

GRAM-HD (paper Sec. 4, "Real-time free-view synthesis") caches the manifold surfaces and the HR radiance maps
as textured meshes and renders novel views with a rasterizer. Here:

* every manifold n is gridded on the orthographic grid its textures live on (rays along -z over
  [-extent, extent]², :func:`zoo3d.render.gridding.grid_manifolds`), plus one ring of grid points
  outside the square: a height field z_n(x, y) with a validity mask. Each grid quad whose four corners
  hit the level becomes two triangles; vertex UVs are the texture coordinates of the vertex's (x, y),
  so a rasterizer samples the map exactly where the generator's
  :class:`~zoo3d.render.texture.TexturedManifolds` does (the texture carries a transparent ring, so past
  the square it fades out as the generator's zero padding does); maps read bicubically are baked four
  times as dense (:func:`~zoo3d.render.texture.magnified`), as a rasterizer filters bilinearly;
* the background plane z = ``background_z`` becomes a grid in its centre-dense texture coordinates
  (vertices at ``bg_map(u), bg_map(v)``), extended past the texture's border with mirrored UVs
  (the generator's reflection padding);
* layers are ordered front to back: manifold 0 (the outermost level, which a ray from outside
  meets first) ... manifold N - 1, then the opaque background.

Conventions (glTF's, so the cache is written out unchanged): UV (0, 0) is the top-left corner of
the texture image, texel k's centre at (k + 0.5) / R; textures are stored with row 0 at the top
(world y = +extent); triangles are counter-clockwise seen from +z, the side a GRAM ray enters a
manifold from (the renderer's "s goes down" crossing rule is back-face culling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.freeview.protocol import SupportsManifoldCache, TexturedLayers
from zoo3d.render.gridding import bg_map, grid_manifolds
from zoo3d.render.texture import magnified

__all__ = ["ManifoldCache", "MeshLayer", "build_cache", "cache_instance", "cache_inversion", "cache_representation",
           "cache_summary", "grid_faces", "texture_uv"]

#: Background plane texture coordinates covered by its mesh: |u| <= 1 is the texture, 1 < |u| <= 1.25
#: its mirror image (world half-width 0.24 tan(0.75) + 0.12 = 0.34, past every view of the camera prior).
BACKGROUND_EXTENT = 1.25
#: Background grid segments per 0.25 of texture coordinate where bg_map is not linear (|u| > 0.5); its linear
#: centre |u| <= 0.5 is one quad (UVs are affine in the world there, which a rasterizer interpolates exactly).
BACKGROUND_SEGMENTS_PER_QUARTER = 6
#: Quads whose texels are all at most this opaque are left out of a manifold's mesh: drawn, they would not
#: change an 8-bit image (1/510 is half a step of 8 bits).
TRANSPARENT_ALPHA = 1.0 / 510


@dataclass
class MeshLayer:
    """One textured triangle mesh of the cache.

    Attributes:
        name: ``manifold_00`` ... or ``background``.
        vertices: (V, 3) float32 world points.
        uvs: (V, 2) float32 texture coordinates (glTF convention, see the module doc).
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from +z; a manifold's faces are sorted by
            descending height (nearest first for the cameras of a face model).
        texture: (4, R, R) float32 rgba; rgb as the model made it (GRAM-HD's HR rgb is linear and may
            leave [0, 1] slightly), alpha in [0, 1] (1 for the background); row 0 at the top.
        opaque: True for the background.
    """

    name: str
    vertices: Tensor
    uvs: Tensor
    faces: Tensor
    texture: Tensor
    opaque: bool = False

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])


@dataclass
class ManifoldCache:
    """Layers front to back (manifolds by level index, then the background), and where they came from.

    ``bake_camera`` is the camera view-dependent colours were made for; ``meta`` holds what a viewer or
    a glTF file should carry along (model, seed, camera prior). ``backdrop`` is the rgb in [0, 1] behind
    every layer (the model's white background; black otherwise). ``map_resolution`` is the side of the maps the
    model made, before the transparent ring and any magnification grow the stored textures: what a requested
    texture resolution is compared with.
    """

    layers: list[MeshLayer]
    extent: float
    bake_camera: Camera | None = None
    meta: dict = field(default_factory=dict)
    backdrop: tuple[float, float, float] = (0.0, 0.0, 0.0)
    map_resolution: int | None = None

    @property
    def num_faces(self) -> int:
        return sum(layer.num_faces for layer in self.layers)

    @property
    def device(self) -> torch.device:
        return self.layers[0].vertices.device

    def to(self, device) -> "ManifoldCache":
        layers = [MeshLayer(lay.name, lay.vertices.to(device), lay.uvs.to(device), lay.faces.to(device),
                            lay.texture.to(device), lay.opaque) for lay in self.layers]
        return ManifoldCache(layers, self.extent, self.bake_camera, dict(self.meta), self.backdrop, self.map_resolution)


# ------------------------------------------------------------------------------------- pieces
def grid_faces(valid: Tensor, keep: Tensor | None = None) -> Tensor:
    """Triangles (F, 3) of a G x G vertex grid (vertex i * G + j: row i grows with y, column j with x).

    Every quad whose four corners are valid (and that ``keep`` (G - 1, G - 1) keeps) gives (a, b, c) and
    (a, c, d), a = (i, j), b = (i, j + 1), c = (i + 1, j + 1), d = (i + 1, j): counter-clockwise seen from +z.
    """
    H, W = valid.shape
    quad = valid[:-1, :-1] & valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]
    if keep is not None:
        quad = quad & keep
    i, j = torch.nonzero(quad, as_tuple=True)
    a = i * W + j
    b, c, d = a + 1, a + W + 1, a + W
    return torch.cat([torch.stack([a, b, c], -1), torch.stack([a, c, d], -1)]).to(torch.int64)


def texture_uv(coord: Tensor, size: int, align_corners: bool = True, pad: int = 0) -> Tensor:
    """Map coordinates in [-1, 1] (grid_sample's) on a side of ``size`` texels to glTF texture coordinates in [0, 1]
    of that side padded with ``pad`` texels at each end.

    align_corners True: -1 and 1 are the centres of the first and last texels; False: their outer edges.
    """
    texel = (coord + 1) / 2 * (size - 1) + 0.5 if align_corners else (coord + 1) / 2 * size
    return (texel + pad) / (size + 2 * pad)


def _compact(vertices: Tensor, uvs: Tensor, faces: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Drop the vertices no face uses and renumber the faces."""
    used, inverse = torch.unique(faces.reshape(-1), return_inverse=True)
    return vertices[used], uvs[used], inverse.reshape(faces.shape)


def _visible_quads(points: Tensor, alpha: Tensor, extent: float, align_corners: bool) -> Tensor:
    """(G - 1, G - 1) bool: quads of the grid whose texture footprint (with the bilinear filter's support) holds a
    texel more opaque than :data:`TRANSPARENT_ALPHA` (conservative: the alpha map max-pooled around each corner
    over more than a quad's width)."""
    Ht, Wt = alpha.shape
    cx = texture_uv(points[0, :, 0] / extent, Wt, align_corners) * Wt - 0.5  # texel-centre coordinates of the
    cy = texture_uv(points[:, 0, 1] / extent, Ht, align_corners) * Ht - 0.5  # grid's columns and rows
    step = max(float((cx[1:] - cx[:-1]).abs().max()), float((cy[1:] - cy[:-1]).abs().max()))
    r = int(math.ceil(step)) + 2
    dilated = F.max_pool2d(alpha[None, None].float(), 2 * r + 1, stride=1, padding=r)[0, 0]
    corner = dilated[cy.round().long().clamp(0, Ht - 1)][:, cx.round().long().clamp(0, Wt - 1)] > TRANSPARENT_ALPHA
    return corner[:-1, :-1] | corner[:-1, 1:] | corner[1:, :-1] | corner[1:, 1:]


def _manifold_layer(n: int, points: Tensor, valid: Tensor, maps: Tensor, extent: float,
                    align_corners: bool) -> MeshLayer:
    """Layer of manifold n from its gridded points (G, G, 3), valid (G, G) and rgba map (4, Ht, Wt) (row 0 at
    y = -e). The stored texture has a ring of transparent black texels around the map: sampled bilinearly and
    clamped at its edge it reads exactly what zero padding gives past the map's border."""
    G = points.shape[0]
    Ht, Wt = maps.shape[-2:]
    verts = points.reshape(G * G, 3).float()
    u = texture_uv(verts[:, 0] / extent, Wt, align_corners, pad=1)
    v = 1.0 - texture_uv(verts[:, 1] / extent, Ht, align_corners, pad=1)
    faces = grid_faces(valid, _visible_quads(points, maps[3], extent, align_corners))
    # nearest first for every camera that looks down -z: along such a ray z falls, so of two triangles of this
    # layer that cover a pixel the higher one is hit first; drawn in this order with depth writes, a GL
    # rasterizer (or viewer) blends only the first crossing, as the renderer does
    faces = faces[torch.argsort(verts[faces][..., 2].mean(-1), descending=True, stable=True)]
    verts, uvs, faces = _compact(verts, torch.stack([u, v], -1), faces)
    texture = F.pad(maps.float(), (1, 1, 1, 1)).flip(-2).contiguous()
    return MeshLayer(f"manifold_{n:02d}", verts.contiguous(), uvs.contiguous(), faces, texture)


def background_layer(background_map: Tensor, z: float, align_corners: bool = True,
                     extent: float = BACKGROUND_EXTENT,
                     per_quarter: int = BACKGROUND_SEGMENTS_PER_QUARTER) -> MeshLayer:
    """The background plane: a grid over texture coordinates [-extent, extent]² with vertices at
    (bg_map(u), bg_map(v), z); beyond |u| = 1 the UVs mirror back (reflection padding)."""
    device = background_map.device
    outer = torch.linspace(0.5, extent, int(round((extent - 0.5) * 4 * per_quarter)) + 1, dtype=torch.float32)
    coord = torch.cat([-outer.flip(0), outer]).to(device)  # the centre [-0.5, 0.5] is one segment
    steps = coord.numel()
    uu, vv = torch.meshgrid(coord, coord, indexing="xy")  # row i: v (world y), column j: u (world x)
    verts = torch.stack([bg_map(uu), bg_map(vv), torch.full_like(uu, z)], -1).reshape(-1, 3)
    mirror = lambda c: torch.where(c.abs() > 1, torch.sign(c) * (2 - c.abs()), c)  # noqa: E731
    Hb, Wb = background_map.shape[-2:]
    u = texture_uv(mirror(uu), Wb, align_corners).reshape(-1)
    v = 1.0 - texture_uv(mirror(vv), Hb, align_corners).reshape(-1)
    faces = grid_faces(torch.ones(steps, steps, dtype=torch.bool, device=device))
    rgb = background_map[:3].float()
    texture = torch.cat([rgb, torch.ones_like(rgb[:1])]).flip(-2).contiguous()
    return MeshLayer("background", verts, torch.stack([u, v], -1), faces, texture, opaque=True)


# ------------------------------------------------------------------------------------- building
@torch.no_grad()
def build_cache(layers: TexturedLayers, bake_camera: Camera | None = None, meta: dict | None = None) -> ManifoldCache:
    """Mesh every manifold of ``layers`` on its orthographic grid and attach the maps.

    Returns the :class:`ManifoldCache` (on the device of the maps).
    """
    tm = magnified(layers.textured)  # a rasterizer filters bilinearly
    if tm.maps.shape[0] != 1:
        raise ValueError(f"build_cache takes one instance; the maps hold {tm.maps.shape[0]}")
    # the G x G grid plus one ring of vertices outside it, where the maps fade out (zero padding)
    G = layers.grid_resolution
    points, valid = grid_manifolds(tm, G + 2, tm.extent * (G + 1) / (G - 1), layers.near, layers.far,
                                   layers.num_samples, batch_size=1)
    maps = tm.maps[0, :, :4]
    out = [_manifold_layer(n, points[0, n], valid[0, n], maps[n], tm.extent, tm.align_corners)
           for n in range(points.shape[1])]
    if tm.background_map is not None and tm.background_z is not None:
        out.append(background_layer(tm.background_map[0], float(tm.background_z), tm.align_corners))
    backdrop = tuple(float(c) for c in layers.backdrop) if layers.backdrop is not None else (0.0, 0.0, 0.0)
    return ManifoldCache(out, float(tm.extent), bake_camera, dict(meta or {}), backdrop,
                         int(layers.textured.maps.shape[-1]))


@torch.no_grad()
def cache_instance(generator, seed: int, psi: float = 0.7, camera: Camera | None = None,
                   texture_resolution: int | None = None, model: str | None = None) -> ManifoldCache:
    """The cache of seed ``seed`` of ``generator`` (the latent ``zoo3d sample`` uses for that seed).

    ``camera`` (default: the prior's frontal camera) is the view whose view-dependent colours are baked; ``model``, the
    model's name, goes into ``meta`` (a glTF file's, the viewer's label) where given.
    Raises UserError when the generator does not implement :class:`SupportsManifoldCache`.
    """
    from zoo3d.train.sampling import seed_latents

    _require_layers(generator)  # before the representation is made
    z = seed_latents([seed], generator.z_dim, generator.device, getattr(generator, "dtype", None))
    meta = {**({"model": model} if model is not None else {}), "seed": int(seed), "psi": float(psi)}
    return cache_representation(generator, generator.represent(z, psi=psi), camera or generator.camera_prior.frontal(),
                                texture_resolution, meta)


@torch.no_grad()
def cache_representation(generator, representation, camera: Camera, texture_resolution: int | None = None,
                         meta: dict | None = None) -> ManifoldCache:
    """The cache of ``generator``'s batch-1 ``representation`` (a seed's, an inversion's), its view-dependent colours
    baked for ``camera``; ``meta`` (with the generator's camera prior added) goes with it into a glTF file.
    Raises UserError when the generator does not implement :class:`SupportsManifoldCache`."""
    _require_layers(generator)
    camera = camera.to(device=generator.device)
    layers = generator.textured_layers(representation, camera, texture_resolution)
    return build_cache(layers, camera, {**(meta or {}), "camera_prior": generator.camera_prior.model_dump()})


@torch.no_grad()
def cache_inversion(inverter, result, texture_resolution: int | None = None) -> ManifoldCache:
    """The cache of an inversion :func:`zoo3d.invert.load_inversion` loaded: its representation, drawn by its
    generator (PTI's tuned copy, or the inverter's), with view-dependent colours baked for its input view, which
    ``meta["input_view"]`` holds (``yaw``, ``pitch``, ``radius``, ``fov``: a glTF file's camera, the viewer's first
    view), ``meta["model"]`` the model its header names. ``meta["image"]`` is the photo's file name alone: the
    header's path (absolute, as given to ``zoo3d invert``) would tell whoever is given the file where the photo lay on
    this machine, and no reader needs it."""
    from pathlib import PureWindowsPath

    from zoo3d.invert.saved import inversion_generator

    header = result.extras.get("header", {})
    generator = inversion_generator(inverter, result)
    if generator is None:
        raise UserError(f"The inverter of model '{header.get('model')}' names no generator (its .generator), so the "
                        f"inversion cannot be cached as textured layers.")
    view = {k: float(v[0]) for k, v in result.cameras[:1].to_angles().items()}
    image = header.get("image")
    name = PureWindowsPath(image).name if isinstance(image, str) else None  # either separator: made on any system
    return cache_representation(generator, result.representation, result.cameras[:1], texture_resolution,
                                {"model": header.get("model"), "image": name, "input_view": view})


def _require_layers(generator) -> None:
    if not isinstance(generator, SupportsManifoldCache):
        raise UserError(f"{type(generator).__name__} cannot be cached as textured layers: it does not implement "
                        "textured_layers() of zoo3d.freeview.SupportsManifoldCache, as the radiance-manifold models "
                        "gram, gram_hd and gram_inverter do (docs/freeview.md; zoo3d render without --cached, and "
                        "zoo3d export --format ply|obj, work for every model).")


def cache_summary(cache: ManifoldCache) -> str:
    """One line: layers (and how many of them hold no triangle: a glTF file leaves those out), triangles, texture
    sizes."""
    fg = [lay for lay in cache.layers if not lay.opaque]
    empty = sum(lay.num_faces == 0 for lay in fg)
    sizes = sorted({tuple(lay.texture.shape[-2:]) for lay in cache.layers})
    tex = ", ".join(f"{h}x{w}" for h, w in sizes)
    held = f" ({empty} of them empty)" if empty else ""
    background = " + background" if len(fg) < len(cache.layers) else ""
    return f"{len(fg)} manifold layers{held}{background}, {cache.num_faces} triangles, textures {tex}"
