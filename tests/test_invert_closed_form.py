"""The optimisation inverter against independent computations: its losses written out, its latent spaces and
their starting points, and its Adam loops (latent search and PTI) replayed by hand on a linear stand-in."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import zoo3d.eval.image_metrics as image_metrics
from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError
from zoo3d.eval.image_metrics import ssim
from zoo3d.invert import (LatentSpace, OptimizationInverter, OptimizeSettings, PerceptualLoss, available_spaces,
                          perceptual_for, pixel_loss, reconstruction_loss, resolve_space)

pytestmark = pytest.mark.usefixtures("single_thread")

W_AVG = [0.1, -0.2, 0.3]
MAPPING = [[0.5, 0.2, 0.0], [-0.3, 0.4, 0.1], [0.0, 0.6, -0.2]]


class LinearStyles(Generator):
    """A StyleGAN-like stand-in whose every step is linear: w = w_avg + psi (A z - w_avg), broadcast to two
    layers; a W+ code is the flat colour ws[0] + 0.5 ws[1], drawn times the parameter ``gain`` and a horizontal
    ramp (so the pixels depend on the resolution). The mean w is kept in float32 on the CPU, as a running
    statistic may be."""

    def __init__(self, dtype=torch.float32):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.resolution = 3, 3, 2, (4, 4)
        self.camera_prior = CameraPrior()
        self.gain = torch.nn.Parameter(torch.tensor(0.8, dtype=dtype))
        self.register_buffer("mapping", torch.tensor(MAPPING, dtype=dtype))
        self.w_avg = torch.tensor(W_AVG)

    def map_latent(self, z, psi=1.0):
        avg = self.w_avg.to(z)
        return (avg + psi * (z @ self.mapping.T - avg))[:, None].expand(-1, self.num_ws, -1)

    def mean_latent(self):
        return self.w_avg[None]

    def represent_ws(self, ws):
        return ws[:, 0] + 0.5 * ws[:, 1]

    def represent(self, z, psi=1.0):
        return self.represent_ws(self.map_latent(z, psi))

    def render(self, rep, cameras, resolution=None):
        H, W = resolution or self.resolution
        ramp = torch.linspace(0.5, 1.0, W, dtype=rep.dtype, device=rep.device)
        return RenderOutput(rgb=(self.gain * rep[:, :, None, None] * ramp).expand(-1, -1, H, -1))


class ZOnly(Generator):
    """A generator without W/W+ methods (its z is its flat colour): invertible in z only."""

    z_dim, resolution, camera_prior = 3, (4, 4), CameraPrior()

    def represent(self, z, psi=1.0):
        return z

    def render(self, rep, cameras, resolution=None):
        return RenderOutput(rgb=rep[:, :, None, None].expand(-1, -1, *(resolution or self.resolution)))


def _images(batch=2, size=(3, 5), seed=0):
    return torch.rand(batch, 3, *size, generator=torch.Generator().manual_seed(seed)) * 1.6 - 0.8


# ---------------------------------------------------------------- losses


def test_pixel_losses_are_per_image_means_of_absolute_and_squared_errors():
    target = torch.tensor([0.5, -0.25])[:, None, None, None].expand(2, 3, 4, 6)
    pred = torch.zeros(2, 3, 4, 6)
    pred[0, 0, 0, 0] = 0.5  # one pixel of image 0 is exact
    n = 3 * 4 * 6
    assert pixel_loss(pred, target).tolist() == pytest.approx([0.5 * (n - 1) / n, 0.25])
    assert pixel_loss(pred, target, "l2").tolist() == pytest.approx([0.25 * (n - 1) / n, 0.0625])
    with pytest.raises(ValueError, match="unknown pixel loss 'L1' \\(l1 or l2\\)"):
        pixel_loss(pred, target, "L1")


def _area_half(x):
    """2x2 block means (an area down-sampling written as a reshape)."""
    B, C, H, W = x.shape
    return x[..., :H // 2 * 2, :W // 2 * 2].reshape(B, C, H // 2, 2, W // 2, 2).mean((3, 5))


def _ms_ssim_loss(pred, target, levels):
    total = 0.0
    for _ in range(levels):
        total = total + (1 - ssim(pred, target))
        pred, target = _area_half(pred), _area_half(target)
    return total / levels


@pytest.mark.parametrize("size, scales, levels", [
    ((64, 64), None, 3),  # the default: 64, 32 and 16 px (an 8 px level would still count)
    ((64, 64), 4, 4),
    ((16, 16), 3, 2),  # the 4 px level is skipped, the 8 px one is not
    ((8, 8), 3, 1),
    ((6, 6), 3, 1),  # the full size is always compared, however small
    ((32, 12), 3, 1),  # 16 x 6 is under 8 px on one side
])
def test_the_substitute_averages_one_minus_ssim_over_the_pyramid_levels_of_8_px_and_more(size, scales, levels):
    g = torch.Generator().manual_seed(1)
    x = F.avg_pool2d(torch.rand(2, 3, size[0] + 2, size[1] + 2, generator=g) * 2 - 1, 3, 1)
    y = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    loss = PerceptualLoss("ms-ssim") if scales is None else PerceptualLoss("ms-ssim", scales=scales)
    expected = _ms_ssim_loss(x, y, levels)
    torch.testing.assert_close(loss(x, y), expected, rtol=0, atol=1e-6)
    if levels > 1:  # the levels differ, so the count matters
        assert (expected - _ms_ssim_loss(x, y, levels - 1)).abs().min() > 1e-3


class FakeLpips(torch.nn.Module):
    """Stands in for ``lpips.LPIPS``: distance = scale * (mean(pred) - 2 mean(target)), asymmetric so the argument
    order shows."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(3.0))

    def forward(self, pred, target, normalize=False):
        return (self.scale * (pred.mean((1, 2, 3)) - 2 * target.mean((1, 2, 3))))[:, None, None, None]


