"""Real-time free-view synthesis: radiance manifolds cached as textured layered meshes.

* :mod:`~zoo3d.freeview.protocol`: what a model implements to be cached (:class:`SupportsManifoldCache`).
* :mod:`~zoo3d.freeview.cache`: gridding + meshing into a :class:`ManifoldCache` (of a seed, or of a saved inversion).
* :mod:`~zoo3d.freeview.render`: rendering it (GL through moderngl, or pure torch).
* :mod:`~zoo3d.freeview.gltf`: writing it as glTF 2.0 (``.glb`` / ``.gltf``).
* :mod:`~zoo3d.freeview.server`: the local browser viewer (``zoo3d view``).

See docs/freeview.md.
"""

from zoo3d.freeview.cache import ManifoldCache, MeshLayer, build_cache, cache_instance, cache_inversion
from zoo3d.freeview.protocol import SupportsManifoldCache, TexturedLayers
from zoo3d.freeview.render import CachedRenderer

__all__ = ["CachedRenderer", "ManifoldCache", "MeshLayer", "SupportsManifoldCache", "TexturedLayers",
           "build_cache", "cache_instance", "cache_inversion"]
