"""GRAMInverter's detail stage intersects each camera's rays once for its coarse and its detailed render.

Efficient GRAM's manifolds are one scalar field shared by every instance, so the hits depend on the cameras
only. Rendering from :meth:`EfficientGramGenerator.intersect`'s hits must give what intersecting again gives,
and the detail stage's loss must equal the straightforward one written out below, which renders the coarse
and the detailed scene at the input and the novel cameras each from its own intersection (four of them).
"""

from __future__ import annotations

from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import zoo3d.render.manifold as manifold_renderer
from zoo3d.cameras import Camera
from zoo3d.core.model import RealBatch, Stage, StepContext
from zoo3d_gram import ManifoldConfig, RenderConfig
from zoo3d_gram_inverter import losses
from zoo3d_gram_inverter.config import EfficientGramConfig, GramInverterLossConfig
from zoo3d_gram_inverter.efficient_gram import EfficientGramGenerator, FeatureManifolds

pytestmark = pytest.mark.usefixtures("single_thread")

RES = 12


def micro() -> EfficientGramGenerator:
    """A frozen generator of a second's cost: 5 levels, 8 px textures, narrow nets."""
    cfg = EfficientGramConfig(resolution=RES, texture_resolution=8, z_dim=6, w_dim=6, mapping_layers=2, feature_dim=4,
                              channel_base=32, channel_max=8, decoder_hidden=8, truncation_samples=300,
                              manifold=ManifoldConfig(hidden=16, num_levels=5), render=RenderConfig(num_samples=10))
    torch.manual_seed(0)
    return EfficientGramGenerator(cfg).eval().requires_grad_(False)


class Encoder(nn.Module):
    """W+ from the images' mean (no pose head: the real cameras are given)."""

    def forward(self, images, mean_w):
        g = torch.Generator().manual_seed(3)
        spread = torch.randn(images.shape[0], mean_w.shape[-1], generator=g)
        return mean_w + spread * (1 + images.mean(dim=(1, 2, 3)))[:, None], None


class Detail(nn.Module):
    """Feature offsets proportional to k, varying over texels and with the image."""

    def __init__(self, generator: EfficientGramGenerator):
        super().__init__()
        self.k = nn.Parameter(torch.tensor(0.8))
        N, C, R = generator.num_manifolds, generator.feature_dim, generator.texture_resolution
        g = torch.Generator().manual_seed(4)
        self.fg, self.bg = torch.randn(N, C, R, R, generator=g), torch.randn(C, R, R, generator=g)

    def forward(self, images, cams, fg_points):
        s = self.k * (1 + images.mean(dim=(1, 2, 3)))
        return FeatureManifolds(s[:, None, None, None, None] * self.fg, s[:, None, None, None] * self.bg)


def setup(amp_dtype=None):
    gen = micro()
    modules = {"generator": gen, "encoder": Encoder(), "detail": Detail(gen)}
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, RES, RES, generator=g) * 2 - 1
    cams = Camera.from_angles(torch.tensor([0.2, -0.25]), torch.tensor([0.05, -0.1]), 1.0, 12.0)
    stage = Stage(name="gram_inverter.detail", steps=1, phases=[], optimizers={}, batch_size=2)
    autocast = (lambda: torch.autocast("cpu", dtype=amp_dtype)) if amp_dtype is not None else nullcontext
    ctx = StepContext(modules=modules, config=None, stage=stage, step=0, stage_step=0, device=torch.device("cpu"),
                      real=RealBatch(images=images, cameras=cams), rng=torch.Generator().manual_seed(5),
                      autocast=autocast, amp_dtype=amp_dtype)
    config = SimpleNamespace(generator=SimpleNamespace(resolution=RES, render=gen.config.render),
                             detail=SimpleNamespace(lr_resolution=5))
    return ctx, config


