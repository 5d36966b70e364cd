"""GRAMInverter's encoder-stage and detail-stage losses against the formulas of their module doc.

Stand-ins whose every output is a plain formula: the generator's representation is the W+ code itself,
rendered as an image ``tanh(mean(ws) + yaw + ramp)`` of the plane z = mean(ws) / 10 (normal +z, two layers
0.05 in front of and behind it, weighted sigmoid(mean(ws)) and its complement); the encoder maps an image
to ``mean_w + a * mean(image)`` and a pose ``p * (mean red, mean green)``; the detail branch adds
``k * mean(image) + yaw / 10 + sum(grid points) / 100``. The expected losses are recomputed from those
formulas term by term (``visibility`` and ``surface_spread`` have their own closed-form tests), with the
perceptual term replaced by a known function, and the gradients compared with autograd's on the
recomputation.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.model import RealBatch, Stage, StepContext
from zoo3d.core.outputs import RenderOutput
from zoo3d_gram_inverter import losses
from zoo3d_gram_inverter.config import GramInverterLossConfig

L, D, RES = 3, 2, 8
NEAR, FAR = 0.6, 1.6


def _yaw(cams: Camera) -> torch.Tensor:
    return cams.to_angles()["yaw"]


class StubGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = nn.Parameter(torch.tensor([[0.1, -0.2], [0.3, 0.0], [-0.1, 0.2]]))
        self.map_w = nn.Parameter(torch.tensor([[0.5, 1.0], [-0.5, 0.25], [1.0, -1.0]]))
        self.camera_prior = CameraPrior(radius=1.1, fov=14.0)
        self.renders = []

    def mean_latent(self):
        return self.mean * 1.0

    def map_latent(self, z):
        return z[:, None, :] * self.map_w

    def represent_ws(self, ws):
        return ws * 1.0

    def sample_z(self, n, generator=None, device=None):
        return torch.randn(n, D, generator=generator)

    def sample_cameras(self, n, generator=None, device=None):
        u = torch.rand(n, 2, generator=generator)
        return Camera.from_angles((u[:, 0] - 0.5) * 0.6, (u[:, 1] - 0.5) * 0.3, 1.1, 14.0)

    def gridded(self, resolution):
        return torch.arange(float(resolution)), None

    def intersect(self, cams, res):
        return cams.cam2world, res

    def render(self, rep, cams, res, normals=False, intersections=None):
        # hits, where given, are those of this render's own cameras and size
        assert intersections is None or (torch.equal(intersections[0], cams.cam2world) and intersections[1] == res)
        self.renders.append((res, normals))
        return plane_render(rep, cams, res, normals)


def plane_render(rep, cams, res, normals=False):
    B = rep.shape[0]
    value = rep.mean(dim=(1, 2))
    ramp = torch.linspace(-1, 1, res)[None, None, :, None] * torch.linspace(0, 1, res)[None, None, None, :]
    rgb = torch.tanh(value[:, None, None, None] + _yaw(cams)[:, None, None, None] + ramp).expand(B, 3, res, res)
    o, d = cams.rays(res, res)  # (B, HW, 3)
    t = ((value[:, None] / 10 - o[..., 2]) / d[..., 2])  # the plane z = value / 10
    ts = torch.stack([t - 0.05, t + 0.05], dim=1)  # (B, 2, HW)
    points = o[:, None] + ts[..., None] * d[:, None]
    w0 = torch.sigmoid(value)[:, None].expand(B, res * res)
    weights = torch.stack([w0, 1 - w0], dim=1)
    n = torch.zeros(B, 3, res, res)
    n[:, 2] = 1
    return RenderOutput(rgb=rgb, depth=t.reshape(B, 1, res, res), weights=weights.reshape(B, 2, res, res),
                        points=points.reshape(B, 2, res, res, 3), normals=n if normals else None)


class StubEncoder(nn.Module):
    def __init__(self, pose=True):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([[0.5, -0.25], [1.0, 0.5], [0.25, 2.0]]))
        self.p = nn.Parameter(torch.tensor([0.8, -0.6])) if pose else None

    def forward(self, images, mean_w):
        ws = mean_w[None] + self.a * images.mean(dim=(1, 2, 3))[:, None, None]
        pose = None if self.p is None else images.mean(dim=(2, 3))[:, :2] * self.p
        return ws, pose


class StubDetail(nn.Module):
    def __init__(self):
        super().__init__()
        self.k = nn.Parameter(torch.tensor(0.7))

    def forward(self, images, cams, fg_points):
        shift = self.k * images.mean(dim=(1, 2, 3)) + _yaw(cams) / 10 + fg_points.sum() / 100
        return shift[:, None, None].expand(images.shape[0], L, D)


def perceptual(pred, target):
    return (pred - target).square().flatten(1).mean(1) * 3


@pytest.fixture
def fake_perceptual(monkeypatch):
    asked = []

    def perceptual_for(device, kind="auto"):
        asked.append((str(device), kind))
        return perceptual

    monkeypatch.setattr(losses, "perceptual_for", perceptual_for)
    return asked


def config():
    from types import SimpleNamespace

    return SimpleNamespace(generator=SimpleNamespace(resolution=RES, render=SimpleNamespace(near=NEAR, far=FAR)),
                           detail=SimpleNamespace(lr_resolution=5))


def real(cameras=True, res=RES, n=2):
    g = torch.Generator().manual_seed(1)
    images = torch.rand(n, 3, res, res, generator=g) * 2 - 1
    cams = Camera.from_angles(torch.tensor([0.2, -0.25]), torch.tensor([0.05, -0.1]), 1.1, 14.0)
    return RealBatch(images=images, cameras=cams if cameras else None)


def context(modules, batch):
    stage = Stage(name="s", steps=1, phases=[], optimizers={}, batch_size=2)
    return StepContext(modules=modules, config=None, stage=stage, step=0, stage_step=0,
                       device=torch.device("cpu"), real=batch, rng=torch.Generator().manual_seed(5))


def modules(pose=True):
    return {"generator": StubGenerator(), "encoder": StubEncoder(pose), "detail": StubDetail()}


def _grads(mods, loss):
    params = [p for m in mods.values() for p in m.parameters()]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def assert_matches_recomputation(result, loss, logs, mods) -> list[torch.Tensor]:
    """The step's loss, logs and gradients equal the recomputation's; returns the step's gradients."""
    assert result.logs.keys() == logs.keys()
    for k, v in logs.items():
        assert result.logs[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
    assert result.loss.item() == pytest.approx(loss.item(), rel=1e-6)
    got = _grads(mods, result.loss)
    for g, want in zip(got, _grads(mods, loss)):
        assert torch.allclose(g, want, rtol=1e-5, atol=1e-7)
    return got


# ------------------------------------------------------------------------------------ encoder stage

def expected_encoder(mods, batch, lw):
    gen, enc = mods["generator"], mods["encoder"]
    rng = torch.Generator().manual_seed(5)
    images = F.interpolate(batch.images, size=(RES, RES), mode="area") if batch.images.shape[-1] != RES \
        else batch.images
    mean_w = gen.mean.detach()
    ws, pose = enc(images, mean_w)
    cams = batch.cameras if batch.cameras is not None else \
        Camera.from_angles(pose.detach()[:, 0], pose.detach()[:, 1], 1.1, 14.0)
    rgb = plane_render(ws, cams, RES).rgb
    l1 = (rgb - images).abs().mean()
    p = perceptual(rgb, images).mean()
    logs = {"rec_l1": l1.item()}
    loss = lw.rec_l1 * l1
    if lw.rec_perceptual > 0:
        loss = loss + lw.rec_perceptual * p
        logs["rec_perceptual"] = p.item()
    target = lambda c: torch.stack([c.to_angles()["yaw"], c.to_angles()["pitch"]], -1)  # noqa: E731
    if lw.pose > 0 and pose is not None and batch.cameras is not None:
        pr = (pose - target(cams)).square().mean()
        loss = loss + lw.pose * pr
        logs["pose_real"] = pr.item()
    if lw.latent > 0 or (lw.pose > 0 and pose is not None):
        z = torch.randn(2, D, generator=rng)
        u = torch.rand(2, 2, generator=rng)
        cams_s = Camera.from_angles((u[:, 0] - 0.5) * 0.6, (u[:, 1] - 0.5) * 0.3, 1.1, 14.0)
        ws_true = (z[:, None, :] * gen.map_w).detach()
        ws_hat, pose_hat = enc(plane_render(ws_true, cams_s, RES).rgb, mean_w)
        lat = (ws_hat - ws_true).square().mean()
        loss = loss + lw.latent * lat
        logs["latent"] = lat.item()
        if pose_hat is not None:
            pf = (pose_hat - target(cams_s)).square().mean()
            loss = loss + lw.pose * pf
            logs["pose_fake"] = pf.item()
    logs["encoder_loss"] = loss.item()
    return loss, logs


@pytest.mark.parametrize("cameras, pose, weights", [
    (True, True, dict(rec_l1=1.5, rec_perceptual=0.5, latent=2.0, pose=3.0)),
    (False, True, dict(rec_l1=1.0, rec_perceptual=0.0, latent=2.0, pose=3.0)),  # poses from the encoder's head
    (True, False, dict(rec_l1=0.5, rec_perceptual=2.0, latent=1.5, pose=3.0)),  # no pose head
    (True, True, dict(rec_l1=1.0, rec_perceptual=1.0, latent=0.0, pose=2.0)),  # fakes for their poses only
    (True, True, dict(rec_l1=1.0, rec_perceptual=1.0, latent=2.0, pose=0.0)),
    (True, False, dict(rec_l1=1.0, rec_perceptual=1.0, latent=0.0, pose=2.0)),  # no fakes at all
    (True, False, dict(rec_l1=1.0, rec_perceptual=0.0, latent=0.5, pose=2.0)),  # weights below 1 count too
    (True, True, dict(rec_l1=1.0, rec_perceptual=0.0, latent=0.0, pose=0.5)),
    (True, True, dict(rec_l1=1.0, rec_perceptual=0.0, latent=0.0, pose=0.0)),  # neither: no fakes
])
def test_encoder_step_loss_is_reconstruction_plus_latent_and_pose_errors(fake_perceptual, cameras, pose, weights):
    lw = GramInverterLossConfig(perceptual="ms-ssim", **weights)
    mods, batch = modules(pose), real(cameras)
    ctx = context(mods, batch)
    result = losses.encoder_step_loss(ctx, config(), lw)
    loss, logs = expected_encoder(mods, batch, lw)
    assert_matches_recomputation(result, loss, logs, mods)
    assert fake_perceptual == ([("cpu", "ms-ssim")] if weights["rec_perceptual"] > 0 else [])
    drew_fakes = weights["latent"] > 0 or (weights["pose"] > 0 and pose)
    assert [r for r in mods["generator"].renders] == [(RES, False)] * (2 if drew_fakes else 1)
    untouched = torch.Generator().manual_seed(5)
    assert torch.equal(ctx.rng.get_state(), untouched.get_state()) is not drew_fakes


def test_encoder_step_loss_resizes_real_images_to_the_generators_resolution(fake_perceptual):
    lw = GramInverterLossConfig(rec_perceptual=1.0, latent=1.0, pose=1.0)
    mods, batch = modules(), real(res=2 * RES)
    result = losses.encoder_step_loss(context(mods, batch), config(), lw)
    loss, logs = expected_encoder(mods, batch, lw)
    assert result.loss.item() == pytest.approx(loss.item(), rel=1e-6)
    assert result.logs["rec_l1"] == pytest.approx(logs["rec_l1"], rel=1e-6)


# ------------------------------------------------------------------------------------ detail stage

def expected_detail(mods, batch, lw):
    gen, enc, det = mods["generator"], mods["encoder"], mods["detail"]
    rng = torch.Generator().manual_seed(5)
    images = batch.images
    with torch.no_grad():
        ws, pose = enc(images, gen.mean)
        cams = batch.cameras if batch.cameras is not None else Camera.from_angles(pose[:, 0], pose[:, 1], 1.1,
                                                                                  14.0)
    full = ws + det(images, cams, torch.arange(5.0))
    out = plane_render(full, cams, RES)
    l1 = (out.rgb - images).abs().mean()
    p = perceptual(out.rgb, images).mean()
    loss, logs = lw.rec_l1 * l1, {"rec_l1": l1.item()}
    if lw.rec_perceptual > 0:
        loss = loss + lw.rec_perceptual * p
        logs["rec_perceptual"] = p.item()
    if lw.novel_view > 0 or lw.depth > 0:
        u = torch.rand(2, 2, generator=rng)
        novel = Camera.from_angles((u[:, 0] - 0.5) * 0.6, (u[:, 1] - 0.5) * 0.3, 1.1, 14.0)
        coarse_in, coarse_novel = plane_render(ws, cams, RES), plane_render(ws, novel, RES, normals=True)
        full_novel = plane_render(full, novel, RES)
        if lw.novel_view > 0:
            mask = 1 - losses.visibility(coarse_novel, novel, cams, coarse_in.depth)
            nv = (mask * (full_novel.rgb - coarse_novel.rgb).abs()).mean()
            loss = loss + lw.novel_view * nv
            logs.update(novel_view=nv.item(), novel_mask=mask.mean().item())
        if lw.depth > 0:
            spread = lambda o, c, ref: losses.surface_spread(o, c, ref, FAR - NEAR).mean()  # noqa: E731
            dep = (spread(out, cams, coarse_in.depth) + spread(full_novel, novel, coarse_novel.depth)) / 2
            loss = loss + lw.depth * dep
            logs["depth_spread"] = dep.item()
    logs["detail_loss"] = loss.item()
    return loss, logs


@pytest.mark.parametrize("cameras, weights", [
    (True, dict(rec_l1=1.5, rec_perceptual=0.5, novel_view=2.0, depth=3.0)),
    (False, dict(rec_l1=1.0, rec_perceptual=0.0, novel_view=2.0, depth=3.0)),  # cameras from the pose head
    (True, dict(rec_l1=1.0, rec_perceptual=1.0, novel_view=0.0, depth=0.5)),
    (True, dict(rec_l1=1.0, rec_perceptual=1.0, novel_view=0.5, depth=0.0)),
    (True, dict(rec_l1=0.5, rec_perceptual=1.0, novel_view=0.0, depth=0.0)),  # no novel view drawn
])
def test_detail_step_loss_is_reconstruction_plus_masked_novel_view_and_depth_spread(fake_perceptual, cameras,
                                                                                   weights):
    lw = GramInverterLossConfig(perceptual="lpips", **weights)
    mods, batch = modules(), real(cameras)
    ctx = context(mods, batch)
    result = losses.detail_step_loss(ctx, config(), lw)
    loss, logs = expected_detail(mods, batch, lw)
    got = assert_matches_recomputation(result, loss, logs, mods)
    # only the detail branch learns here: the encoder and the generator are frozen
    grads = dict(zip([n for m in mods.values() for n, _ in m.named_parameters()], got))
    assert grads["k"].abs() > 0 and all(grads[n].abs().max() == 0 for n in ("mean", "map_w", "a", "p"))
    assert fake_perceptual == ([("cpu", "lpips")] if weights["rec_perceptual"] > 0 else [])
    novel = weights["novel_view"] > 0 or weights["depth"] > 0
    expected_renders = [(RES, False)] + ([(RES, False), (RES, True), (RES, False)] if novel else [])
    assert mods["generator"].renders == expected_renders


def test_the_novel_view_mask_and_the_depth_spread_are_not_trivial(fake_perceptual):
    """The recomputation above compares numbers that carry information: a mask strictly between 0 and 1, a
    spread that the detail branch moves."""
    lw = GramInverterLossConfig(novel_view=1.0, depth=1.0)
    result = losses.detail_step_loss(context(modules(), real()), config(), lw)
    assert 0.001 < result.logs["novel_mask"] < 0.5
    assert result.logs["novel_view"] > 1e-4 and result.logs["depth_spread"] > 1e-3


# ------------------------------------------------------------------------------------ visibility, spread

def _plane(cam, H, W, normal=(0.0, 0.0, 1.0)):
    """What a frontal camera sees of the plane z = 0: its rays, the depth and a RenderOutput with ``normal``."""
    o, d = cam.rays(H, W)
    t = (o[..., 2] / -d[..., 2]).reshape(1, 1, H, W)
    normals = torch.tensor(normal).reshape(1, 3, 1, 1).expand(1, 3, H, W)
    return d, t, RenderOutput(rgb=torch.zeros(1, 3, H, W), depth=t, normals=normals)


def test_visibility_of_a_plane_in_a_wide_view_from_a_narrow_input_camera():
    """v = cos to the input camera where the input image sees the point, 0 outside it (non-square views)."""
    radius, wide, narrow = 0.5, 60.0, 26.0  # a camera nearer than 1: unit directions need dividing by |p - o|
    novel = Camera.from_angles(0.0, 0.0, radius, wide)
    given = Camera.from_angles(0.0, 0.0, radius, narrow)
    d, t, out = _plane(novel, 6, 10)
    _, t_in, _ = _plane(given, 8, 8)
    v = losses.visibility(out, novel, given, t_in)
    p = (novel.origins[:, None] + d * t.reshape(1, -1, 1))[0]
    half = radius * torch.tan(torch.deg2rad(torch.tensor(narrow / 2)))
    inside = (p[:, 0].abs() < half) & (p[:, 1].abs() < half)
    margin = ((p[:, :2].abs() - half).abs() / half).min()
    assert margin > 0.02  # no point near the input image's edge
    cos = -(p - given.origins[0]).div((p - given.origins[0]).norm(dim=-1, keepdim=True))[:, 2]
    expected = torch.where(inside, cos, torch.zeros_like(cos)).reshape(1, 1, 6, 10)
    assert torch.allclose(v, expected, atol=1e-5)
    assert 0 < int(inside.sum()) < inside.numel()


def test_visibility_reads_the_input_depth_up_to_its_border():
    """Points in the outer half-pixel of the input image read its edge depth (border padding), not 0."""
    cam = Camera.from_angles(0.0, 0.0, 1.0, 30.0)
    _, t, out = _plane(cam, 16, 16)
    _, t_in, _ = _plane(cam, 4, 4)
    v = losses.visibility(out, cam, cam, t_in + 0.02)  # the input saw the plane 2 cm farther: nothing occludes
    d, _, _ = _plane(cam, 16, 16)
    assert torch.allclose(v, (-d[..., 2]).reshape(1, 1, 16, 16), atol=1e-5)


def test_visibility_is_clamped_to_0_and_1():
    cam = Camera.from_angles(0.0, 0.0, 1.0, 30.0)
    _, t, back = _plane(cam, 4, 4, normal=(0.0, 0.0, -1.0))  # facing away from the camera
    assert torch.equal(losses.visibility(back, cam, cam, t), torch.zeros(1, 1, 4, 4))
    _, t, long = _plane(cam, 4, 4, normal=(0.0, 0.0, 2.0))  # an unnormalised normal: the cosine is capped at 1
    assert torch.equal(losses.visibility(long, cam, cam, t), torch.ones(1, 1, 4, 4))


def test_surface_spread_keeps_a_channel_dimension():
    cam = Camera.from_angles(0.0, 0.0, 1.0, 12.0)
    o, d = cam.rays(2, 3)
    points = (o + 0.9 * d).reshape(1, 1, 2, 3, 3)
    out = RenderOutput(rgb=torch.zeros(1, 3, 2, 3), weights=torch.full((1, 1, 2, 3), 0.5), points=points)
    spread = losses.surface_spread(out, cam, torch.ones(1, 1, 2, 3), scale=2.0)
    assert spread.shape == (1, 1, 2, 3)
    assert torch.allclose(spread, torch.full((1, 1, 2, 3), 0.5 * 0.1 / 2.0), atol=1e-6)
