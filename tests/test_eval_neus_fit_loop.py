"""The NeuS fit loop (``zoo3d.eval.neus.fit``) against NeuS's training step written out step by step.

NeuS (Wang et al. 2021, ``exp_runner.py``): per step, set the learning rate from the warm-up + cosine
schedule, draw a batch of rays, render them with the annealed slope, and minimise the L1 colour error
plus ``igr_weight`` x the eikonal term averaged over the samples inside the relaxed sphere (radius 1.2).
The fit here pools the rays of every view and draws them from its own seeded generator; the replica
below follows that contract and must land on the same networks, the same loss and the same re-renders.
"""

import math
import time

import pytest
import torch

from zoo3d.cameras import yaw_sweep
from zoo3d.devices import flushing_denormals
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.metric import render_instance
from zoo3d.eval.neus.fields import ColorNetwork, DirectionalBackground, SDFNetwork, Variance
from zoo3d.eval.neus.fit import fit_neus, learning_rate_factor, normalised_rays
from zoo3d.eval.neus.render import render_rays
from zoo3d.eval.protocol import NeusSettings

pytestmark = pytest.mark.usefixtures("single_thread")

#: small enough for a second per fit; warm-up of 1 step and an anneal over 2 so both schedules act
SETTINGS = NeusSettings(iterations=4, batch_rays=32, n_coarse=6, n_importance=4, upsample_steps=2, sdf_layers=2,
                        sdf_hidden=16, sdf_multires=2, color_layers=1, color_hidden=16, view_multires=1,
                        feature_dim=8, lr=1e-2, lr_alpha=0.3, warmup_fraction=0.25, anneal_fraction=0.5,
                        eikonal_weight=0.7, init_variance=0.25, scene_radius=0.3, eval_chunk=64)


def _scene(views: int = 3, size: int = 8):
    cams = yaw_sweep(views, 0.3, radius=2.0)
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(3))
    return render_instance(TexturedSphereGenerator(frequency=0.5), z, cams, size)["rgb"], cams


