"""GramInverter's single pass (zoo3d_gram_inverter.inverter) with recording stand-ins for the generator, the
encoder and the detail branch: what reaches each network (the images in the generator's dtype, the detached mean w,
the generator's grid at the detail's LR resolution, the cameras), the cameras estimated at the prior's radius and
fov, and what the result holds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError

from zoo3d_gram_inverter.inverter import GramInverter

pytestmark = pytest.mark.usefixtures("single_thread")


class Rep:
    """A representation that records sums: ``coarse + detail`` -> ("sum", coarse, detail)."""

    def __init__(self, name):
        self.name = name

    def __add__(self, other):
        return ("sum", self, other)


class Generator(nn.Module):
    def __init__(self, dtype=torch.float64):
        super().__init__()
        self.register_buffer("levels", torch.linspace(-0.1, 0.1, 3, dtype=dtype))
        self.w = nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=dtype))
        self.camera_prior = CameraPrior(radius=2.5, fov=18.0)
        self.calls = []

    def mean_latent(self):
        return self.w * 2.0  # part of the generator's graph

    def represent_ws(self, ws):
        self.calls.append(("represent_ws", ws))
        return Rep("coarse")

    def gridded(self, resolution):
        self.calls.append(("gridded", resolution))
        return torch.full((1, 5, 3), float(resolution)), None

    def render(self, rep, cameras, resolution=None, normals=False):
        self.calls.append(("render", rep, cameras, resolution, normals))
        return RenderOutput(rgb=torch.zeros(1, 3, 2, 2))


class Encoder(nn.Module):
    """W+ = mean_w + the images' mean in every slot; pose = the first two pixels of channel 0 (yaw, pitch)."""

    def __init__(self, pose_head=True):
        super().__init__()
        self.has_pose_head = pose_head
        self.seen = []

    def forward(self, images, mean_w):
        self.seen.append((images, mean_w))
        ws = mean_w.expand(len(images), 2, 3) + images.mean(dim=(1, 2, 3))[:, None, None]
        pose = images[:, 0, 0, :2] if self.has_pose_head else None
        return ws, pose


class Detail(nn.Module):
    def __init__(self, lr_resolution=4):
        super().__init__()
        self.config = type("DetailConfig", (), {"lr_resolution": lr_resolution})()
        self.seen = []

    def forward(self, images, cameras, fg_points):
        self.seen.append((images, cameras, fg_points))
        return Rep("detail")


def _images():
    images = torch.zeros(2, 3, 4, 4)
    images[:, 0, 0, :2] = torch.tensor([[0.3, -0.1], [-0.2, 0.15]])  # the stand-in encoder's (yaw, pitch)
    return images


def _angles(cams):
    a = cams.to_angles()
    return torch.stack([a["yaw"], a["pitch"]], dim=1), a["radius"], a["fov"]


def test_without_cameras_the_pose_heads_angles_give_cameras_at_the_priors_radius_and_fov():
    gen, enc, det = Generator(), Encoder(), Detail(lr_resolution=4)
    inv = GramInverter(gen, enc, det)
    images = _images()
    result = inv.invert(images)
    pose, radius, fov = _angles(result.cameras)
    expected_pose = torch.tensor([[0.3, -0.1], [-0.2, 0.15]], dtype=torch.float64)
    torch.testing.assert_close(pose, expected_pose, rtol=0, atol=1e-6)
    torch.testing.assert_close(radius, torch.full((2,), 2.5, dtype=radius.dtype), rtol=0, atol=1e-6)
    assert torch.allclose(fov.double(), torch.tensor(18.0, dtype=torch.float64), atol=1e-4)
    torch.testing.assert_close(result.extras["pose"], expected_pose)
    # the encoder saw the images in the generator's dtype and the generator's mean w, detached
    seen_images, mean_w = enc.seen[0]
    assert seen_images.dtype == torch.float64 and torch.equal(seen_images, images.double())
    torch.testing.assert_close(mean_w, torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64))
    assert not mean_w.requires_grad
    # W+ reached the generator and the result; the detail branch read the grid at its LR resolution and the cameras
    (_, ws), (_, res) = gen.calls
    assert res == 4 and torch.equal(result.latent, ws)
    torch.testing.assert_close(ws, torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64).expand(2, 2, 3)
                               + images.double().mean(dim=(1, 2, 3))[:, None, None])
    d_images, d_cams, fg = det.seen[0]
    assert torch.equal(d_images, images.double()) and d_cams is result.cameras
    assert torch.equal(fg, torch.full((1, 5, 3), 4.0))
    kind, coarse, detail = result.representation
    assert kind == "sum" and coarse.name == "coarse" and detail.name == "detail"
    assert result.extras["coarse"] is coarse and result.extras["detail"] is detail


