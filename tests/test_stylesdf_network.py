"""StyleSDF's SDF/colour network against royorel/StyleSDF's formulas written out by hand.

Upstream (``volume_renderer.py``: ``SirenGenerator``, ``FiLMSiren``, ``LinearLayer``; ``model.py``:
``MappingLinear``): w = 3 x leaky-ReLU(0.2)(W z + b) with no gain; every FiLM-SIREN layer has its own
gamma = 15 (A w + a) + 30 and beta = 0.25 (B w + b); the trunk sees p * 2 / (far - near); sdf is a
linear head on the last hidden layer, the view layer is a FiLM-SIREN layer on (hidden, dir) and rgb is
sigmoid of a linear head on its output. Initialisations: Kaiming-normal (a = 0.2, fan-in), times 0.25 for
the FiLM linears, biases U(+-sqrt(1/in)), the heads U(+-sqrt(6/in)/25).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d_stylesdf.network import StyleSDFField, StyleSDFMapping, StyleSDFNetwork


def _leaky(x):
    return torch.where(x >= 0, x, 0.2 * x)


def _lin(x, layer):
    return x @ layer.weight.T + layer.bias


def _by_hand(net: StyleSDFNetwork, w, points, dirs):
    """The upstream forward pass, one layer at a time, with zoo3d's (dir, hidden) view-layer order."""
    gammas = [15.0 * _lin(w, lin) + 30.0 for lin in net.film_freq]
    betas = [0.25 * _lin(w, lin) for lin in net.film_phase]
    h = points * net.input_scale
    for i, layer in enumerate(net.trunk.layers):
        h = torch.sin(gammas[i][:, None] * _lin(h, layer.layer) + betas[i][:, None])
    sdf = _lin(h, net.sdf_head)
    feat = torch.sin(gammas[-1][:, None] * _lin(torch.cat([dirs, h], -1), net.view.layer) + betas[-1][:, None])
    return sdf, torch.sigmoid(_lin(feat, net.rgb_head)), feat


def _small(seed=0, depth=3, width=8, w_dim=6):
    torch.manual_seed(seed)
    net = StyleSDFNetwork(w_dim=w_dim, depth=depth, width=width, input_scale=1 / 0.12).double()
    g = torch.Generator().manual_seed(seed + 1)
    w = torch.randn(2, w_dim, generator=g, dtype=torch.float64)
    points = (torch.rand(2, 5, 3, generator=g, dtype=torch.float64) * 2 - 1) * 0.12
    dirs = F.normalize(torch.randn(2, 5, 3, generator=g, dtype=torch.float64), dim=-1)
    return net, w, points, dirs


