"""OpenGL rasterization of the cache through moderngl (headless EGL: Mesa's llvmpipe on a CPU, the driver's GPU
where there is one).

Why GL: a rasterizer is what GL is for, moderngl is a maintained binding with wheels for every platform,
and through EGL it needs no window or X server; on a CPU, Mesa's llvmpipe rasterizes the cache's tens of
thousands of triangles in milliseconds, which a pure-torch rasterizer (:mod:`zoo3d.freeview.raster`, the
fallback) cannot. Nothing here is required: :func:`gl_available` says whether a context can be made.

Drawing (the layers are sorted front to back in the cache; they are drawn back to front):

* the opaque background with depth writes;
* per manifold, innermost first, one pass with depth test LESS, depth writes on and blending
  ``c = a c_layer + (1 - a) c`` (GRAM's compositing rule, back to front). A manifold's triangles are stored
  nearest first (:mod:`zoo3d.freeview.cache`), so where a layer folds over itself only its nearest surface
  (the renderer's first crossing) is blended, and only where it lies in front of the background.

Back faces are culled, as the renderer's crossing rule ignores a level left from inside. When depth is asked
for, a second float target composites ``(t, is_foreground)`` with the same weights: depth ``sum w t`` and the
foreground's alpha. Textures and the colour target are half floats (rgb keeps GRAM-HD's unclamped range; the
error, ~1e-3, is far below an 8-bit step's), which llvmpipe blends faster than 32-bit floats.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
from torch import Tensor

from zoo3d.cameras import Camera

__all__ = ["GLRenderer", "gl_available", "gl_projection"]

_VERTEX = """
#version 330
uniform mat4 mvp;
in vec3 in_position;
in vec2 in_uv;
out vec2 v_uv;
out vec3 v_world;
void main() {
    v_uv = in_uv;
    v_world = in_position;
    gl_Position = mvp * vec4(in_position, 1.0);
}
"""

_COLOUR_FRAGMENT = """
#version 330
uniform sampler2D tex;
in vec2 v_uv;
layout(location = 0) out vec4 colour;
void main() {
    colour = texture(tex, v_uv);
}
"""

_COLOUR_DEPTH_FRAGMENT = """
#version 330
uniform sampler2D tex;
uniform vec3 eye;
uniform float foreground;
in vec2 v_uv;
in vec3 v_world;
layout(location = 0) out vec4 colour;
layout(location = 1) out vec4 extra;
void main() {
    vec4 texel = texture(tex, v_uv);
    colour = texel;
    extra = vec4(length(v_world - eye), foreground, 0.0, texel.a);
}
"""

#: Render targets a :class:`GLRenderer` keeps, one per (height, width, depth) last rendered (28 bytes a pixel with
#: depth): a renderer used at ever new sizes holds only the latest ones.
TARGETS_KEPT = 2

_AVAILABLE: bool | None = None
_CONTEXT = None


def _load_llvm_users_first() -> None:
    """Import triton (PyTorch's compiler back end) before Mesa loads its LLVM, when triton is installed.

    Mesa's llvmpipe and triton each bring their own LLVM; loading triton's into a process where Mesa's is
    already in use crashes it (seen with Mesa 22.3 and triton 3), while the other order works. A later
    ``torch.compile`` (or any code that imports triton) would otherwise kill the process.
    """
    import importlib.util

    try:
        if importlib.util.find_spec("triton") is not None:
            import triton  # noqa: F401
    except Exception:  # a broken triton is torch's problem, not the rasterizer's
        pass


def _context():
    """One shared headless context per process (making one costs ~0.5 s)."""
    global _CONTEXT
    if _CONTEXT is None:
        import moderngl

        _load_llvm_users_first()
        _CONTEXT = moderngl.create_standalone_context(backend="egl")
    return _CONTEXT


def gl_available() -> bool:
    """Whether moderngl is installed and a headless EGL context can be made (checked once per process)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        try:
            _context()
            _AVAILABLE = True
        except Exception:  # no moderngl, no libEGL, no usable driver: the torch path is used
            _AVAILABLE = False
    return _AVAILABLE


def gl_projection(camera: Camera, near: float = 0.05, far: float = 10.0) -> np.ndarray:
    """(4, 4) float64 matrix taking world points to GL clip space for a batch-1 zoo3d camera.

    The OpenCV camera frame (x right, y down, z forward) and normalised intrinsics give
    ``x_ndc = 2u - 1`` and ``y_ndc = 1 - 2v`` for image coordinates (u, v) in [0, 1] (v down), so GL's
    pixel centres are zoo3d's ray pixel centres; clip w is the camera depth.
    """
    k = camera.intrinsics[0].detach().double().cpu().numpy()
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    a, b = (far + near) / (far - near), -2 * far * near / (far - near)
    proj = np.array([[2 * fx, 2 * k[0, 1], 2 * cx - 1, 0],
                     [0, -2 * fy, -(2 * cy - 1), 0],
                     [0, 0, a, b],
                     [0, 0, 1, 0]])
    w2c = np.linalg.inv(camera.cam2world[0].detach().double().cpu().numpy())
    return proj @ w2c


def _release_all(objects: list) -> None:
    """Release every GL object in ``objects`` (programs, buffers, textures, vertex arrays, render targets) and empty
    the list, so a second call releases nothing."""
    while objects:
        objects.pop().release()


class GLRenderer:
    """Holds one cache on the GL context (buffers and half-float textures) and renders it from any camera.

    render(camera, height, width, depth=True) -> rgb (3, H, W) composited colour (the maps' range), and with
    ``depth`` also depth (1, H, W) and foreground alpha (1, H, W) (else None, None); float32 CPU tensors.

    Everything it makes on the shared context (its two programs, the cache's buffers and textures, the render
    targets) is released by :meth:`release`, or when the renderer is garbage-collected: the process-wide context
    would otherwise keep it (moderngl frees nothing by itself), a few MB a renderer on llvmpipe.
    """

    def __init__(self, cache):
        import moderngl

        self.ctx = ctx = _context()
        self._moderngl = moderngl
        self._objects: list = []  # every GL object made here, released together
        self._finalizer = weakref.finalize(self, _release_all, self._objects)
        self._finalizer.atexit = False  # at exit the process's memory goes anyway; the context may be going too
        self.programs = {False: ctx.program(vertex_shader=_VERTEX, fragment_shader=_COLOUR_FRAGMENT),
                         True: ctx.program(vertex_shader=_VERTEX, fragment_shader=_COLOUR_DEPTH_FRAGMENT)}
        self._objects.extend(self.programs.values())
        self.backdrop = tuple(float(c) for c in cache.backdrop)
        self.layers = []
        for lay in cache.layers:
            if lay.num_faces == 0:  # a manifold no quad of the grid met draws nothing (and GL has no empty buffer)
                continue
            data = torch.cat([lay.vertices.float(), lay.uvs.float()], -1).cpu().numpy()
            vbo = ctx.buffer(np.ascontiguousarray(data, dtype="f4").tobytes())
            ibo = ctx.buffer(lay.faces.cpu().numpy().astype("i4").tobytes())
            tex_np = lay.texture.float().permute(1, 2, 0).contiguous().cpu().numpy()  # (R, R, 4), row 0 = v 0
            tex = ctx.texture((tex_np.shape[1], tex_np.shape[0]), 4, tex_np.astype("f2").tobytes(), dtype="f2")
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            tex.repeat_x = tex.repeat_y = False
            vaos = {with_depth: ctx.vertex_array(prog, [(vbo, "3f 2f", "in_position", "in_uv")], ibo)
                    for with_depth, prog in self.programs.items()}
            self._objects.extend((vbo, ibo, tex, *vaos.values()))
            self.layers.append((lay, vaos, tex, (vbo, ibo)))
        self._targets: dict[tuple, tuple] = {}

    def _framebuffer(self, height: int, width: int, with_depth: bool):
        """The render targets for this size (made on first use; the :data:`TARGETS_KEPT` last used are kept)."""
        key = (height, width, with_depth)
        if key not in self._targets:
            ctx = self.ctx
            colour = [ctx.renderbuffer((width, height), 4, dtype="f2")]
            if with_depth:
                colour.append(ctx.renderbuffer((width, height), 4, dtype="f4"))
            depth = ctx.depth_renderbuffer((width, height))
            self._targets[key] = (ctx.framebuffer(color_attachments=colour, depth_attachment=depth),
                                  ctx.framebuffer(color_attachments=colour[:1]), colour + [depth])
            self._objects.extend((*colour, depth, *self._targets[key][:2]))
            while len(self._targets) > TARGETS_KEPT:  # the least recently used size goes
                fbo, colour_only, attachments = self._targets.pop(next(iter(self._targets)))
                gone = (fbo, colour_only, *attachments)
                self._objects[:] = [obj for obj in self._objects if not any(obj is g for g in gone)]  # the same list
                for obj in gone:
                    obj.release()
        self._targets[key] = self._targets.pop(key)  # now the most recently used
        return self._targets[key][:2]

    def render(self, camera: Camera, height: int, width: int,
               depth: bool = True) -> tuple[Tensor, Tensor | None, Tensor | None]:
        mgl, ctx = self._moderngl, self.ctx
        fbo, colour_only = self._framebuffer(height, width, depth)
        prog = self.programs[depth]
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        colour_only.clear(*self.backdrop, 0.0)  # layers blend over it back to front: (1 - coverage) x backdrop
        fbo.use()
        ctx.viewport = (0, 0, width, height)
        mvp = gl_projection(camera).T.astype("f4").tobytes()  # GL reads column-major
        prog["mvp"].write(mvp)
        if depth:
            prog["eye"].value = tuple(float(x) for x in camera.cam2world[0, :3, 3])
        prog["tex"].value = 0
        ctx.enable(mgl.DEPTH_TEST | mgl.CULL_FACE)
        ctx.front_face = "ccw"
        ctx.cull_face = "back"
        ctx.blend_func = mgl.SRC_ALPHA, mgl.ONE_MINUS_SRC_ALPHA
        for lay, vaos, tex, _ in reversed(self.layers):
            tex.use(0)
            if depth:
                prog["foreground"].value = 0.0 if lay.opaque else 1.0
            if lay.opaque:
                ctx.disable(mgl.BLEND)
                ctx.depth_func = "<"
                vaos[depth].render(mgl.TRIANGLES)
                continue
            ctx.depth_func = "<"
            ctx.enable(mgl.BLEND)
            vaos[depth].render(mgl.TRIANGLES)
            ctx.disable(mgl.BLEND)
        ctx.disable(mgl.DEPTH_TEST | mgl.CULL_FACE)

        def read(attachment: int, dtype: str) -> np.ndarray:
            raw = fbo.read(components=4, dtype=dtype, attachment=attachment)
            return np.frombuffer(raw, dtype=dtype).reshape(height, width, 4)[::-1]  # GL rows start at the bottom

        rgb = torch.from_numpy(read(0, "f2")[..., :3].transpose(2, 0, 1).astype(np.float32))
        if not depth:
            return rgb, None, None
        extra = read(1, "f4")
        return rgb, torch.from_numpy(extra[None, ..., 0].copy()), torch.from_numpy(extra[None, ..., 1].copy())

    def release(self) -> None:
        """Free everything this renderer made on the context (a second call frees nothing)."""
        self._finalizer()
        self.layers, self._targets, self.programs = [], {}, {}