@pytest.fixture
def lpips_weights(monkeypatch):
    """``load_lpips`` as if the AlexNet weights were in the torch cache; records the devices it was asked for."""
    asked = []

    def load(device=None):
        asked.append(device)
        return FakeLpips()

    monkeypatch.setattr(image_metrics, "load_lpips", load)
    return asked


@pytest.fixture
def no_lpips_weights(monkeypatch):
    def load(device=None):
        raise UserError("no AlexNet weights here")

    monkeypatch.setattr(image_metrics, "load_lpips", load)


def test_lpips_is_used_where_its_weights_are_and_scores_prediction_against_target(lpips_weights):
    pred, target = _images(2, (32, 32), 2), _images(2, (32, 32), 3)
    expected = 3.0 * (pred.mean((1, 2, 3)) - 2 * target.mean((1, 2, 3)))
    for kind in ("auto", "lpips"):
        loss = PerceptualLoss(kind, device="cpu") if kind == "lpips" else PerceptualLoss()
        assert loss.name == "lpips-alex" and loss.reason is None
        torch.testing.assert_close(loss(pred, target), expected)
    assert lpips_weights == [None, "cpu"]
    assert PerceptualLoss("ms-ssim").name == "ms-ssim-substitute" and len(lpips_weights) == 2  # not even loaded
    with pytest.raises(ValueError, match="^unknown perceptual loss 'vgg'$"):
        PerceptualLoss("vgg")


def test_without_lpips_weights_auto_falls_back_and_says_why_while_lpips_refuses(no_lpips_weights):
    loss = PerceptualLoss()
    assert loss.name == "ms-ssim-substitute" and loss.reason == "no AlexNet weights here"
    with pytest.raises(UserError, match="no AlexNet weights here"):
        PerceptualLoss("lpips")


def test_one_perceptual_loss_is_kept_per_device_and_kind(monkeypatch, lpips_weights):
    import zoo3d.invert.losses as losses

    monkeypatch.setattr(losses, "_CACHE", {})
    cpu = perceptual_for("cpu")
    assert perceptual_for("cpu") is cpu and cpu.name == "lpips-alex"
    substitute = perceptual_for("cpu", "ms-ssim")
    assert substitute is not cpu and substitute.name == "ms-ssim-substitute"
    meta = perceptual_for("meta")
    assert meta is not cpu and meta.lpips.scale.device.type == "meta"
    assert lpips_weights == ["cpu", "meta"]


def test_reconstruction_loss_adds_the_weighted_perceptual_term_and_skips_it_at_weight_0():
    pred, target = _images(2, (4, 6), 4), _images(2, (4, 6), 5)
    l1 = (pred - target).abs().flatten(1).mean(1)
    l2 = (pred - target).square().flatten(1).mean(1)

    def perceptual(p, t):
        return (p - 2 * t).flatten(1).mean(1)

    def refuse(p, t):
        raise AssertionError("the perceptual term is computed at weight 0")

    torch.testing.assert_close(reconstruction_loss(pred, target, None), l1)
    torch.testing.assert_close(reconstruction_loss(pred, target, perceptual), l1 + perceptual(pred, target))
    torch.testing.assert_close(reconstruction_loss(pred, target, perceptual, 0.5, "l2"),
                               l2 + 0.5 * perceptual(pred, target))
    torch.testing.assert_close(reconstruction_loss(pred, target, refuse, 0.0), l1)


# ---------------------------------------------------------------- latent spaces