def test_given_cameras_are_used_whatever_the_pose_head_says():
    gen, enc, det = Generator(), Encoder(pose_head=False), Detail(lr_resolution=2)
    inv = GramInverter(gen, enc, det)
    cams = Camera.from_angles([0.4, -0.4], [0.0, 0.2], 1.5, 10.0)
    result = inv.invert(_images(), cams)
    torch.testing.assert_close(result.cameras.cam2world, cams.cam2world)
    assert result.extras["pose"] is None and det.seen[0][1] is result.cameras
    assert gen.calls[1] == ("gridded", 2)
    with_head = GramInverter(Generator(), Encoder(), Detail())
    torch.testing.assert_close(with_head.invert(_images(), cams).cameras.cam2world, cams.cam2world)


def test_use_detail_false_is_the_coarse_inversion_alone():
    gen, enc, det = Generator(), Encoder(), Detail()
    result = GramInverter(gen, enc, det).invert(_images(), use_detail=False)
    assert det.seen == [] and [c[0] for c in gen.calls] == ["represent_ws"]
    kind, coarse, detail = result.representation
    assert coarse.name == "coarse" and detail is None and result.extras["detail"] is None


def test_without_a_pose_head_a_pose_must_be_given():
    inv = GramInverter(Generator(), Encoder(pose_head=False), Detail())
    assert not inv.has_pose_head and GramInverter(Generator(), Encoder(), Detail()).has_pose_head
    for call in (inv.invert, inv.estimate_cameras):
        with pytest.raises(UserError, match=r"^This GRAMInverter was trained without a pose head, so the input pose "
                                            r"must be given \(--pose yaw,pitch\)\.$"):
            call(_images())
    assert inv.encoder.seen == []  # refused before encoding


def test_estimate_cameras_answers_the_pose_heads_cameras():
    inv = GramInverter(Generator(), Encoder(), Detail())
    pose, radius, _ = _angles(inv.estimate_cameras(_images().double()))
    torch.testing.assert_close(pose, torch.tensor([[0.3, -0.1], [-0.2, 0.15]], dtype=torch.float64), rtol=0, atol=1e-6)
    torch.testing.assert_close(radius, torch.full((2,), 2.5, dtype=radius.dtype), rtol=0, atol=1e-6)


def test_render_hands_resolution_and_normals_to_the_generator():
    gen = Generator()
    inv = GramInverter(gen, Encoder(), Detail())
    result = inv.invert(_images())
    cams = Camera.from_angles(0.0, 0.0)
    inv.render(result, cams, (6, 5), normals=True)
    assert gen.calls[-1] == ("render", result.representation, cams, (6, 5), True)
    inv.render(result, cams)
    assert gen.calls[-1] == ("render", result.representation, cams, None, False)


def test_given_cameras_are_moved_to_the_generators_device():
    """The meta device stands in for a GPU: CPU images and cameras meet a generator that lives elsewhere."""
    gen, det = Generator().to("meta"), Detail()
    result = GramInverter(gen, Encoder(), det).invert(_images(), Camera.from_angles([0.1, 0.2], 0.0))
    assert result.cameras.cam2world.device.type == "meta" and det.seen[0][1] is result.cameras
    assert result.latent.device.type == "meta" and det.seen[0][0].device.type == "meta"