def _replica(images, cams, s: NeusSettings, seed: int):
    """NeuS's training step, written from the paper's definitions and the fit's documented contract."""
    v, _, h, w = images.shape
    scale = s.scene_radius * float(cams.origins.norm(dim=-1).mean())
    o, d = cams.rays(h, w)
    origins, dirs = (o / scale).reshape(-1, 3), d.reshape(-1, 3)
    target = ((images + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).reshape(-1, 3)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        sdf = SDFNetwork(s.sdf_layers, s.sdf_hidden, s.feature_dim, s.sdf_multires)
        color = ColorNetwork(s.feature_dim, s.color_layers, s.color_hidden, s.view_multires)
        var = Variance(s.init_variance)
        bg = DirectionalBackground()
    params = [p for m in (sdf, color, var, bg) for p in m.parameters()]
    optim = torch.optim.Adam(params, lr=s.lr)
    warmup, anneal = int(s.warmup_fraction * s.iterations), int(s.anneal_fraction * s.iterations)
    draws = torch.Generator().manual_seed(seed)
    kw = dict(n_coarse=s.n_coarse, n_importance=s.n_importance, upsample_steps=s.upsample_steps)
    lrs, losses = [], []
    with torch.random.fork_rng():
        torch.manual_seed(seed + 1)
        for step in range(s.iterations):
            if step < warmup:
                lr = s.lr * step / warmup
            else:
                progress = (step - warmup) / (s.iterations - warmup)
                lr = s.lr * ((1 - s.lr_alpha) * 0.5 * (1 + math.cos(math.pi * progress)) + s.lr_alpha)
            for g in optim.param_groups:
                g["lr"] = lr
            lrs.append(lr)
            idx = torch.randint(0, origins.shape[0], (s.batch_rays,), generator=draws)
            ratio = min(1.0, step / anneal) if anneal else 1.0  # exp_runner: 1.0 throughout when anneal_end is 0
            out = render_rays(sdf, color, var, bg, origins[idx], dirs[idx], cos_anneal_ratio=ratio,
                              perturb=True, create_graph=True, **kw)
            l1 = (out.color - target[idx]).abs().mean()
            inside = out.inside.float()
            eikonal = (((out.gradients.norm(dim=-1) - 1) ** 2) * inside).sum() / (inside.sum() + 1e-5)
            optim.zero_grad()
            (l1 + s.eikonal_weight * eikonal).backward()
            optim.step()
            losses.append(float(l1.detach()))
    colours = render_rays(sdf, color, var, bg, origins, dirs, cos_anneal_ratio=1.0, perturb=False,
                          create_graph=False, **kw).color.detach()
    renders = colours.reshape(v, h, w, 3).permute(0, 3, 1, 2) * 2 - 1
    return renders, losses, lrs, float(var.inv_s().detach())


def test_fit_is_neus_training_step_by_step():
    images, cams = _scene()
    fit = fit_neus(images, cams, SETTINGS, seed=5)
    renders, losses, lrs, inv_s = _replica(images, cams, SETTINGS, seed=5)
    assert lrs[0] == 0.0 and lrs[1] == SETTINGS.lr  # the schedule was live: warm-up, then decay
    assert fit.iterations == SETTINGS.iterations
    assert fit.final_loss == pytest.approx(losses[-1], rel=1e-5)
    assert fit.inv_s == pytest.approx(inv_s, rel=1e-5)
    assert fit.inv_s != pytest.approx(math.exp(10 * SETTINGS.init_variance), rel=1e-4)  # s was trained
    assert torch.allclose(fit.renders, renders, atol=1e-5), float((fit.renders - renders).abs().max())
    assert fit.seconds > 0


@pytest.mark.parametrize("field,value", [("eikonal_weight", 0.0), ("anneal_fraction", 1.0), ("anneal_fraction", 0.25),
                                         ("anneal_fraction", 0.0),
                                         ("warmup_fraction", 0.0), ("lr_alpha", 1.0), ("scene_radius", 0.45)])
def test_each_setting_changes_the_fit_as_neus_does(field, value):
    """Every setting reaches the fit: the replica with the changed setting still matches, and the result moved."""
    images, cams = _scene()
    changed = SETTINGS.model_copy(update={field: value})
    fit = fit_neus(images, cams, changed, seed=5)
    renders, losses, _, _ = _replica(images, cams, changed, seed=5)
    assert torch.allclose(fit.renders, renders, atol=1e-5)
    assert fit.final_loss == pytest.approx(losses[-1], rel=1e-5)
    baseline = fit_neus(images, cams, SETTINGS, seed=5)
    assert not torch.allclose(fit.renders, baseline.renders, atol=1e-5)


def test_fit_reports_its_own_time():
    images, cams = _scene()
    for rerender in (True, False):
        start = time.perf_counter()
        fit = fit_neus(images, cams, SETTINGS, seed=1, rerender=rerender)
        assert 0 < fit.seconds <= time.perf_counter() - start


def test_the_default_seed_is_zero():
    images, cams = _scene()
    assert torch.equal(fit_neus(images, cams, SETTINGS).renders, fit_neus(images, cams, SETTINGS, seed=0).renders)


def test_targets_are_clamped_to_the_image_range_and_cameras_cast_to_float32():
    """Views outside [-1, 1] are fitted as their clamped values; float64 cameras give the float32 fit."""
    images, cams = _scene()
    loud = images * 1.5
    clamped = fit_neus(loud.clamp(-1, 1), cams, SETTINGS, seed=1)
    fit = fit_neus(loud, cams, SETTINGS, seed=1)
    # the reported L1 is against the clamped target (the renders alone cannot tell: a sigmoid colour
    # below 1 and above 0 gets the same L1 gradient from 1.25 as from 1)
    assert torch.equal(fit.renders, clamped.renders) and fit.final_loss == clamped.final_loss
    assert float(loud.max()) > 1 and float(loud.min()) < -1
    double = fit_neus(loud.clamp(-1, 1), cams.to(dtype=torch.float64), SETTINGS, seed=1)
    assert double.renders.dtype == torch.float32
    assert torch.allclose(double.renders, clamped.renders, atol=1e-5)


def test_fit_is_seeded_and_the_seed_matters():
    images, cams = _scene()
    a, b = fit_neus(images, cams, SETTINGS, seed=2), fit_neus(images, cams, SETTINGS, seed=2)
    c = fit_neus(images, cams, SETTINGS, seed=3)
    assert torch.equal(a.renders, b.renders) and a.final_loss == b.final_loss
    assert not torch.allclose(a.renders, c.renders, atol=1e-4)


def test_fit_leaves_the_process_random_state_alone():
    images, cams = _scene()
    torch.manual_seed(123)
    before = torch.rand(4)
    torch.manual_seed(123)
    fit_neus(images, cams, SETTINGS, seed=9)
    assert torch.equal(torch.rand(4), before)


def test_callback_sees_every_step_and_renders_what_the_fit_rerenders():
    images, cams = _scene()
    seen, last = [], {}
    idx = torch.tensor([0, 5, 64, 100, 191])  # pixels (v * H + y) * W + x across all three 8x8 views

    def watch(step, render_pixels):
        seen.append(step)
        if step == SETTINGS.iterations:
            last["pixels"] = render_pixels(idx)

    fit = fit_neus(images, cams, SETTINGS, seed=5, callback=watch)
    assert seen == list(range(1, SETTINGS.iterations + 1))
    flat = ((fit.renders + 1) / 2).permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.allclose(last["pixels"], flat[idx], atol=1e-6)
    plain = fit_neus(images, cams, SETTINGS, seed=5)  # watching does not change the fit
    assert torch.equal(plain.renders, fit.renders)


def test_fit_runs_with_subnormals_flushed_and_restores_the_mode():
    """Subnormals from Softplus(beta 100) and sigmoids slow a CPU fit (benchmarks/RESULTS.md); they are flushed
    while it runs, the process's mode is restored after, and the replica, run without flushing, still matches."""
    images, cams = _scene()
    modes = []
    fit = fit_neus(images, cams, SETTINGS, seed=5, callback=lambda step, render: modes.append(flushing_denormals()))
    assert modes == [True] * SETTINGS.iterations and not flushing_denormals()
    renders = _replica(images, cams, SETTINGS, seed=5)[0]
    assert torch.allclose(fit.renders, renders, atol=1e-5)


def test_rerender_false_trains_the_same_and_returns_no_renders():
    images, cams = _scene()
    full = fit_neus(images, cams, SETTINGS, seed=5)
    timing = fit_neus(images, cams, SETTINGS, seed=5, rerender=False)
    assert timing.renders is None
    assert (timing.final_loss, timing.inv_s, timing.iterations) == (full.final_loss, full.inv_s, full.iterations)


def test_rerender_is_the_same_in_any_chunk_size():
    images, cams = _scene()
    whole = fit_neus(images, cams, SETTINGS.model_copy(update={"eval_chunk": 4096}), seed=5)
    assert torch.allclose(fit_neus(images, cams, SETTINGS, seed=5).renders, whole.renders, atol=1e-6)


def test_normalised_rays_put_a_camera_at_distance_over_scale_looking_at_the_centre():
    cams = yaw_sweep(2, 0.3, radius=2.5)
    origins, dirs = normalised_rays(cams, 5, scale=0.5)
    assert origins.shape == dirs.shape == (2 * 25, 3)
    assert torch.allclose(origins.norm(dim=-1), torch.full((50,), 5.0), atol=1e-5)  # 2.5 / 0.5
    centre = dirs.reshape(2, 5, 5, 3)[:, 2, 2]  # the middle pixel looks at the origin
    to_origin = -origins.reshape(2, 25, 3)[:, 0]
    assert torch.allclose(centre, to_origin / to_origin.norm(dim=-1, keepdim=True), atol=1e-5)
    o, d = cams.rays(5, 5)
    assert torch.allclose(dirs, d.reshape(-1, 3)) and torch.allclose(origins, (o / 0.5).reshape(-1, 3))


def test_learning_rate_factor_is_linear_then_cosine():
    assert learning_rate_factor(5, 100, 10, 0.1) == pytest.approx(0.5)
    assert learning_rate_factor(55, 100, 10, 0.1) == pytest.approx(0.55)  # half way: (1 + 0.1) / 2
    assert learning_rate_factor(32, 100, 10, 0.1) == pytest.approx(
        0.9 * 0.5 * (1 + math.cos(math.pi * 22 / 90)) + 0.1)
    assert learning_rate_factor(3, 10, 0, 0.2) == pytest.approx(0.8 * 0.5 * (1 + math.cos(math.pi * 0.3)) + 0.2)
    assert learning_rate_factor(2, 2, 1, 0.05) == pytest.approx(0.05)  # one decay step: it ends at alpha
    assert learning_rate_factor(0, 1, 1, 0.05) == 0.0
