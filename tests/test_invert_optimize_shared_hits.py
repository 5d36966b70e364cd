"""Latent optimisation through Efficient GRAM and GRAM intersects the input camera's rays once, not once a step.

The generator is frozen while the latent is fitted and its manifolds do not depend on the latent, so every
step renders the same hits. The inverter must reach the latent and the losses of the straightforward loop
written out below (Adam on the latent, each step rendering on its own), bit for bit, with one intersection.
"""

from __future__ import annotations

import pytest
import torch

import zoo3d.render.manifold as manifold_renderer
from zoo3d.cameras import Camera
from zoo3d.invert.latent import LatentSpace
from zoo3d.invert.losses import pixel_loss
from zoo3d.invert.optimize import OptimizationInverter, OptimizeSettings
from zoo3d_gram import GramGenerator, ManifoldConfig, RenderConfig
from zoo3d_gram.config import GeneratorConfig
from zoo3d_gram_inverter.config import EfficientGramConfig
from zoo3d_gram_inverter.efficient_gram import EfficientGramGenerator

pytestmark = pytest.mark.usefixtures("single_thread")

RES, STEPS = 12, 4


def micro(chunk: int = 65536) -> EfficientGramGenerator:
    cfg = EfficientGramConfig(resolution=RES, texture_resolution=8, z_dim=6, w_dim=6, mapping_layers=2, feature_dim=4,
                              channel_base=32, channel_max=8, decoder_hidden=8, truncation_samples=300,
                              manifold=ManifoldConfig(hidden=16, num_levels=5),
                              render=RenderConfig(num_samples=10, chunk=chunk))
    torch.manual_seed(0)
    return EfficientGramGenerator(cfg).eval()


def micro_gram(chunk: int = 65536) -> GramGenerator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=RES)
    cfg.manifold.hidden, cfg.manifold.num_levels = 16, 6
    cfg.radiance.z_dim, cfg.radiance.mapping_hidden, cfg.radiance.hidden = 6, 16, 16
    cfg.radiance.truncation_samples = 64
    cfg.render.num_samples, cfg.render.chunk = 12, chunk
    return GramGenerator(cfg).eval()


BUILD = {"efficient_gram": (micro, "w+"), "gram": (micro_gram, "z")}


def target_and_camera(gen):
    cams = Camera.from_angles(torch.tensor([0.25]), torch.tensor([0.08]), 1.0, 12.0)
    with torch.no_grad():
        image = gen.render(gen.represent(torch.randn(1, 6, generator=torch.Generator().manual_seed(9))), cams, RES).rgb
    return image, cams


def straightforward(gen, space, image, cams, steps):
    """Adam on the latent (W+ from the mean w, or z from 0), each step rendering (and intersecting) on its own."""
    gen.requires_grad_(False)
    latent = LatentSpace(gen, space, 1, 1.0)
    opt = torch.optim.Adam([latent.param], lr=0.01, betas=(0.9, 0.999))
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = pixel_loss(gen.render(latent.represent(gen), cams, (RES, RES)).rgb, image, "l1").sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    gen.requires_grad_(True)
    return latent.codes(gen).detach(), losses


@pytest.mark.parametrize("model", sorted(BUILD))
@pytest.mark.parametrize("chunk", [65536, 40], ids=["one-chunk", "several-chunks"])
def test_the_fit_is_the_straightforward_one_bit_for_bit(model, chunk):
    build, space = BUILD[model]
    gen = build(chunk)
    image, cams = target_and_camera(gen)
    settings = OptimizeSettings(space=space, steps=STEPS, perceptual_weight=0.0)
    got = OptimizationInverter(gen, settings).invert(image, cams)
    want_latent, want_losses = straightforward(gen, space, image, cams, STEPS)
    assert got.extras["losses"] == want_losses and torch.equal(got.latent, want_latent)
    assert want_losses[-1] < want_losses[0]  # the latent moved towards the image


def counted_intersections(monkeypatch) -> list:
    """A list that grows by one at each call of the manifold renderer's ray-manifold intersection."""
    calls = []
    original = manifold_renderer.intersect_manifolds

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(manifold_renderer, "intersect_manifolds", counted)
    return calls


@pytest.mark.parametrize("model", sorted(BUILD))
def test_the_input_camera_is_intersected_once(monkeypatch, model):
    build, space = BUILD[model]
    gen = build()
    image, cams = target_and_camera(gen)
    calls = counted_intersections(monkeypatch)
    OptimizationInverter(gen, OptimizeSettings(space=space, steps=STEPS, perceptual_weight=0.0)).invert(image, cams)
    assert len(calls) == 1
