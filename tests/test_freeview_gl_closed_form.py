"""The GL rasterizer (:mod:`zoo3d.freeview.gl`) against closed forms.

* ``gl_projection``: clip coordinates of world points written out from the pinhole model (no context needed):
  ``x_ndc = 2u - 1``, ``y_ndc = 1 - 2v`` for image coordinates (u, v), clip w the camera depth, depth ``near`` and
  ``far`` at NDC z = -1 and +1.
* ``GLRenderer`` (needs a headless EGL context; skipped without one): axis-aligned squares facing a camera on the
  z axis, each reading one texel, so every pixel's colour, depth and alpha is GRAM's compositing rule written out
  per pixel: ``c = a c_layer + (1 - a) c`` back to front over the opaque background, the backdrop where nothing
  is, depth and foreground alpha blended with the same weights.
* context making and the check for it: stand-ins for moderngl and for triton's import (marked as such below);
  they record the calls and their order, which a real driver cannot show.
"""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch

import zoo3d.freeview.gl as gl
from zoo3d.cameras import Camera
from zoo3d.freeview.cache import ManifoldCache, MeshLayer


def needs_gl():
    if not gl.gl_available():
        pytest.skip("no headless GL context (moderngl with an EGL driver such as Debian's libegl-mesa0)")


# ---------------------------------------------------------------------------------------- gl_projection
def test_projection_takes_world_points_to_the_clip_coordinates_of_the_pinhole_model():
    cam = Camera.from_angles(0.3, -0.2, 1.3, 15.0, dtype=torch.float64)
    k = torch.tensor([[4.1, 0.2, 0.45], [0.0, 3.7, 0.56], [0.0, 0.0, 1.0]], dtype=torch.float64)
    cam = Camera(cam.cam2world, k)
    near, far = 0.2, 3.0
    m = gl.gl_projection(cam, near, far)
    rot, eye = cam.cam2world[0, :3, :3].numpy(), cam.cam2world[0, :3, 3].numpy()
    points = np.random.default_rng(0).uniform(-0.3, 0.3, (20, 3))
    for p in points:
        x, y, z = rot.T @ (p - eye)  # the camera frame: x right, y down, z forward
        u, v = (4.1 * x + 0.2 * y) / z + 0.45, 3.7 * y / z + 0.56
        clip = m @ np.append(p, 1.0)
        assert clip[3] == pytest.approx(z, abs=1e-12)
        assert clip[:2] / clip[3] == pytest.approx([2 * u - 1, 1 - 2 * v], abs=1e-12)
    axis = rot[:, 2]  # points on the optical axis at depth near and far: NDC z -1 and +1
    for depth, ndc in ((near, -1.0), (far, 1.0), (2 * near * far / (near + far), 0.0)):
        clip = m @ np.append(eye + depth * axis, 1.0)
        assert clip[2] / clip[3] == pytest.approx(ndc, abs=1e-12)


def test_projection_puts_each_pixel_centre_of_zoo3d_rays_at_its_gl_pixel_centre():
    cam = Camera.from_angles(-0.25, 0.15, 1.0, 12.0, dtype=torch.float64)
    cam = Camera(cam.cam2world, torch.tensor([[4.5, 0.0, 0.45], [0.0, 4.9, 0.56], [0.0, 0.0, 1.0]], dtype=torch.float64))
    H, W = 6, 10
    origins, dirs = cam.rays(H, W)[:2]
    points = (origins + 0.9 * dirs)[0].reshape(H, W, 3).numpy()
    clip = points @ gl.gl_projection(cam)[:, :3].T + gl.gl_projection(cam)[:, 3]
    ndc = clip[..., :2] / clip[..., 3:]
    cols, rows = np.meshgrid(np.arange(W), np.arange(H))
    assert ndc[..., 0] == pytest.approx(2 * (cols + 0.5) / W - 1, abs=1e-9)
    assert ndc[..., 1] == pytest.approx(1 - 2 * (rows + 0.5) / H, abs=1e-9)  # row 0 at the top


# ----------------------------------------------------------------------------------------- GLRenderer
FX = 0.5 / math.tan(math.radians(6.0))  # the 12 degree camera's normalised focal length
CAMERA = Camera.from_angles(0.0, 0.0, 1.0, 12.0)  # at (0, 0, 1) looking down -z, image x = world x, row 0 = +y
TEXELS = torch.tensor([[[1.0, 0.25, 0.0, 0.5], [0.0, 0.5, 1.0, 0.75], [0.25, 0.75, 0.5, 1.0], [0.5, 0.0, 0.25, 0.25]],
                       [[0.0, 0.0, 0.0, 0.0], [0.75, 0.25, 0.5, 0.5], [1.0, 1.0, 0.0, 0.75], [0.5, 0.5, 0.5, 1.0]]])
