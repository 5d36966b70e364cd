"""EG3D's regularisers, schedules and the dual discriminator."""

from __future__ import annotations

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.train.losses import r1_penalty
from zoo3d_triplane.discriminator import DualDiscriminator, blur_images, dual_input
from zoo3d_triplane.field import TriplaneDecoder, TriplaneScene
from zoo3d_triplane.regularizers import (blur_sigma, conditioning_labels, density_regularization, neural_resolution_at,
                                         swap_probability)


def _scene(planes: torch.Tensor) -> TriplaneScene:
    torch.manual_seed(0)
    return TriplaneScene(planes=planes, decoder=TriplaneDecoder(planes.shape[2], 16), box_warp=0.25, density_scale=4.0)


def test_density_regularisation_is_near_zero_for_a_smooth_field_and_large_for_a_noisy_one():
    g = torch.Generator().manual_seed(0)
    res = 128  # a texel is 0.25 / 128 world units, about twice the perturbation std (0.004 * 0.25)
    coords = torch.linspace(-1, 1, res)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    smooth = torch.stack([torch.sin(xx + c) * torch.cos(yy - c) for c in range(8)])  # (8, R, R), low frequency
    smooth_planes = smooth.expand(1, 3, 8, res, res).contiguous()
    noisy_planes = torch.randn(1, 3, 8, res, res, generator=torch.Generator().manual_seed(1)) * smooth.std()
    smooth_tv = density_regularization(_scene(smooth_planes), 2000, 0.004, generator=g)
    noisy_tv = density_regularization(_scene(noisy_planes), 2000, 0.004, generator=torch.Generator().manual_seed(0))
    constant_tv = density_regularization(_scene(torch.ones(1, 3, 8, res, res)), 2000, 0.004, generator=g)
    assert noisy_tv > 10 * smooth_tv
    assert noisy_tv > 5e-3
    # inside the cube a constant field is perfectly smooth; only points straddling the cube's faces differ
    assert constant_tv < 0.2 * noisy_tv


def test_density_regularisation_gives_gradients_to_the_planes():
    planes = torch.randn(1, 3, 4, 16, 16, requires_grad=True)
    density_regularization(_scene(planes), 500, 0.004, generator=torch.Generator().manual_seed(0)).backward()
    assert planes.grad.abs().sum() > 0


def test_dual_input_is_the_image_and_the_upsampled_raw_render():
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    raw = torch.zeros(2, 3, 16, 16)
    raw[:, 0] = 1.0  # a constant raw render stays constant when upsampled
    x = dual_input(image, raw)
    assert x.shape == (2, 6, 32, 32)
    torch.testing.assert_close(x[:, :3], image)
    torch.testing.assert_close(x[:, 3:], torch.cat([torch.ones(2, 1, 32, 32), torch.zeros(2, 2, 32, 32)], 1))


def test_the_camera_label_changes_the_dual_discriminators_logit_and_the_raw_half_is_seen():
    torch.manual_seed(0)
    D = DualDiscriminator(32, 16, channel_base=512, channel_max=32, mapping_layers=2).eval()
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    raw = torch.rand(2, 3, 16, 16) * 2 - 1
    front = Camera.from_angles([0.0, 0.0], 0.0)
    side = Camera.from_angles([0.5, 0.5], 0.2)
    a = D(image, front, raw=raw).logit
    b = D(image, side, raw=raw).logit
    c = D(image, front, raw=-raw).logit
    assert a.shape == (2, 1)
    assert (a - b).abs().min() > 1e-4
    assert (a - c).abs().min() > 1e-4
    torch.testing.assert_close(D(image, front, raw=raw).logit, a)  # deterministic in eval mode


def test_dual_r1_penalises_both_halves():
    torch.manual_seed(0)
    D = DualDiscriminator(16, 8, channel_base=256, channel_max=16, mapping_layers=2)
    image = torch.rand(2, 3, 16, 16, requires_grad=True)
    raw = torch.rand(2, 3, 8, 8, requires_grad=True)
    c = Camera.from_angles([0.0, 0.1], 0.0).to_eg3d()
    logits = D(image, raw=raw, c=c).logit
    both = r1_penalty(logits, [image, raw], gamma=2.0)
    g_img, g_raw = torch.autograd.grad(D(image, raw=raw, c=c).logit.sum(), [image, raw])
    expected = (g_img.square().flatten(1).sum(1) + g_raw.square().flatten(1).sum(1)).mean()  # 0.5 * gamma = 1
    torch.testing.assert_close(both, expected, rtol=1e-5, atol=0)
    assert r1_penalty(D(image, raw=raw, c=c).logit, [image, raw], 2.0, interval=16) == 16 * both


