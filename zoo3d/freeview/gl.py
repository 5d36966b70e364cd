"""OpenGL rasterization of the cache through moderngl (headless EGL: Mesa's llvmpipe on a CPU, the driver's GPU
where there is one).

Why GL: a rasterizer is what GL is for, moderngl is a maintained binding with wheels for every platform,
and through EGL it needs no window or X server; on a CPU, Mesa's llvmpipe rasterizes the cache's tens of
thousands of triangles in milliseconds, which a pure-torch rasterizer (:mod:`zoo3d.freeview.raster`, the
fallback) cannot. Nothing here is required: :func:`gl_available` says whether a context can be made.

Drawing (the layers are sorted front to back in the cache; they are drawn back to front):

* the opaque background with depth writes;
* per manifold, innermost first: a depth-only pass (depth test LESS, writes on), then a colour pass with
  depth test EQUAL and blending ``c = a c_layer + (1 - a) c`` (GRAM's compositing rule, back to front).
  So each layer contributes only its nearest front-facing surface (the renderer's first crossing) and only
  where it lies in front of the background.

Back faces are culled, as the renderer's crossing rule ignores a level left from inside. A second float
target composites ``(t, is_foreground)`` with the same weights: depth ``sum w t`` and foreground alpha.
"""

from __future__ import annotations

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
invariant gl_Position;
void main() {
    v_uv = in_uv;
    v_world = in_position;
    gl_Position = mvp * vec4(in_position, 1.0);
}
"""

_DEPTH_FRAGMENT = """
#version 330
void main() {}
"""

_COLOUR_FRAGMENT = """
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

_AVAILABLE: bool | None = None
_CONTEXT = None


def _context():
    """One shared headless context per process (making one costs ~0.5 s)."""
    global _CONTEXT
    if _CONTEXT is None:
        import moderngl

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


class GLRenderer:
    """Holds one cache on the GL context (buffers and float textures) and renders it from any camera.

    render(camera, height, width) -> rgb (3, H, W) composited colour (the maps' range), depth (1, H, W),
    alpha (1, H, W) (foreground), float32 CPU tensors.
    """

    def __init__(self, cache):
        import moderngl

        self.ctx = ctx = _context()
        self._moderngl = moderngl
        self.depth_prog = ctx.program(vertex_shader=_VERTEX, fragment_shader=_DEPTH_FRAGMENT)
        self.colour_prog = ctx.program(vertex_shader=_VERTEX, fragment_shader=_COLOUR_FRAGMENT)
        self.layers = []
        for lay in cache.layers:
            data = torch.cat([lay.vertices.float(), lay.uvs.float()], -1).cpu().numpy()
            vbo = ctx.buffer(np.ascontiguousarray(data, dtype="f4").tobytes())
            ibo = ctx.buffer(lay.faces.cpu().numpy().astype("i4").tobytes())
            tex_np = lay.texture.float().permute(1, 2, 0).contiguous().cpu().numpy()  # (R, R, 4), row 0 = v 0
            tex = ctx.texture((tex_np.shape[1], tex_np.shape[0]), 4, tex_np.tobytes(), dtype="f4")
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            tex.repeat_x = tex.repeat_y = False
            depth_vao = ctx.vertex_array(self.depth_prog, [(vbo, "3f 2x4", "in_position")], ibo)
            colour_vao = ctx.vertex_array(self.colour_prog, [(vbo, "3f 2f", "in_position", "in_uv")], ibo)
            self.layers.append((lay, depth_vao, colour_vao, tex, (vbo, ibo)))
        self._fbo = None
        self._size = None

    def _framebuffer(self, height: int, width: int):
        if self._size != (height, width):
            if self._fbo is not None:
                self._fbo.release()
            ctx = self.ctx
            self._targets = [ctx.renderbuffer((width, height), 4, dtype="f4"),
                             ctx.renderbuffer((width, height), 4, dtype="f4")]
            self._depth = ctx.depth_renderbuffer((width, height))
            self._fbo = ctx.framebuffer(color_attachments=self._targets, depth_attachment=self._depth)
            self._size = (height, width)
        return self._fbo

    def render(self, camera: Camera, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
        mgl, ctx = self._moderngl, self.ctx
        fbo = self._framebuffer(height, width)
        fbo.use()
        ctx.viewport = (0, 0, width, height)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        mvp = gl_projection(camera).T.astype("f4").tobytes()  # GL reads column-major
        eye = tuple(float(x) for x in camera.cam2world[0, :3, 3])
        self.depth_prog["mvp"].write(mvp)
        self.colour_prog["mvp"].write(mvp)
        self.colour_prog["eye"].value = eye
        ctx.enable(mgl.DEPTH_TEST | mgl.CULL_FACE)
        ctx.front_face = "ccw"
        ctx.cull_face = "back"
        for lay, depth_vao, colour_vao, tex, _ in reversed(self.layers):
            tex.use(0)
            self.colour_prog["tex"].value = 0
            self.colour_prog["foreground"].value = 0.0 if lay.opaque else 1.0
            if lay.opaque:
                ctx.disable(mgl.BLEND)
                ctx.depth_func = "<"
                colour_vao.render(mgl.TRIANGLES)
                continue
            fbo.color_mask = ((False,) * 4, (False,) * 4)
            ctx.depth_func = "<"
            depth_vao.render(mgl.TRIANGLES)
            fbo.color_mask = ((True,) * 4, (True,) * 4)
            fbo.depth_mask = False
            ctx.depth_func = "=="
            ctx.enable(mgl.BLEND)
            ctx.blend_func = mgl.SRC_ALPHA, mgl.ONE_MINUS_SRC_ALPHA
            colour_vao.render(mgl.TRIANGLES)
            ctx.disable(mgl.BLEND)
            fbo.depth_mask = True
        ctx.disable(mgl.DEPTH_TEST | mgl.CULL_FACE)

        def read(attachment: int) -> np.ndarray:
            raw = fbo.read(components=4, dtype="f4", attachment=attachment)
            return np.frombuffer(raw, dtype="f4").reshape(height, width, 4)[::-1]  # GL rows start at the bottom

        colour, extra = read(0), read(1)
        rgb = torch.from_numpy(np.ascontiguousarray(colour[..., :3].transpose(2, 0, 1)))
        depth = torch.from_numpy(np.ascontiguousarray(extra[None, ..., 0]))
        alpha = torch.from_numpy(np.ascontiguousarray(extra[None, ..., 1]))
        return rgb, depth, alpha

    def release(self) -> None:
        for _, depth_vao, colour_vao, tex, buffers in self.layers:
            for obj in (depth_vao, colour_vao, tex, *buffers):
                obj.release()
        if self._fbo is not None:
            self._fbo.release()
            for rb in (*self._targets, self._depth):
                rb.release()
        self.layers, self._fbo, self._size = [], None, None
