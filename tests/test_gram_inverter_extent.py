"""Efficient GRAM grids its manifolds over GRAM-HD's square for the camera prior's fov, fov / 100 (0.12 at the 12
degrees of every preset), unless ``generator.extent`` is given: a run at another fov grids what its cameras see,
where a fixed 0.12 left an 18-degree camera's outer texels (|x| up to 0.16 at the rays' far end) without features."""

from __future__ import annotations

import pytest
import torch

from test_gram_inverter_config import _load
from test_gram_inverter_efficient_gram import micro
from zoo3d.cameras import CameraPrior
from zoo3d_gram_inverter.efficient_gram import EfficientGramGenerator
from zoo3d_gram_inverter.model import GramInverterModel


@pytest.mark.parametrize("fov, extent", [(12.0, 0.12), (18.0, 0.18)])
def test_the_gridded_square_follows_the_priors_fov(fov, extent):
    gen = EfficientGramGenerator(micro().config, CameraPrior(fov=fov))
    assert gen.extent == pytest.approx(extent)
    layers = gen.textured_layers(gen.represent(torch.randn(1, gen.z_dim)), gen.camera_prior.frontal(1))
    assert layers.textured.extent == pytest.approx(extent)


def test_a_given_extent_is_kept_whatever_the_fov():
    assert EfficientGramGenerator(micro(extent=0.15).config, CameraPrior(fov=18.0)).extent == 0.15


def test_the_tiny_preset_grids_as_before_and_at_another_fov_at_that_fov():
    for given, extent in (([], 0.12), (["camera.fov=18"], 0.18)):
        cfg = _load("tiny", *given)
        assert cfg.generator.extent is None
        torch.manual_seed(0)
        assert GramInverterModel().build(cfg)["generator"].extent == pytest.approx(extent)