def test_forward_is_the_upstream_film_siren_pass():
    """sdf, rgb and features equal the layer-by-layer formula (each layer its own gamma/beta; the view
    layer uses the last slice)."""
    net, w, points, dirs = _small()
    freq, phase = net.film(w)
    assert freq.shape == phase.shape == (2, 4, 8)
    for got, want in zip(net(points, dirs, freq, phase), _by_hand(net, w, points, dirs)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(net.sdf(points, freq, phase)[0], _by_hand(net, w, points, dirs)[0])


def test_film_frequencies_and_phases_are_15x_plus_30_and_quarter():
    net, w, _, _ = _small()
    freq, phase = net.film(w)
    for i in range(net.depth + 1):
        torch.testing.assert_close(freq[:, i], 15 * (w @ net.film_freq[i].weight.T + net.film_freq[i].bias) + 30)
        torch.testing.assert_close(phase[:, i], 0.25 * (w @ net.film_phase[i].weight.T + net.film_phase[i].bias))


def test_mapping_is_three_unscaled_leaky_relu_layers():
    torch.manual_seed(0)
    m = StyleSDFMapping(7).double()
    assert len(m.net) == 3 and m.z_dim == 7
    z = torch.randn(4, 7, dtype=torch.float64)
    want = z
    for layer in m.net:
        want = _leaky(_lin(want, layer))
    torch.testing.assert_close(m(z), want, rtol=1e-12, atol=1e-12)


def test_mapping_average_is_the_mean_w_of_many_latents():
    """The truncation centre: a Monte-Carlo mean of w (1, z_dim), reproducible for a seed and close to a mean
    over an independent draw."""
    torch.manual_seed(0)
    m = StyleSDFMapping(4)
    centre = m.average()
    assert centre.shape == (1, 4)
    torch.testing.assert_close(m.average(), centre, rtol=0, atol=0)
    with torch.no_grad():
        w = m(torch.randn(200000, 4, generator=torch.Generator().manual_seed(123)))
    tol = 5 * w.std(0) / math.sqrt(10000)
    assert ((centre[0] - w.mean(0)).abs() < tol).all()
    assert not torch.equal(m.average(num_samples=50, seed=1), centre)
    assert m.double().average().dtype == torch.float64  # the latents follow the weights' dtype and device


def test_defaults_are_the_upstream_architecture():
    """8 FiLM-SIREN layers of 256 driven by a 256-d w; input scale 2 / (far - near) for upstream's
    near 0.88, far 1.12."""
    net = StyleSDFNetwork()
    assert (net.depth, net.width, len(net.trunk.layers)) == (8, 256, 8)
    assert net.film_freq[0].in_features == 256 and len(net.film_freq) == len(net.film_phase) == 9
    assert net.input_scale == pytest.approx(2 / (1.12 - 0.88))
    assert net.view.layer.in_features == 256 + 3


def _kaiming_std(fan_in):
    return math.sqrt(2 / (1 + 0.2 ** 2)) / math.sqrt(fan_in)


def _is_uniform(t, bound, ends=0.05):
    """In [-bound, bound], reaching within ``ends`` x bound of both ends (``ends`` = 0.03 is safe from a
    thousand values on), with the uniform's standard deviation bound / sqrt(3) to 5 %."""
    t = t.detach().flatten()
    return (t.abs().max() <= bound and t.max() > (1 - ends) * bound and t.min() < -(1 - ends) * bound
            and abs(t.std().item() * math.sqrt(3) / bound - 1) < 0.05)


def test_initialisation_follows_upstream():
    """Kaiming-normal with a = 0.2 has std sqrt(2 / 1.04) / sqrt(fan_in); a = 0 would be 2 % larger, so the
    standard deviations are checked to 0.5 % over ~10^5-10^6 values."""
    torch.manual_seed(0)
    width, w_dim = 1024, 400
    net = StyleSDFNetwork(w_dim=w_dim, depth=2, width=width)
    film_w = torch.cat([lin.weight.flatten() for lin in [*net.film_freq, *net.film_phase]])
    assert film_w.std().item() == pytest.approx(0.25 * _kaiming_std(w_dim), rel=0.005)
    assert abs(film_w.mean().item()) < 0.01 * _kaiming_std(w_dim)
    film_b = torch.cat([lin.bias for lin in [*net.film_freq, *net.film_phase]])
    assert _is_uniform(film_b, math.sqrt(1 / w_dim), ends=0.03)
    # the heads: U(+-sqrt(6/n)/25), not /26 (4 % narrower)
    for head in (net.sdf_head, net.rgb_head):
        assert _is_uniform(head.weight, math.sqrt(6 / width) / 25, ends=0.03)
    mapping = StyleSDFMapping(w_dim)
    weights = torch.cat([layer.weight.flatten() for layer in mapping.net])
    assert weights.std().item() == pytest.approx(_kaiming_std(w_dim), rel=0.005)
    assert _is_uniform(torch.cat([layer.bias for layer in mapping.net]), math.sqrt(1 / w_dim))


def test_field_queries_record_their_points_for_the_eikonal_loss():
    net, w, points, dirs = _small()
    alpha = torch.tensor(0.1)
    field = StyleSDFField(net, w, alpha, bounds=0.12, record=True, psi=0.7)
    assert len(field) == 2 and field.device == w.device and field.kind == "sdf" and field.psi == 0.7
    out = field.query(points, dirs)
    sdf, rgb, feat = _by_hand(net, w, points, dirs)
    torch.testing.assert_close(out.sigma, sdf)
    torch.testing.assert_close(out.rgb, rgb)
    torch.testing.assert_close(out.features, feat)
    (pts, rec), = field.recorded
    assert pts.is_leaf and pts.requires_grad and rec is out.sigma
    torch.testing.assert_close(pts, points, rtol=0, atol=0)
    grad = torch.autograd.grad(rec.sum(), pts)[0]
    leaf = points.clone().requires_grad_(True)
    want = torch.autograd.grad(_by_hand(net, w, leaf, dirs)[0].sum(), leaf)[0]
    torch.testing.assert_close(grad, want)

def test_field_without_recording_keeps_nothing_and_passes_gradients_to_its_inputs():
    net, w, points, dirs = _small()
    field = StyleSDFField(net, w, torch.tensor(0.1), bounds=0.12)
    assert field.psi == 1.0 and field.sdf_sharpness.item() == pytest.approx(0.1) and field.bounds == 0.12
    points = points.clone().requires_grad_(True)
    field.query(points, dirs).sigma.sum().backward()
    assert field.recorded == [] and points.grad is not None
    torch.testing.assert_close(field.sdf(points.detach()), _by_hand(net, w, points.detach(), dirs)[0])
