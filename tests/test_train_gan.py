"""The shared adversarial steps against closed forms: patch terms, lazy R1, top-k, smooth-L1 poses, the
model's own terms, the phase order and the lazy-regularisation optimiser (linear discriminators, see gan_stubs)."""

from __future__ import annotations

import math

import pytest
import torch
from gan_stubs import ConstantGenerator, LinearD, context, fakes, real_batch, sampled_pose, softplus

from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.train.gan import AdversarialLoss, GANParts, Sample, gan_phases, lazy_optimizer

R = 4


class PatchLinearD(LinearD):
    """LinearD plus patch logits: the 2 x 2 average of <u, x> over channels; d mean(patch) / dx = u / R^2."""

    def __init__(self, resolution: int):
        super().__init__(resolution)
        self.u = torch.nn.Parameter(torch.randn(3, resolution, resolution, generator=torch.Generator().manual_seed(4)))

    def patches(self, x):
        return torch.nn.functional.avg_pool2d((x * self.u).sum(1, keepdim=True), 2)

    def forward(self, x, cameras=None):
        return DiscriminatorOutput(logit=self.logit(x), pose=self.pose(x), patch=self.patches(x))


def _fakes(ctx, n):
    z = ctx.sample_z(n)
    cameras = ctx.sample_cameras(n)
    return Sample(ctx.generator(z, cameras, resolution=(R, R)).rgb, cameras)


def _phases(loss, terms=None, generator_first=False):
    return {p.name: p for p in gan_phases(loss, GANParts(fakes=_fakes, generator_terms=terms), generator_first)}


def _setup(disc, n=3):
    gen = ConstantGenerator(0.8)
    real = real_batch(n, R)
    return gen, real, context({"generator": gen, "discriminator": disc}, real, batch_size=n)


def test_a_detached_sample_detaches_its_images_and_inputs():
    s = Sample(torch.ones(1, 3, 2, 2, requires_grad=True), inputs={"raw": torch.ones(1, 3, requires_grad=True)})
    d = s.detached()
    assert not d.images.requires_grad and not d.inputs["raw"].requires_grad
    assert s.images.requires_grad and s.inputs["raw"].requires_grad
    assert d.r1_inputs() == [] and len(s.r1_inputs()) == 2


def test_smooth_l1_pose_loss_is_half_the_squared_error_below_one():
    """StyleSDF's pose loss: smooth L1 (beta 1), 0.5 d^2 for the small pose errors here, in both steps."""
    disc = LinearD(R)
    gen, real, ctx = _setup(disc)
    phases = _phases(AdversarialLoss(lambda_pos=2.0, pose_loss="smooth_l1"))
    d = phases["discriminator"].loss(ctx)
    with torch.no_grad():
        err = disc.pose(fakes(gen, 3, R)) - sampled_pose(3)
    assert err.abs().max() < 1
    assert d.logs["d_pose"] == pytest.approx((0.5 * err ** 2).mean().item(), rel=1e-5)
    g = phases["generator"].loss(_setup(disc)[2])  # a fresh step: the same draws
    assert g.logs["g_pose"] == pytest.approx((0.5 * err ** 2).mean().item(), rel=1e-5)


def test_patch_terms_need_both_a_weight_and_patch_logits():
    # weight 0 with patch logits: no patch term, R1 on the logit alone
    disc = PatchLinearD(R)
    gen, real, ctx = _setup(disc)
    phases = _phases(AdversarialLoss(r1_gamma=2.0))
    d, g = phases["discriminator"].loss(ctx), phases["generator"].loss(ctx)
    assert "d_patch" not in d.logs and "g_patch" not in g.logs
    assert d.logs["r1"] == pytest.approx((disc.w.detach() ** 2).sum().item(), rel=1e-5)
    # a weight without patch logits: likewise
    plain = LinearD(R)
    gen, real, ctx = _setup(plain)
    phases = _phases(AdversarialLoss(r1_gamma=2.0, patch_lambda=0.5))
    d, g = phases["discriminator"].loss(ctx), phases["generator"].loss(ctx)
    assert "d_patch" not in d.logs and "g_patch" not in g.logs
    assert d.logs["r1"] == pytest.approx((plain.w.detach() ** 2).sum().item(), rel=1e-5)


def test_r1_with_patch_logits_is_on_the_logit_plus_the_weighted_mean_patch_logit_per_image():
    disc = PatchLinearD(R)
    gen, real, ctx = _setup(disc, n=3)
    d = _phases(AdversarialLoss(r1_gamma=2.0, patch_lambda=0.5))["discriminator"].loss(ctx)
    with torch.no_grad():
        expected_r1 = (disc.w + 0.5 * disc.u / R ** 2).pow(2).sum()  # gamma / 2 = 1
        x_fake = fakes(gen, 3, R)
        patch = softplus(disc.patches(x_fake)).mean() + softplus(-disc.patches(real.images)).mean()
    assert d.logs["r1"] == pytest.approx(expected_r1.item(), rel=1e-5)
    assert d.logs["d_patch"] == pytest.approx(patch.item(), rel=1e-5)


