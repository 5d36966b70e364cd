"""The interfaces a third-party plugin implements, held to what their docstrings and docs/plugins.md promise it
(zoo3d's own models pass every field, so only a plugin that leaves one out sees these defaults):

- an `Inverter` that finds no latent and tunes no generator returns `InversionResult(representation, cameras)`:
  `latent` None, `generator` None ("None: the inverter's generator"), `extras` a dict of its own;
- a generator of radiance manifolds opts into the free-view cache by `textured_layers` alone (`isinstance`, nothing
  registered), and a `TexturedLayers` that states no search is GRAM's: the FFHQ/CATS camera's ray_start 0.88 and
  ray_end 1.12 and the manifold renderer's 64 samples (microsoft/GRAM configs.py, written out), backdrop black."""

from __future__ import annotations

import torch

from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult, Inverter
from zoo3d.core.outputs import RenderOutput
from zoo3d.freeview.protocol import SupportsManifoldCache, TexturedLayers

# microsoft/GRAM configs.py: FFHQ_default and CATS_default 'camera': {'ray_start': 0.88, 'ray_end': 1.12};
# 'renderer': {'class': 'manifold_renderer', 'kwargs': {'num_samples': 64, ...}}
GRAM_RAY_START, GRAM_RAY_END, GRAM_NUM_SAMPLES = 0.88, 1.12, 64


class MeanColourInverter(Inverter):
    """A stand-in third-party inverter: the scene is the images' mean colour, drawn flat from any camera."""

    def invert(self, images, cameras=None):
        return InversionResult(representation=images.mean(dim=(2, 3)), cameras=cameras)

    def render(self, result, cameras, resolution=None):
        h, w = resolution or (4, 4)
        rgb = result.representation[:, :, None, None].expand(-1, -1, h, w)
        return RenderOutput(rgb=rgb, depth=torch.ones_like(rgb[:, :1]), alpha=torch.ones_like(rgb[:, :1]))


def test_an_inverter_without_latent_or_tuned_generator_leaves_them_none_and_its_extras_its_own():
    inverter = MeanColourInverter()
    images = torch.linspace(-1, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    cams = Camera.from_angles(torch.tensor([0.0, 0.3]), torch.tensor([0.0, 0.1]))
    first, second = inverter.invert(images, cams), inverter.invert(images, cams)
    assert first.latent is None and first.generator is None
    assert first.extras == {} and isinstance(first.extras, dict)
    first.extras["pose"] = 1
    assert second.extras == {}  # one result's extras are not another's


class StandInManifoldGenerator:
    """A stand-in third-party generator of radiance manifolds: it states only what the protocol needs."""

    def __init__(self, textured):
        self.textured = textured

    def textured_layers(self, representation, camera, texture_resolution=None):
        return TexturedLayers(self.textured, grid_resolution=32)


def test_a_generator_opts_into_the_cache_by_textured_layers_and_unstated_search_is_grams():
    gen = StandInManifoldGenerator(textured="maps")
    assert isinstance(gen, SupportsManifoldCache) and not isinstance(object(), SupportsManifoldCache)
    layers = gen.textured_layers(None, None)
    assert (layers.textured, layers.grid_resolution) == ("maps", 32)
    assert (layers.near, layers.far, layers.num_samples) == (GRAM_RAY_START, GRAM_RAY_END, GRAM_NUM_SAMPLES)
    assert layers.backdrop is None  # black
