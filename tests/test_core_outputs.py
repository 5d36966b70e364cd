"""The interfaces of zoo3d/core/ as a third-party plugin relies on them (docs/plugins.md, "The model interface"),
through fake modules written here: a RenderOutput's detached copy, what the Generator base
class gives a subclass (latents, cameras, forward = render(represent(z, psi)), its device and dtype) and what the
Renderer base class's forward passes on."""

from __future__ import annotations

import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core import Generator, Renderer, RenderOutput


def _leaf(*shape):
    return torch.rand(*shape, dtype=torch.float64, requires_grad=True)


def test_detach_copies_every_tensor_field_the_raw_render_and_the_extras_without_their_graph():
    raw = RenderOutput(rgb=_leaf(1, 3, 2, 2) * 2, extras={"lr": _leaf(1, 3, 2, 2) + 1})
    out = RenderOutput(rgb=_leaf(1, 3, 4, 5) * 3, depth=_leaf(1, 1, 4, 5) + 1, alpha=_leaf(1, 1, 4, 5).sigmoid(),
                       features=_leaf(1, 5, 4, 5) - 1, weights=_leaf(1, 6, 4, 5).exp(),
                       points=_leaf(1, 6, 4, 5, 3) * 0.5, normals=_leaf(1, 3, 4, 5).tanh(), raw=raw,
                       extras={"foreground_depth": _leaf(1, 1, 4, 5) * 2, "note": "kept", "n": 3})
    copy = out.detach()
    assert copy is not out and isinstance(copy, RenderOutput)
    assert copy.resolution == (4, 5) and copy.raw.resolution == (2, 2)  # rgb's (H, W)
    for name in ("rgb", "depth", "alpha", "features", "weights", "points", "normals"):
        old, new = getattr(out, name), getattr(copy, name)
        assert old.requires_grad and not new.requires_grad, name
        assert torch.equal(old.detach(), new), name
    assert isinstance(copy.raw, RenderOutput) and copy.raw is not raw
    assert not copy.raw.rgb.requires_grad and torch.equal(copy.raw.rgb, raw.rgb.detach())
    assert not copy.raw.extras["lr"].requires_grad and torch.equal(copy.raw.extras["lr"], raw.extras["lr"].detach())
    assert set(copy.extras) == {"foreground_depth", "note", "n"}
    assert not copy.extras["foreground_depth"].requires_grad
    assert torch.equal(copy.extras["foreground_depth"], out.extras["foreground_depth"].detach())
    assert (copy.extras["note"], copy.extras["n"]) == ("kept", 3)
    # the original keeps its graph
    out.rgb.sum().backward()
    assert out.rgb.requires_grad


def test_detach_leaves_absent_fields_absent():
    copy = RenderOutput(rgb=_leaf(1, 3, 2, 2) * 1).detach()
    assert (copy.depth, copy.alpha, copy.features, copy.weights, copy.points, copy.normals, copy.raw) == (None,) * 7
    assert copy.extras == {}


class PlaneGenerator(Generator):
    """A fake plugin generator: every instance is a flat colour c = sigmoid(w z[:, :3]), drawn as 2c - 1."""

    def __init__(self, z_dim: int = 4, prior: CameraPrior | None = None, buffer_dtype=None, params: bool = True):
        super().__init__()
        self.z_dim, self.resolution = z_dim, (3, 5)
        self.camera_prior = prior or CameraPrior(yaw_std=0.4, pitch_std=0.2, radius=2.0, fov=18.0)
        if params:
            self.w = torch.nn.Parameter(torch.full((3,), 0.5))
        if buffer_dtype is not None:
            self.register_buffer("count", torch.zeros(2, dtype=buffer_dtype))
        self.calls = []

    def represent(self, z, psi=1.0):
        self.calls.append(("represent", z, psi))
        return torch.sigmoid(self.w * z[:, :3] * psi)

    def render(self, representation, cameras, resolution=None):
        self.calls.append(("render", representation, cameras, resolution))
        h, w = resolution or self.resolution
        return RenderOutput(rgb=(2 * representation - 1)[:, :, None, None].expand(-1, -1, h, w))


