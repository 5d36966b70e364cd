"""The shared renderers: ray-manifold intersection + compositing (GRAM family) and volume rendering.

Conventions (see docs/rendering.md): rays have unit directions so ``t`` is a world distance from the
camera centre; representations answer colours in [0, 1]; renderers return rgb in [-1, 1]; weights
``w = alpha * T`` with ``T`` the exclusive cumprod of ``1 - alpha + 1e-10``; depth = sum w t.
"""

from zoo3d.render.composite import Composite, composite, compositing_weights, exclusive_transmittance
from zoo3d.render.gridding import (background_grid, bg_invmap, bg_map, fov_extent, grid_manifolds,
                                   texel_coordinates)
from zoo3d.render.intersect import intersect_manifolds, intersect_plane_z
from zoo3d.render.manifold import ManifoldRenderer
from zoo3d.render.samples import bin_centres, sample_pdf, section_edges
from zoo3d.render.texture import TexturedManifolds, magnified
from zoo3d.render.volume import (SampleDraws, VolumeRenderer, neus_alpha, neus_alpha_from_ends, ray_slope,
                                 stylesdf_density)

__all__ = [
    "Composite", "composite", "compositing_weights", "exclusive_transmittance",
    "background_grid", "bg_invmap", "bg_map", "fov_extent", "grid_manifolds", "texel_coordinates",
    "intersect_manifolds", "intersect_plane_z",
    "ManifoldRenderer", "bin_centres", "sample_pdf", "section_edges", "TexturedManifolds", "magnified",
    "SampleDraws", "VolumeRenderer", "neus_alpha", "neus_alpha_from_ends", "ray_slope", "stylesdf_density",
]