def test_lazy_r1_is_its_own_phase_every_n_steps_times_n_and_logged_per_step():
    disc = LinearD(R)
    gen, real, ctx = _setup(disc)
    loss = AdversarialLoss(r1_gamma=2.0, r1_every=4)
    phases = gan_phases(loss, GANParts(fakes=_fakes))
    assert [(p.name, p.optimizer, p.every) for p in phases] == [
        ("discriminator", "discriminator", 1), ("r1", "discriminator", 4), ("generator", "generator", 1)]
    assert "r1" not in phases[0].loss(ctx).logs
    out = phases[1].loss(ctx)
    r1 = (disc.w.detach() ** 2).sum()
    torch.testing.assert_close(out.loss.detach(), 4 * r1, atol=1e-5, rtol=1e-5)
    assert out.logs == {"r1": pytest.approx(r1.item(), rel=1e-5)}
    g_first = gan_phases(loss, GANParts(fakes=_fakes), generator_first=True)
    assert [p.name for p in g_first] == ["generator", "discriminator", "r1"]


@pytest.mark.parametrize("step, fraction", [(0, 1.0), (500, 0.99 ** 50), (10_000, 0.5)])
def test_topk_generator_loss_keeps_the_most_realistic_fakes(step, fraction):
    """pi-GAN: max(0.99^(step / 10), 0.5) of the 4 fakes, ceil'd, with the highest logits."""
    disc = LinearD(R, pose=False)
    gen, real, ctx = _setup(disc, n=4)
    ctx.step = step
    out = _phases(AdversarialLoss(topk_interval=10, topk_min=0.5))["generator"].loss(ctx)
    with torch.no_grad():
        logits = disc.logit(fakes(gen, 4, R)).reshape(-1)
        k = math.ceil(fraction * 4)
        expected = softplus(-logits.sort(descending=True).values[:k]).mean()
    assert out.logs["topk"] == pytest.approx(fraction)
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-6, rtol=0)


def test_the_models_own_generator_terms_see_the_step_and_the_fakes():
    disc = LinearD(R, pose=False)
    gen, real, ctx = _setup(disc)
    ctx.step = 7

    def terms(c, fakes_):
        return c.step * fakes_.images.mean(), {"own": float(c.step)}

    out = _phases(AdversarialLoss(), terms)["generator"].loss(ctx)
    with torch.no_grad():
        x = fakes(gen, 3, R)
        expected = softplus(-disc.logit(x)).mean() + 7 * x.mean()
    torch.testing.assert_close(out.loss.detach(), expected, atol=1e-6, rtol=0)
    assert out.logs["own"] == 7.0


def test_lazy_optimizer_applies_stylegan2s_correction_and_passes_the_rest_on():
    c = 16 / 17
    spec = lazy_optimizer(["discriminator"], 0.002, (0.5, 0.99), 16, grad_clip=1.5, eps=1e-6)
    assert spec.modules == ["discriminator"] and spec.lr == pytest.approx(0.002 * c)
    assert spec.betas == pytest.approx((0.5 ** c, 0.99 ** c)) and spec.eps == 1e-6 and spec.grad_clip == 1.5
    plain = lazy_optimizer(["generator"], 0.002, (0.5, 0.99), None)
    assert (plain.lr, plain.betas, plain.eps, plain.grad_clip) == (0.002, (0.5, 0.99), 1e-8, None)