BACKDROP = (0.5, 1.0, 0.25)


def square(name, z, k, texel, opaque=False, clockwise=False):
    """A square at height z covering |2u - 1|, |2v - 1| < k of the image, every vertex at texel (row, col)'s centre
    of the 2 x 4 texture (so it reads that texel's rgba exactly)."""
    half = k * (1 - z) / (2 * FX)
    verts = torch.tensor([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    uv = torch.tensor([(texel[1] + 0.5) / 4, (texel[0] + 0.5) / 2]).expand(4, 2)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    if clockwise:
        faces = faces.flip(1)
    return MeshLayer(name, verts, uv.clone(), faces, TEXELS.permute(2, 0, 1).clone(), opaque)


def folded(name, k, z_near, texel_near, z_far, texel_far):
    """One layer that covers the same pixels twice: the near square's triangles first, as the cache sorts them."""
    near, far = square(name, z_near, k, texel_near), square(name, z_far, k, texel_far)
    return MeshLayer(name, torch.cat([near.vertices, far.vertices]), torch.cat([near.uvs, far.uvs]),
                     torch.cat([near.faces, far.faces + 4]), near.texture, False)


def expected(layers, H, W):
    """rgb (3, H, W), depth (1, H, W), alpha (1, H, W): the layers (front to back, (z, k, rgba) each, the last
    opaque) blended back to front per pixel centre, the backdrop where no layer covers it."""
    v, u = torch.meshgrid((torch.arange(H) + 0.5) / H, (torch.arange(W) + 0.5) / W, indexing="ij")
    m = torch.maximum((2 * u - 1).abs(), (2 * v - 1).abs())
    ray = torch.sqrt(1 + ((2 * u - 1) / (2 * FX)) ** 2 + ((2 * v - 1) / (2 * FX)) ** 2)  # length per unit depth
    rgb = torch.tensor(BACKDROP)[:, None, None].expand(3, H, W).clone()
    depth, alpha = torch.zeros(1, H, W), torch.zeros(1, H, W)
    for index, (z, k, rgba) in enumerate(reversed(layers)):
        a = 1.0 if index == 0 else rgba[3]
        inside = m < k
        rgb = torch.where(inside, a * torch.tensor(rgba[:3])[:, None, None] + (1 - a) * rgb, rgb)
        depth = torch.where(inside, a * (1 - z) * ray + (1 - a) * depth, depth)
        alpha = torch.where(inside, a * (index > 0) + (1 - a) * alpha, alpha)
    return rgb, depth, alpha


@pytest.fixture
def renderer():
    made = []

    def make(layers):
        needs_gl()
        made.append(gl.GLRenderer(ManifoldCache(layers, extent=0.12, backdrop=BACKDROP)))
        return made[-1]

    yield make
    for r in made:
        r.release()


def rgba(texel):
    return TEXELS[texel].tolist()


def test_layers_blend_back_to_front_over_the_background_and_the_backdrop(renderer):
    r = renderer([square("manifold_00", 0.1, 0.25, (0, 0)), square("manifold_01", 0.0, 0.5, (1, 2)),
                  square("background", -0.5, 0.75, (0, 2), opaque=True)])
    want = expected([(0.1, 0.25, rgba((0, 0))), (0.0, 0.5, rgba((1, 2))), (-0.5, 0.75, rgba((0, 2)))], 32, 32)
    rgb, depth, alpha = r.render(CAMERA, 32, 32)
    assert rgb.dtype == depth.dtype == alpha.dtype == torch.float32  # as the docstring says
    assert (rgb - want[0]).abs().max() < 2e-3
    assert (depth - want[1]).abs().max() < 1e-4 and (alpha - want[2]).abs().max() < 1e-6
    for H, W in ((24, 40), (32, 32)):  # another frame size, then the first again (its framebuffer is kept)
        rgb, nothing, none = r.render(CAMERA, H, W, depth=False)
        want = expected([(0.1, 0.25, rgba((0, 0))), (0.0, 0.5, rgba((1, 2))), (-0.5, 0.75, rgba((0, 2)))], H, W)
        assert nothing is None and none is None and rgb.shape == (3, H, W)
        assert (rgb - want[0]).abs().max() < 2e-3


def test_back_faces_are_culled_and_a_fold_blends_only_its_nearest_surface(renderer):
    bg = square("background", -0.5, 0.75, (1, 3), opaque=True)
    r = renderer([square("manifold_00", 0.1, 0.25, (0, 1), clockwise=True), folded("manifold_01", 0.5, 0.05, (1, 1),
                                                                                   0.0, (0, 3)), bg])
    rgb, depth, alpha = r.render(CAMERA, 32, 32)
    want = expected([(0.05, 0.5, rgba((1, 1))), (-0.5, 0.75, rgba((1, 3)))], 32, 32)
    assert (rgb - want[0]).abs().max() < 2e-3
    assert (depth - want[1]).abs().max() < 1e-4 and (alpha - want[2]).abs().max() < 1e-6


def test_nothing_behind_the_background_shows(renderer):
    r = renderer([square("manifold_00", -0.8, 0.5, (0, 0)), square("background", -0.5, 1.5, (0, 2), opaque=True)])
    rgb, depth, alpha = r.render(CAMERA, 16, 16)
    want = expected([(-0.5, 1.5, rgba((0, 2)))], 16, 16)
    assert (rgb - want[0]).abs().max() < 2e-3
    assert (depth - want[1]).abs().max() < 1e-4 and alpha.abs().max() == 0


def test_the_texture_is_clamped_at_its_edge_not_repeated(renderer):
    """A square read at UV (0, 0), the texture's corner: clamped, the corner texel; repeated, the four corners mixed."""
    r = renderer([square("manifold_00", 0.0, 0.5, (-0.5, -0.5)), square("background", -0.5, 1.5, (0, 2), opaque=True)])
    rgb = r.render(CAMERA, 16, 16, depth=False)[0]
    want = expected([(0.0, 0.5, rgba((0, 0))), (-0.5, 1.5, rgba((0, 2)))], 16, 16)
    assert (rgb - want[0]).abs().max() < 2e-3


def test_release_frees_every_buffer_texture_and_target_it_made(renderer):
    r = renderer([square("manifold_00", 0.0, 0.5, (1, 2)), square("background", -0.5, 0.75, (0, 2), opaque=True)])
    r.render(CAMERA, 8, 8)
    r.render(CAMERA, 8, 12, depth=False)
    objects = [obj for _, vaos, tex, buffers in r.layers for obj in (*vaos.values(), tex, *buffers)]
    objects += [obj for fbo, colour, attachments in r._targets.values() for obj in (fbo, colour, *attachments)]
    assert len(objects) == 2 * 5 + (2 + 3) + (2 + 2)  # per layer 2 arrays, a texture, 2 buffers; per target size
    r.release()
    assert [type(obj.mglo).__name__ for obj in objects] == ["InvalidObject"] * len(objects)
    assert r.layers == [] and r._targets == {}


# -------------------------------------------------------------------- making the context (stand-ins)
@pytest.fixture
def fresh(monkeypatch):
    """No context made yet in this process (restored afterwards)."""
    monkeypatch.setattr(gl, "_CONTEXT", None)
    monkeypatch.setattr(gl, "_AVAILABLE", None)


def test_the_context_is_made_once_on_egl_after_triton_is_loaded(fresh, monkeypatch):
    calls = []
    stand_in = types.ModuleType("moderngl")  # stand-in for moderngl: records the context it is asked for
    stand_in.create_standalone_context = lambda **kwargs: calls.append(("context", kwargs)) or "the context"
    monkeypatch.setitem(sys.modules, "moderngl", stand_in)
    monkeypatch.setattr(gl, "_load_llvm_users_first", lambda: calls.append("triton"))
    assert gl._context() == "the context" and gl._context() == "the context"
    assert calls == ["triton", ("context", {"backend": "egl"})]
    assert gl.gl_available() is True


def test_gl_is_unavailable_when_no_context_can_be_made_and_that_is_asked_once(fresh, monkeypatch):
    tries = []

    def no_driver():  # stand-in for a machine without libEGL
        tries.append(1)
        raise RuntimeError("no display")

    monkeypatch.setattr(gl, "_context", no_driver)
    assert gl.gl_available() is False and gl.gl_available() is False and tries == [1]


def test_triton_is_imported_when_installed_and_a_broken_one_is_ignored(monkeypatch):
    imported = []

    class BrokenTriton:  # stand-in import hook: triton "installed" but failing at import
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "triton":
                imported.append(name)
                raise OSError("libtriton.so: cannot open shared object file")
            return None

    import importlib.util

    monkeypatch.delitem(sys.modules, "triton", raising=False)
    monkeypatch.setattr(sys, "meta_path", [BrokenTriton, *sys.meta_path])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "triton" else None)
    gl._load_llvm_users_first()
    assert imported == ["triton"]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # not installed: not imported
    gl._load_llvm_users_first()
    assert imported == ["triton"]