def test_spaces_on_offer_and_the_sentence_for_one_that_is_not():
    assert available_spaces(ZOnly()) == ("z",) and resolve_space(ZOnly(), "z") == "z"
    assert available_spaces(LinearStyles()) == ("z", "w", "w+") and resolve_space(LinearStyles(), "auto") == "w+"
    with pytest.raises(UserError) as err:
        resolve_space(LinearStyles(), "s")
    assert str(err.value) == ("This generator can be inverted in z, w, w+ only, not 's' (W/W+ need a mapping "
                              "network exposed through zoo3d.invert.SupportsLatentSpaces).")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_search_starts_at_z_0_or_the_mean_w_on_the_generators_device_and_dtype(dtype):
    gen = LinearStyles(dtype).to("meta")  # the mean w stays a float32 CPU tensor
    starts = {space: LatentSpace(gen, space, 2).param for space in ("z", "w", "w+")}
    for space, param in starts.items():
        assert (param.device.type, param.dtype) == ("meta", dtype), space
    gen = LinearStyles(dtype)
    mean = torch.tensor(W_AVG).to(dtype)
    assert torch.equal(LatentSpace(gen, "z", 2).param, torch.zeros(2, 3, dtype=dtype))
    assert torch.equal(LatentSpace(gen, "w", 2).param, mean.expand(2, 3))
    assert torch.equal(LatentSpace(gen, "w+", 2).param, mean.expand(2, 2, 3))


def test_a_mean_given_per_layer_starts_w_plus_at_each_layers_and_w_at_their_average():
    """A generator may give its mean w per layer, (1, num_ws, w_dim), as pi-GAN's and GRAM's do."""

    class LayerMeans(LinearStyles):
        def mean_latent(self):
            return torch.tensor([[W_AVG, [0.5, 0.0, -0.1]]])

    gen = LayerMeans()
    assert torch.equal(LatentSpace(gen, "w+", 2).param, gen.mean_latent().expand(2, 2, 3))
    torch.testing.assert_close(LatentSpace(gen, "w", 2).param, torch.tensor([[0.3, -0.1, 0.1]] * 2), rtol=0,
                               atol=1e-7)


def test_w_is_w_plus_with_every_row_equal():
    gen = LinearStyles()
    w, w_plus = LatentSpace(gen, "w", 2), LatentSpace(gen, "w+", 2)
    with torch.no_grad():
        w.param.copy_(torch.tensor([[0.3, -0.1, 0.7], [-0.5, 0.2, 0.0]]))
        w_plus.param.copy_(w.param[:, None].repeat(1, 2, 1))
    assert torch.equal(w.codes(gen), w_plus.codes(gen))
    assert torch.equal(w.represent(gen), w_plus.represent(gen))
    torch.testing.assert_close(w.represent(gen), 1.5 * w.param)


def test_a_z_latent_is_represented_with_its_truncation():
    gen = LinearStyles()
    z = torch.tensor([[1.0, -2.0, 0.5]])
    for psi in (None, 0.5):
        latent = LatentSpace(gen, "z", 1) if psi is None else LatentSpace(gen, "z", 1, psi=psi)
        with torch.no_grad():
            latent.param.copy_(z)
        w = torch.tensor(W_AVG) + (psi or 1.0) * (z @ torch.tensor(MAPPING).T - torch.tensor(W_AVG))
        torch.testing.assert_close(latent.represent(gen), 1.5 * w)


# ---------------------------------------------------------------- the Adam loops


def _loss(gen, codes, space, psi, images, perceptual, weight):
    """The documented loss, summed over the batch: L1 + weight * perceptual of the render at the image size."""
    rep = gen.represent(codes, psi) if space == "z" else gen.represent_ws(
        codes[:, None].expand(-1, gen.num_ws, -1) if space == "w" else codes)
    rgb = gen.render(rep, None, tuple(images.shape[-2:])).rgb
    return ((rgb - images).abs().flatten(1).mean(1) + weight * perceptual(rgb, images)).sum()


def _adam(param, grad, state, lr, betas=(0.9, 0.999), eps=1e-8):
    """One Adam step (Kingma & Ba, with bias correction), in place."""
    state["t"] = t = state.get("t", 0) + 1
    state["m"] = betas[0] * state.get("m", 0) + (1 - betas[0]) * grad
    state["v"] = betas[1] * state.get("v", 0) + (1 - betas[1]) * grad ** 2
    m_hat, v_hat = state["m"] / (1 - betas[0] ** t), state["v"] / (1 - betas[1] ** t)
    param -= lr * m_hat / (v_hat.sqrt() + eps)


def _perceptual(p, t):
    return 4 * (p - t).square().flatten(1).mean(1)