class YawD(torch.nn.Module):
    """A camera-conditioned stand-in: the logit is the yaw of the camera it is given, whatever the image."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x, cameras=None):
        return DiscriminatorOutput(logit=self.w * cameras.to_angles()["yaw"][:, None])


def test_the_default_scoring_shows_the_discriminator_each_images_camera():
    """Discriminator's call is (images, cameras): reals are scored with their dataset poses, fakes with the
    cameras they were rendered from."""
    gen, real, ctx = _setup(YawD())
    logs = _phases(AdversarialLoss())["discriminator"].loss(ctx).logs
    assert logs["d_real"] == pytest.approx(real.cameras.to_angles()["yaw"].mean().item(), abs=1e-5)
    assert logs["d_fake"] == pytest.approx(sampled_pose(3)[:, 0].mean().item(), abs=1e-5)


class PooledD(torch.nn.Module):
    """logit = sum_c w_c mean_pixels(sum_k a_ck x_k): at every pixel its input gradient is g_k = (1/N) sum_c
    w_c a_ck, here (1, -1/4, -1/4) 2^-26 at 64 x 64, below half fp16's least subnormal (2^-24). R1 (gamma) is
    gamma N / 2 |g|^2, dR1/dw_c = gamma sum_k g_k a_ck and dR1/da_ck = gamma g_k w_c. ``autocast`` records, call
    by call, whether autocast was on."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor([[1.0, -2.0, 1.0], [3.0, 1.0, -2.0]]) / 4)
        self.w = torch.nn.Parameter(torch.tensor([1.0, 1.0]) / 2 ** 14)
        self.autocast: list[bool] = []

    def input_gradient(self, pixels: int) -> torch.Tensor:
        return (self.w @ self.a).detach() / pixels

    def forward(self, x, cameras=None):
        self.autocast.append(torch.is_autocast_enabled("cpu"))
        h = torch.nn.functional.conv2d(x, self.a[:, :, None, None])
        pooled = torch.nn.functional.adaptive_avg_pool2d(h, 1).flatten(1)
        return DiscriminatorOutput(logit=torch.nn.functional.linear(pooled, self.w[None]))


def _amp_context(disc, amp_dtype, res=64, n=2):
    """A step under the CPU's autocast in ``amp_dtype`` (a stand-in for CUDA's), as the engine runs a phase."""
    ctx = context({"generator": ConstantGenerator(0.8), "discriminator": disc}, real_batch(n, res), batch_size=n)
    ctx.amp_dtype = amp_dtype
    ctx.autocast = lambda: torch.autocast("cpu", dtype=amp_dtype, enabled=amp_dtype is not None)
    return ctx


def _zero_fakes(ctx, n):
    return Sample(torch.zeros(n, 3, 64, 64))


def test_r1_under_fp16_autocast_is_taken_in_fp32_and_keeps_its_value_and_gradient():
    """fp16 autocast would round this discriminator's input gradient to 0 (the engine's old behaviour, shown
    by the same pass left under autocast). The real pass R1 differentiates runs in fp32 instead, so R1 and its
    weight gradient, taken through a loss scale of 65536 as the GradScaler does, are the closed forms."""
    gamma, pixels = 3.0, 64 * 64
    disc = PooledD()
    g = disc.input_gradient(pixels)
    assert g.abs().max() < 2.0 ** -25
    r1 = 0.5 * gamma * pixels * g.pow(2).sum().item()
    parts = GANParts(fakes=_zero_fakes)
    inline = {p.name: p for p in gan_phases(AdversarialLoss(r1_gamma=gamma), parts)}["discriminator"]
    lazy = {p.name: p for p in gan_phases(AdversarialLoss(r1_gamma=gamma, r1_every=1), parts)}["r1"]
    ctx = _amp_context(disc, torch.float16)
    with ctx.autocast():
        assert inline.loss(ctx).logs["r1"] == pytest.approx(r1, rel=1e-6, abs=0)
        assert disc.autocast == [False, True]  # the reals in fp32, the fakes under autocast
        penalty = lazy.loss(ctx).loss
    scale = 65536.0
    grad_a, grad_w = (q / scale for q in torch.autograd.grad(penalty * scale, [disc.a, disc.w]))
    assert penalty.item() == pytest.approx(r1, rel=1e-6, abs=0)
    assert torch.allclose(grad_w, gamma * disc.a.detach() @ g, rtol=1e-6, atol=0)
    assert torch.allclose(grad_a, gamma * disc.w.detach()[:, None] * g[None, :], rtol=1e-6, atol=0)
    x = real_batch(2, 64).images.requires_grad_(True)
    with ctx.autocast():
        logits = disc(x).logit
    assert logits.dtype == torch.float16
    assert torch.autograd.grad(logits.float().sum(), x)[0].abs().max() == 0  # what fp16 leaves of g


def test_only_an_fp16_pass_that_r1_differentiates_leaves_autocast():
    """bf16 keeps fp32's range: its passes stay as they were; fp16 without R1 keeps its autocast too."""
    for amp_dtype, gamma, expected in [(torch.bfloat16, 1.0, [True, True]), (torch.float16, 0.0, [True, True]),
                                       (torch.float16, 1.0, [False, True]), (None, 1.0, [False, False])]:
        disc = PooledD()
        step = {p.name: p for p in gan_phases(AdversarialLoss(r1_gamma=gamma), GANParts(fakes=_zero_fakes))}
        ctx = _amp_context(disc, amp_dtype)
        with ctx.autocast():
            step["discriminator"].loss(ctx)
        assert disc.autocast == expected, (amp_dtype, gamma)