def test_sample_z_is_standard_normal_drawn_from_the_given_generator():
    g = PlaneGenerator(z_dim=6)
    z = g.sample_z(5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(z, torch.randn(5, 6, generator=torch.Generator().manual_seed(3)))
    assert z.device == torch.device("cpu")


def test_sample_cameras_draw_from_the_camera_prior_with_the_given_generator():
    prior = CameraPrior(yaw_std=0.4, pitch_std=0.2, radius=2.0, fov=18.0)
    cams = PlaneGenerator(prior=prior).sample_cameras(4, generator=torch.Generator().manual_seed(7))
    r = torch.randn(2, 4, generator=torch.Generator().manual_seed(7))  # the prior's draw: yaw, pitch
    expected = Camera.from_angles(0.4 * r[0], 0.2 * r[1], 2.0, 18.0)
    assert torch.allclose(cams.cam2world, expected.cam2world, atol=1e-6)
    assert torch.allclose(cams.cam2world[:, :3, 3].norm(dim=-1), torch.full((4,), 2.0))


def test_latents_and_cameras_go_where_the_generator_lives_which_with_its_dtype_its_first_tensors_say():
    """It lives where its first parameter (or buffer) does, on the CPU without either, and renders in the dtype of
    its first floating one (else the default dtype)."""
    assert PlaneGenerator().device == torch.device("cpu")
    assert PlaneGenerator().double().dtype == torch.float64
    assert PlaneGenerator(params=False, buffer_dtype=torch.float16).dtype == torch.float16
    assert PlaneGenerator(params=False, buffer_dtype=torch.float16).to("meta").device == torch.device("meta")
    # an integer buffer says nothing about the dtype cameras are cast to: the default dtype stands
    assert PlaneGenerator(params=False, buffer_dtype=torch.int64).dtype == torch.get_default_dtype()
    assert PlaneGenerator(params=False).device == torch.device("cpu")
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        assert PlaneGenerator(params=False).dtype == torch.float64
    finally:
        torch.set_default_dtype(old)
    g = PlaneGenerator().to("meta")
    assert g.device == torch.device("meta")
    assert g.sample_z(2).device.type == "meta"
    assert g.sample_z(2, device="cpu").device.type == "cpu"
    assert g.sample_cameras(2).cam2world.device.type == "meta"
    assert g.sample_cameras(2, device="cpu").cam2world.device.type == "cpu"


def test_forward_renders_the_representation_of_the_latents_at_the_asked_resolution():
    g = PlaneGenerator()
    z = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    cams = g.sample_cameras(2, generator=torch.Generator().manual_seed(1))
    out = g(z, cams, psi=0.5, resolution=(2, 6))
    (_, z_seen, psi_seen), (_, rep, cams_seen, res_seen) = g.calls
    assert z_seen is z and psi_seen == 0.5 and cams_seen is cams and res_seen == (2, 6)
    c = torch.sigmoid(0.5 * z[:, :3] * 0.5)
    assert out.resolution == (2, 6) and torch.allclose(out.rgb[:, :, 1, 4], 2 * c - 1)
    assert g(z, cams).resolution == (3, 5) and g.calls[-1][3] is None and g.calls[-2][2] == 1.0


class FlatRenderer(Renderer):
    """A fake renderer: the representation's colour at every pixel, at ``resolution`` or the cameras'."""

    def render(self, representation, cameras, resolution=None):
        h, w = resolution or cameras.resolution
        return RenderOutput(rgb=(2 * representation - 1)[:, :, None, None].expand(-1, -1, h, w))


def test_a_renderer_called_like_a_module_renders_with_the_same_arguments():
    colour = torch.tensor([[0.25, 0.5, 1.0]])
    cams = Camera.from_angles(torch.zeros(1), torch.zeros(1), 1.0, 12.0)
    out = FlatRenderer()(colour, cams, (2, 3))
    assert out.resolution == (2, 3)
    assert torch.equal(out.rgb[0, :, 1, 2], torch.tensor([-0.5, 0.0, 1.0]))
    # without a resolution, the cameras' own
    sized = Camera.from_angles(torch.zeros(1), torch.zeros(1), 1.0, 12.0, resolution=(4, 6))
    assert FlatRenderer()(colour, sized).resolution == (4, 6)