def detail_loss_four_intersections(ctx, config, lw):
    """The detail loss (the module doc's formula) with each render intersecting its own rays."""
    gen, enc, det = ctx.generator, ctx.module("encoder"), ctx.module("detail")
    res = config.generator.resolution
    images, cams = ctx.real.images, ctx.real.cameras
    with torch.no_grad():
        ws, _ = enc(images, gen.mean_latent())
        coarse = gen.represent_ws(ws).detach()
        fg_points, _ = gen.gridded(config.detail.lr_resolution)
    with ctx.autocast():
        full = coarse + det(images, cams, fg_points)
        out = gen.render(full, cams, res)
    loss = lw.rec_l1 * (out.rgb.float() - images).abs().flatten(1).mean(1).mean()  # per image, then the batch
    novel_cams = ctx.sample_cameras(images.shape[0])
    with torch.no_grad():
        coarse_in = gen.render(coarse, cams, res)
        coarse_novel = gen.render(coarse, novel_cams, res, normals=True)
    with ctx.autocast():
        full_novel = gen.render(full, novel_cams, res)
    mask = 1 - losses.visibility(coarse_novel, novel_cams, cams, coarse_in.depth.float())
    loss = loss + lw.novel_view * (mask * (full_novel.rgb.float() - coarse_novel.rgb.float()).abs()).mean()
    scale = config.generator.render.far - config.generator.render.near
    spread = 0.5 * (losses.surface_spread(out, cams, coarse_in.depth, scale).mean()
                    + losses.surface_spread(full_novel, novel_cams, coarse_novel.depth, scale).mean())
    return loss + lw.depth * spread


@pytest.mark.parametrize("grad", [False, True])
def test_rendering_from_the_shared_hits_is_rendering_alone(grad):
    """The same image, depth, weights and normals for a coarse and a detailed scene, with and without a graph."""
    gen = micro()
    cams = Camera.from_angles(torch.tensor([0.3, -0.1]), torch.tensor([0.0, 0.12]), 1.0, 12.0)
    coarse = gen.represent(torch.randn(2, 6, generator=torch.Generator().manual_seed(2)))
    detail = FeatureManifolds(torch.full_like(coarse.foreground, 0.3), torch.full_like(coarse.background, -0.2))
    with torch.set_grad_enabled(grad):
        hits = gen.intersect(cams, RES)
        for rep in (coarse, coarse + detail):
            for normals in (False, True):
                alone = gen.render(rep, cams, RES, normals=normals)
                shared = gen.render(rep, cams, RES, normals=normals, intersections=hits)
                for key in ("rgb", "depth", "weights", "points", "normals"):
                    a, b = getattr(alone, key), getattr(shared, key)
                    assert (a is None and b is None) or torch.equal(a, b), key
    assert hits[1].any() and not hits[1].all()  # some rays cross a level, some miss one


@pytest.mark.parametrize("amp_dtype", [None, torch.bfloat16], ids=["fp32", "bf16-autocast"])
def test_the_detail_loss_and_its_gradient_are_the_four_intersection_ones(amp_dtype):
    """Equal in full precision; under mixed precision too, where the coarse renders keep their own hits."""
    lw = GramInverterLossConfig(rec_l1=1.0, rec_perceptual=0.0, novel_view=2.0, depth=3.0)
    ctx, config = setup(amp_dtype)
    got = losses.detail_step_loss(ctx, config, lw)
    (g_got,) = torch.autograd.grad(got.loss, ctx.module("detail").k)
    ref_ctx, _ = setup(amp_dtype)
    want = detail_loss_four_intersections(ref_ctx, config, lw)
    (g_want,) = torch.autograd.grad(want, ref_ctx.module("detail").k)
    assert torch.equal(got.loss, want) and torch.equal(g_got, g_want)
    assert 0 < got.logs["novel_mask"] < 1 and got.logs["depth_spread"] > 0 and g_want.abs() > 0


def test_the_detail_step_intersects_each_camera_set_once(monkeypatch):
    """Two intersections (input and novel cameras) instead of one per render."""
    calls = []
    original = manifold_renderer.intersect_manifolds

    def counted(rep, origins, *args, **kwargs):
        calls.append(origins.shape)
        return original(rep, origins, *args, **kwargs)

    monkeypatch.setattr(manifold_renderer, "intersect_manifolds", counted)
    ctx, config = setup()
    losses.detail_step_loss(ctx, config, GramInverterLossConfig(rec_perceptual=0.0, novel_view=1.0, depth=1.0))
    assert calls == [torch.Size([2, RES * RES, 3])] * 2