def test_dual_r1_of_a_linear_discriminator_weighs_both_halves_equally():
    """D = <w_img, image> + <w_raw, raw>: the penalty is 0.5 gamma (|w_img|^2 + |w_raw|^2) x interval exactly."""
    g = torch.Generator().manual_seed(0)
    w_img, w_raw = torch.randn(3, 16, 16, generator=g), torch.randn(3, 8, 8, generator=g)
    image = torch.rand(4, 3, 16, 16, generator=g).requires_grad_(True)
    raw = torch.rand(4, 3, 8, 8, generator=g).requires_grad_(True)

    def logits():
        return (image * w_img).flatten(1).sum(1, keepdim=True) + (raw * w_raw).flatten(1).sum(1, keepdim=True)

    gamma = 5.0
    expected = 0.5 * gamma * (w_img.square().sum() + w_raw.square().sum())
    # the penalty is a loss for D: its gradient reaches D's weights (d/dw 0.5 gamma |w|^2 = gamma w)
    w_img.requires_grad_(True), w_raw.requires_grad_(True)
    r1_penalty(logits(), [image, raw], gamma).backward()
    torch.testing.assert_close(w_img.grad, gamma * w_img.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(w_raw.grad, gamma * w_raw.detach(), rtol=1e-6, atol=1e-6)
    w_img, w_raw = w_img.detach(), w_raw.detach()
    torch.testing.assert_close(r1_penalty(logits(), [image, raw], gamma), expected, rtol=1e-6, atol=0)
    torch.testing.assert_close(r1_penalty(logits(), [image, raw], gamma, interval=4), 4 * expected,
                               rtol=1e-6, atol=0)


def test_blur_keeps_the_mean_and_removes_high_frequencies():
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0 - 1.0
    img = checker.expand(1, 3, 16, 16)
    blurred = blur_images(img, 2.0)
    assert blurred.shape == img.shape
    assert blurred[..., 6:10, 6:10].abs().max() < 0.05  # interior: the checkerboard averages out
    assert torch.equal(blur_images(img, 0.0), img)
    flat = torch.full((1, 1, 16, 16), 0.7)
    torch.testing.assert_close(blur_images(flat, 1.0)[..., 4:12, 4:12], flat[..., 4:12, 4:12])


def test_schedules_fade_as_upstream():
    assert swap_probability(0, 0.5, 100) == 1.0
    assert swap_probability(50, 0.5, 100) == 0.75
    assert swap_probability(1000, 0.5, 100) == 0.5
    assert blur_sigma(0, 10.0, 100) == 10.0 and blur_sigma(50, 10.0, 100) == 5.0 and blur_sigma(200, 10.0, 100) == 0
    assert neural_resolution_at(0, 64, 128, 100) == 64
    assert neural_resolution_at(50, 64, 128, 100) == 96
    assert neural_resolution_at(500, 64, 128, 100) == 128


def test_pose_conditioning_swaps_labels_with_a_neighbour():
    c = torch.arange(4.0)[:, None].expand(4, 25)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(conditioning_labels(c, 0.0, g), c)
    torch.testing.assert_close(conditioning_labels(c, 1.0, g), torch.roll(c, 1, 0))


class _LinearField:
    """A stand-in scene: raw density w . x (so the regulariser has a closed form); records the points asked.
    Its ``density_scale`` is zoo3d's head scene's (EG3D's unit is 1 / 4 world units) unless given."""

    def __init__(self, w, box_warp=0.25, dtype=torch.float32, batch=2, density_scale=4.0):
        self.planes = torch.zeros(batch, 3, 1, 2, 2, dtype=dtype)
        self.box_warp, self.w, self.points = box_warp, torch.tensor(w, dtype=dtype), []
        self.density_scale = density_scale

    def decode(self, points):
        self.points.append(points)
        return (points * self.w).sum(-1, keepdim=True), None


def test_density_regularisation_samples_the_cube_and_perturbs_by_perturb_box_warp():
    """x ~ U([-bw, bw]^3), eps ~ N(0, (perturb bw)^2): for raw = w.x the loss is E|w.eps| = |w| perturb bw sqrt(2/pi)."""
    n, perturb = 100_000, 0.004
    field = _LinearField([1.0, -2.0, 0.5], dtype=torch.float64)
    loss = density_regularization(field, n, perturb, generator=torch.Generator().manual_seed(0))
    (points,) = field.points
    assert points.dtype == torch.float64 and points.shape == (2, 2 * n, 3)
    x, moved = points[:, :n], points[:, n:]
    assert x.min() >= -0.25 and x.max() <= 0.25 and x.min() < -0.249 and x.max() > 0.249
    assert x.mean().abs() < 2e-3 and x.std().item() == pytest.approx(0.5 / 12 ** 0.5, rel=5e-3)  # uniform on the cube
    eps = moved - x
    assert eps.mean().abs() < 1e-5 and eps.std().item() == pytest.approx(perturb * 0.25, rel=5e-3)
    expected = torch.linalg.norm(field.w).item() * perturb * 0.25 * (2 / torch.pi) ** 0.5
    assert loss.item() == pytest.approx(expected, rel=5e-3)
    # drawn from the given generator, so the same seed gives the same value and another seed another one
    again = density_regularization(_LinearField([1.0, -2.0, 0.5]), n, perturb, torch.Generator().manual_seed(0))
    other = density_regularization(_LinearField([1.0, -2.0, 0.5]), n, perturb, torch.Generator().manual_seed(1))
    assert again.item() == pytest.approx(loss.item(), rel=1e-6) and other.item() != again.item()
    first, second = _LinearField([1.0, 0.0, 0.0]), _LinearField([1.0, 0.0, 0.0])
    density_regularization(first, 64, perturb, torch.Generator().manual_seed(2))
    density_regularization(second, 64, perturb, torch.Generator().manual_seed(2))
    assert torch.equal(first.points[0], second.points[0])  # the points themselves come from the generator


def test_density_regularisation_in_eg3ds_own_units_samples_eg3ds_cube_whatever_the_box():
    # shapenet128 keeps EG3D's units (box 1.6, density_scale 1): EG3D draws x over [-1, 1]^3 and eps with std
    # 0.004 there, not over the box's double and 0.004 x 1.6
    n, perturb = 100_000, 0.004
    field = _LinearField([0.0, 1.0, 0.0], box_warp=1.6, dtype=torch.float64, density_scale=1.0)
    density_regularization(field, n, perturb, generator=torch.Generator().manual_seed(0))
    (points,) = field.points
    x, eps = points[:, :n], points[:, n:] - points[:, :n]
    assert x.min() < -0.999 and x.max() > 0.999 and x.abs().max() <= 1.0
    inside = (x.abs() <= 0.8).all(-1).double().mean().item()
    assert inside == pytest.approx(0.8 ** 3, abs=5e-3)  # about half the points fall in ShapeNet's box
    assert eps.std().item() == pytest.approx(perturb, rel=5e-3)


def test_schedules_at_their_edges():
    from zoo3d_triplane.regularizers import linear_fade

    assert linear_fade(0, 0) == 1.0 and linear_fade(5, 0) == 1.0 and linear_fade(-3, 0) == 1.0
    assert linear_fade(0, 1) == 0.0 and linear_fade(1, 1) == 1.0 and linear_fade(-1, 4) == 0.0
    assert linear_fade(9, 4) == 1.0 and linear_fade(1, 4) == 0.25
    assert blur_sigma(0, 10.0, 0) == 0.0 and blur_sigma(7, 10.0, 0) == 0.0  # no fade: no blur at all
    assert blur_sigma(0, 10.0, 1) == 10.0 and blur_sigma(1, 10.0, 1) == 0.0
    assert swap_probability(0, 0.2, 0) == 0.2 and swap_probability(1, 0.2, 2) == pytest.approx(0.6)


def test_pose_conditioning_swaps_each_row_independently_with_the_given_generator():
    c = torch.arange(64.0)[:, None].expand(64, 25)
    rolled = torch.roll(c, 1, 0)
    out = conditioning_labels(c, 0.5, torch.Generator().manual_seed(3))
    swapped = (out == rolled).all(1)
    assert torch.equal(swapped | (out == c).all(1), torch.ones(64, dtype=torch.bool))  # each row: itself or its neighbour
    assert 16 < int(swapped.sum()) < 48
    assert torch.equal(conditioning_labels(c, 0.5, torch.Generator().manual_seed(3)), out)
    draws = torch.rand(64, 1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(swapped, (draws < 0.5)[:, 0])