@pytest.mark.parametrize("space, psi", [("z", 0.5), ("w", 1.0), ("w+", 1.0)])
def test_the_latent_search_is_adam_on_the_documented_loss_from_the_start_point(space, psi):
    gen, images = LinearStyles(), _images()
    settings = OptimizeSettings(space=space, steps=5, lr=0.05, perceptual_weight=0.5, psi=psi)
    result = OptimizationInverter(gen, settings, perceptual=_perceptual).invert(images, Camera.from_angles(0.0, 0.0))
    start = {"z": torch.zeros(2, 3), "w": torch.tensor([W_AVG] * 2), "w+": torch.tensor([[W_AVG] * 2] * 2)}
    codes, state, losses = start[space], {}, []
    for _ in range(5):
        codes.requires_grad_(True)
        loss = _loss(gen, codes, space, psi, images, _perceptual, 0.5)
        (grad,) = torch.autograd.grad(loss, codes)
        codes = codes.detach()
        _adam(codes, grad, state, 0.05)
        losses.append(loss.item())
    assert result.extras == {"space": space, "losses": pytest.approx(losses, rel=1e-5)}
    expected = codes[:, None].expand(-1, 2, -1) if space == "w" else codes
    torch.testing.assert_close(result.latent, expected, rtol=1e-5, atol=1e-6)
    assert result.generator is None and gen.gain.requires_grad  # the caller's own generator, as it was


def test_pti_takes_tune_steps_of_adam_at_tune_lr_on_a_copy_and_renders_the_result_with_it():
    gen, images, cams = LinearStyles(), _images(1), Camera.from_angles(0.0, 0.0)
    settings = OptimizeSettings(space="w+", steps=2, lr=0.05, tune_steps=1, tune_lr=0.1, perceptual_weight=0)
    inv = OptimizationInverter(gen, settings)
    result = inv.invert(images, cams)
    # the first Adam step moves each parameter by lr against the sign of its gradient
    gain = torch.tensor(0.8, requires_grad=True)
    rgb = (gain * 1.5 * result.latent[:, 0])[:, :, None, None] * torch.linspace(0.5, 1.0, 5)
    (grad,) = torch.autograd.grad((rgb - images).abs().mean(), gain)
    tuned = 0.8 - 0.1 * math.copysign(1.0, grad.item())
    assert result.generator.gain.item() == pytest.approx(tuned, abs=1e-6)
    assert torch.equal(gen.gain, torch.tensor(0.8))
    assert len(result.extras["losses"]) == 3
    view = inv.render(result, cams, (2, 5)).rgb
    torch.testing.assert_close(view, (tuned * 1.5 * result.latent[:, 0])[:, :, None, None]
                               * torch.linspace(0.5, 1.0, 5).expand(2, 5))
    assert not view.requires_grad  # the tuned copy is handed back frozen


def test_a_pose_estimator_gets_the_images_in_the_generators_dtype():
    """A float64 model's pose head cannot read the float32 pixels of a file."""
    gen = LinearStyles(torch.float64)
    head = torch.linspace(-0.5, 0.5, 3 * 3 * 5, dtype=torch.float64)
    images = _images(1)  # float32

    def pose_head(x):
        return Camera.from_angles(x.flatten(1) @ head, 0.0, dtype=torch.float64)

    inv = OptimizationInverter(gen, OptimizeSettings(steps=1, perceptual_weight=0), pose_estimator=pose_head)
    yaw = inv.invert(images).cameras.to_angles()["yaw"]
    torch.testing.assert_close(yaw, images.double().flatten(1) @ head)


class SeenFromItsCamera(LinearStyles):
    """The stand-in's colour scaled by the camera's distance from the origin: the renderer reads its camera."""

    def render(self, rep, cameras, resolution=None):
        out = super().render(rep, cameras, resolution)
        return RenderOutput(rgb=out.rgb * cameras.cam2world[:, :3, 3].norm(dim=-1)[:, None, None, None])


def test_images_and_cameras_are_moved_to_the_generators_device():
    """The meta device stands in for a GPU: a CPU tensor meeting a meta one fails as it would meet a CUDA one."""
    gen = SeenFromItsCamera().to("meta")
    inv = OptimizationInverter(gen, OptimizeSettings(steps=0, perceptual_weight=0))
    given = inv.invert(_images(1), Camera.from_angles(0.0, 0.0, 1.5))
    assert given.cameras.cam2world.device.type == "meta" and given.latent.device.type == "meta"
    assert inv.render(given, Camera.from_angles(0.3, 0.0, 2.0), (2, 5)).rgb.device.type == "meta"
    head = torch.linspace(-0.5, 0.5, 3 * 3 * 5, device="meta")
    inv.pose_estimator = lambda x: Camera.from_angles(x.flatten(1) @ head, 0.0)
    assert inv.invert(_images(1)).cameras.cam2world.device.type == "meta"
