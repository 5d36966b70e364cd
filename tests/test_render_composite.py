"""Front-to-back compositing against closed forms: the transmittance epsilon, any leading shape, features."""

from __future__ import annotations

import pytest
import torch

from zoo3d.render.composite import composite, compositing_weights, exclusive_transmittance, weighted_sum


def test_opaque_layers_pass_exactly_the_transmittance_epsilon():
    """With alpha = 1 everywhere, T_k = eps^k: the epsilon is added to (1 - alpha), default 1e-10."""
    ones = torch.ones(4, dtype=torch.float64)
    torch.testing.assert_close(exclusive_transmittance(ones, eps=0.25),
                               torch.tensor([1.0, 0.25, 0.0625, 0.015625], dtype=torch.float64), atol=0, rtol=0)
    torch.testing.assert_close(compositing_weights(ones[:2]), torch.tensor([1.0, 1e-10], dtype=torch.float64),
                               atol=0, rtol=1e-12)


def test_composite_passes_its_epsilon_on():
    a = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64)
    rgb = torch.eye(3, dtype=torch.float64)  # layer k is colour channel k
    w = torch.tensor([0.5, 0.5 * 0.75, 0.5 * 0.75 ** 2], dtype=torch.float64)  # T = prod (1 - 0.5 + 0.25)
    torch.testing.assert_close(compositing_weights(a, eps=0.25), w, atol=1e-15, rtol=0)
    out = composite(a, rgb, eps=0.25)
    torch.testing.assert_close(out.weights, w, atol=1e-15, rtol=0)
    torch.testing.assert_close(out.rgb, w, atol=1e-15, rtol=0)


@pytest.mark.parametrize("lead", [(), (6,), (2, 3, 4)])
def test_composite_of_any_leading_shape_equals_the_closed_form(lead):
    """alpha (..., K), values (..., K, C) for 0, 1 and 3 leading dims; features (C = 5) composite like rgb."""
    g = torch.Generator().manual_seed(1)
    K = 3
    a = torch.rand(*lead, K, generator=g, dtype=torch.float64)
    c = torch.rand(*lead, K, 3, generator=g, dtype=torch.float64)
    f = torch.randn(*lead, K, 5, generator=g, dtype=torch.float64)
    t = torch.rand(*lead, K, generator=g, dtype=torch.float64).sort(-1).values
    w = torch.stack([a[..., 0], (1 - a[..., 0]) * a[..., 1], (1 - a[..., 0]) * (1 - a[..., 1]) * a[..., 2]], -1)
    out = composite(a, c, t, features=f)
    torch.testing.assert_close(out.weights, w, atol=1e-9, rtol=0)
    torch.testing.assert_close(out.rgb, (w[..., None] * c).sum(-2), atol=1e-9, rtol=0)
    torch.testing.assert_close(out.features, (w[..., None] * f).sum(-2), atol=1e-9, rtol=0)
    torch.testing.assert_close(out.depth, (w * t).sum(-1, keepdim=True), atol=1e-9, rtol=0)
    torch.testing.assert_close(weighted_sum(w, f), (w[..., None] * f).sum(-2), atol=1e-12, rtol=0)


def test_composite_without_depth_or_features_leaves_them_none():
    a = torch.tensor([[0.2, 0.6]])
    out = composite(a, torch.ones(1, 2, 3))
    assert out.depth is None and out.features is None
    torch.testing.assert_close(out.acc, torch.tensor([[1 - 0.8 * 0.4]]))
