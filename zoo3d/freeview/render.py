"""Render a :class:`~zoo3d.freeview.cache.ManifoldCache` from cameras, with GL when it can and torch otherwise."""

from __future__ import annotations

import torch

from zoo3d.cameras import Camera
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError
from zoo3d.render.manifold import resolve_resolution

__all__ = ["BACKENDS", "CachedRenderer", "resolve_backend"]

BACKENDS = ("auto", "gl", "torch")


def resolve_backend(backend: str = "auto", device: torch.device | str = "cpu") -> str:
    """``auto``: GL (moderngl, headless EGL) when a context can be made, else torch. A cache on a CUDA
    device is rendered by torch on that device under ``auto`` (no copies to and from GL)."""
    from zoo3d.freeview.gl import gl_available

    if backend not in BACKENDS:
        raise UserError(f"Unknown rasterizer '{backend}'; choose one of {', '.join(BACKENDS)}.")
    if backend == "auto":
        return "gl" if torch.device(device).type == "cpu" and gl_available() else "torch"
    if backend == "gl" and not gl_available():
        raise UserError("The GL rasterizer needs moderngl and a headless EGL driver (e.g. Debian's libegl-mesa0); "
                        "neither could be used here: pass --rasterizer torch.")
    return backend


class CachedRenderer:
    """Renders one cache; ``backend`` is ``auto``, ``gl`` or ``torch`` (see :func:`resolve_backend`).

    render(cameras (B), resolution, depth=True) -> RenderOutput with rgb (B, 3, H, W) in [-1, 1] (like every
    zoo3d renderer; not clamped), and with ``depth`` also depth (B, 1, H, W) = sum w t and alpha (B, 1, H, W) of
    the foreground (GL skips their target when not asked for), on the cache's device. ``order`` (torch only): ``depth`` sorts layers by distance per pixel as the generator's
    renderer does; ``layer`` blends in the cache's order as GL and glTF viewers do.

    The GL backend holds the cache's buffers and textures on the process-wide context: :meth:`close` (or the end
    of a ``with`` block) gives them back at once, and so does dropping the renderer.
    """

    def __init__(self, cache, backend: str = "auto", order: str = "depth"):
        self.cache = cache
        self.backend = resolve_backend(backend, cache.device)
        self.order = order
        self._gl = None
        if self.backend == "gl":
            from zoo3d.freeview.gl import GLRenderer

            self._gl = GLRenderer(cache)

    @torch.no_grad()
    def render(self, cameras: Camera, resolution=None, depth: bool = True) -> RenderOutput:
        from zoo3d.freeview.raster import render_torch

        H, W = resolve_resolution(resolution, cameras)
        B = len(cameras)
        dev = self.cache.device
        rgb = torch.empty(B, 3, H, W, device=dev)
        depth_map = torch.empty(B, 1, H, W, device=dev) if depth else None
        alpha = torch.empty(B, 1, H, W, device=dev) if depth else None
        for i in range(B):
            if self._gl is not None:
                c, d, a = self._gl.render(cameras[i], H, W, depth)
            else:
                c, d, a = render_torch(self.cache, cameras[i], H, W, self.order)
            rgb[i] = c
            if depth:
                depth_map[i], alpha[i] = d, a
        return RenderOutput(rgb=rgb.mul_(2).sub_(1), depth=depth_map, alpha=alpha, extras={"rasterizer": self.backend})

    def close(self) -> None:
        if self._gl is not None:
            self._gl.release()
            self._gl = None

    def __enter__(self) -> "CachedRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
