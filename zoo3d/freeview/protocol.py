"""What a model hands the free-view cache: its manifolds of one instance as textured layers.

A generator opts in by implementing :class:`SupportsManifoldCache`; nothing registers it, the
cache builder and the commands that use it (``zoo3d export --format glb``, ``zoo3d render
--cached``, ``zoo3d view``) check with ``isinstance`` at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from zoo3d.cameras import Camera
from zoo3d.render.texture import TexturedManifolds

__all__ = ["SupportsManifoldCache", "TexturedLayers"]


@dataclass
class TexturedLayers:
    """One instance's radiance manifolds with their radiance read from 2D maps.

    Attributes:
        textured: a :class:`~zoo3d.render.texture.TexturedManifolds` of batch 1 whose geometry is
            the model's scalar field and levels, whose maps (1, N, C >= 4, R, R) hold rgb and alpha
            of every manifold on the orthographic grid (corner-aligned texel centres over
            [-extent, extent]², see :mod:`zoo3d.render.gridding`), and whose background map
            (1, Cb >= 3, Rb, Rb) holds the background plane's rgb. Rendering ``textured`` with the
            model's :class:`~zoo3d.render.ManifoldRenderer` must give the model's own image (for
            the camera the textures were made for).
        grid_resolution: side G of the orthographic grid on which the manifolds are meshed (GRAM-HD:
            the low-resolution grid its super-resolution starts from; its HR images use intersections
            of the same resolution).
        near, far, num_samples: the level-crossing search of the model's renderer (gridding uses the
            same samples along -z, so the meshed surfaces are the ones the renderer finds).
        backdrop: the rgb in [0, 1] seen through whatever the layers leave uncovered (GRAM's CARLA
            ``white_background``: white); None is black.
    """

    textured: TexturedManifolds
    grid_resolution: int
    near: float = 0.88
    far: float = 1.12
    num_samples: int = 64
    backdrop: tuple[float, float, float] | None = None


@runtime_checkable
class SupportsManifoldCache(Protocol):
    """A generator whose scenes can be cached as textured layered meshes.

    textured_layers(representation, camera, texture_resolution=None) -> TexturedLayers for the
    instance of a batch-1 ``representation``. Where colour depends on the view direction, the maps
    are made for ``camera`` (a batch-1 :class:`~zoo3d.cameras.Camera`; the cache renders every
    other view with those colours). ``texture_resolution`` is a request for models that bake their
    maps from a radiance network (GRAM); models with their own maps (GRAM-HD, Efficient GRAM) may
    ignore it.
    """

    def textured_layers(self, representation, camera: Camera,
                        texture_resolution: int | None = None) -> TexturedLayers: ...
