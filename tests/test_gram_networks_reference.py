"""GRAM's two networks against the authors' code (microsoft/GRAM generators/representations/gram.py) written out.

GramSample (the manifold predictor): UniformBoxWarp(0.24), minus the centre, (Linear + ReLU) x 3, Linear(., 1);
geometry_init (weights N(0, sqrt(2 / out)), zero biases) and the last layer constant 10 sqrt(pi / n), bias -radius.
GramRF (the radiance network): colours through sigmoid(x) (1 + 2 eps) - eps with eps = 1e-3, density softplus,
heads initialised with frequency_init(25); FFHQ_default's sizes.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d_gram.networks import ManifoldPredictor, RadianceNetwork, widened_sigmoid

pytestmark = pytest.mark.usefixtures("single_thread")


def test_widened_sigmoid_reaches_just_past_0_and_1():
    x = torch.tensor([-100.0, 0.0, 100.0, math.log(3.0)], dtype=torch.float64)
    torch.testing.assert_close(widened_sigmoid(x), torch.tensor([-1e-3, 0.5, 1 + 1e-3, 0.75 * 1.002 - 1e-3],
                                                                dtype=torch.float64))
    torch.testing.assert_close(widened_sigmoid(x, eps=0.1), torch.tensor([-0.1, 0.5, 1.1, 0.8], dtype=torch.float64))


def _gram_sample(m: ManifoldPredictor, p, box_size, center):
    """GramSample.forward: p * 2 / box_size - center, ReLU MLP, linear output."""
    x = p * (2 / box_size) - torch.tensor(center, dtype=p.dtype)
    for layer in m.hidden:
        x = torch.relu(x @ layer.weight.T.to(p.dtype) + layer.bias.to(p.dtype))
    return (x @ m.out.weight.T.to(p.dtype) + m.out.bias.to(p.dtype)).squeeze(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_manifold_predictor_equals_the_authors_mlp(dtype):
    """Generic biases (the init zeroes them) and a non-default box and centre, in fp32 (fused path) and fp64."""
    torch.manual_seed(0)
    box, center = 0.5, (0.1, -0.2, -1.0)
    m = ManifoldPredictor(hidden=16, layers=2, box_size=box, center=center).to(dtype)
    with torch.no_grad():
        for layer in [*m.hidden, m.out]:
            layer.bias.normal_(0, 0.5)
    p = (torch.rand(2, 50, 3, dtype=dtype) - 0.5) * 0.6
    with torch.no_grad():
        s = m(p)
    assert s.dtype == dtype and s.shape == (2, 50)
    torch.testing.assert_close(s, _gram_sample(m, p.double(), box, center).to(dtype))


def test_manifold_predictor_geometric_init():
    """Hidden weights N(0, sqrt(2 / out)), zero biases; output weights 10 sqrt(pi / hidden), bias -init_radius."""
    torch.manual_seed(0)
    m = ManifoldPredictor(hidden=256, layers=3, init_scale=7.0, init_radius=0.4)
    for layer in m.hidden:
        assert abs(layer.weight.std().item() / math.sqrt(2 / 256) - 1) < 0.03
        assert abs(layer.weight.mean().item()) < 0.01 and torch.equal(layer.bias, torch.zeros(256))
    torch.testing.assert_close(m.out.weight, torch.full((1, 256), 7.0 * math.sqrt(math.pi / 256)))
    torch.testing.assert_close(m.out.bias, torch.tensor([-0.4]))
    # the first layer's std follows its fan-out (256), not its fan-in (3)
    assert abs(m.hidden[0].weight.std().item() - math.sqrt(2 / 256)) < 0.01


def test_manifold_predictor_defaults_are_ffhq_defaults():
    """FFHQ_default: hidden_dim_sample 128, layer_num_sample 3, centre (0, 0, -1.5), radius 0, box 0.24."""
    m = ManifoldPredictor()
    assert len(m.hidden) == 3 and all(layer.out_features == 128 for layer in m.hidden)
    assert m.hidden[0].in_features == 3 and m.out.in_features == 128 and m.out.out_features == 1
    assert torch.equal(m.center, torch.tensor([0.0, 0.0, -1.5]))
    torch.testing.assert_close(m.out.weight, torch.full((1, 128), 10 * math.sqrt(math.pi / 128)))
    assert m.out.bias.item() == 0.0
    # world (0, 0, -0.18) is the warped origin: 0.18 * 2 / 0.24 = 1.5
    torch.testing.assert_close(m.warp(torch.tensor([0.06, 0.0, -0.18])), torch.tensor([0.5, 0.0, 0.0]))


def test_radiance_network_defaults_are_ffhq_defaults():
    """GramRF: z 256, mapping 3 x 256, eight FiLM layers of 256, seven sigma and seven rgb heads, freq 15 x + 30."""
    torch.manual_seed(0)
    net = RadianceNetwork()
    assert net.z_dim == 256 and net.hidden_dim == 256 and net.feature_heads is None
    assert len(net.trunk.layers) == 8 and len(net.sigma_heads) == 7 and len(net.rgb_heads) == 7
    assert net.mapping.out.out_features == 9 * 256 * 2 and net.mapping.z_dim == 256
    assert sum(isinstance(m, torch.nn.Linear) for m in net.mapping.hidden) == 3
    assert net.mapping.hidden[0].out_features == 256
    assert (net.mapping.freq_scale, net.mapping.freq_bias) == (15.0, 30.0)
    assert net.warp_scale == 2 / 0.24 and net.autocast


def test_radiance_heads_have_sirens_frequency_init():
    """frequency_init(25): head weights U(+-sqrt(6 / 256) / 25), filling the interval."""
    torch.manual_seed(0)
    net = RadianceNetwork(z_dim=8, mapping_hidden=8, feature_dim=4)
    bound = math.sqrt(6 / 256) / 25
    for heads in (net.sigma_heads, net.rgb_heads, net.feature_heads):
        w = torch.cat([h.weight.flatten() for h in heads])
        assert w.abs().max() <= bound and w.abs().max() > 0.98 * bound
        assert abs(w.abs().mean().item() / (bound / 2) - 1) < 0.1  # uniform: mean |w| is half the bound


def test_radiance_network_under_autocast_off_runs_in_fp32_and_folds_in_fp32():
    """``autocast=False`` under CPU bf16 autocast, with the bf16 FiLM parameters the mapping gives there: the fp32
    pass on those parameters (bf16 GEMMs, or bf16 folded weights, would miss by ~1e-2)."""
    torch.manual_seed(0)
    net = RadianceNetwork(z_dim=8, mapping_hidden=16, hidden=16, num_layers=3, autocast=False)
    p = (torch.rand(2, 30, 3) - 0.5) * 0.24
    d = F.normalize(torch.randn(2, 30, 3), dim=-1)
    z = torch.randn(2, 8)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            freq, phase = net.style(z)
            folded = net.fold(freq, phase)
            mixed = net(p, d, freq, phase)
        exact = net(p, d, freq.float(), phase.float())
    assert freq.dtype == torch.bfloat16  # the mapping itself is not guarded
    assert all(a.dtype == torch.float32 for a, _ in folded.trunk) and folded.head_bias.dtype == torch.float32
    for a, b in zip(mixed[:2], exact[:2]):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b)


def test_constructor_sizes_reach_the_mapping_and_the_trunk():
    """Non-default sizes: 2 mapping layers of 12, freq = 5 raw + 7, three FiLM layers, a one-channel feature head."""
    torch.manual_seed(0)
    net = RadianceNetwork(z_dim=8, mapping_hidden=12, mapping_layers=2, hidden=16, num_layers=3, feature_dim=1,
                          freq_scale=5.0, freq_bias=7.0)
    linears = [m for m in net.mapping.hidden if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [12, 12] and len(net.trunk.layers) == 3
    z = torch.randn(2, 8)
    raw = net.mapping.out(net.mapping.hidden(z)).view(2, 2, 4, 16)  # (freq | phase) x (3 trunk + colour) x 16
    freq, phase = net.style(z)
    torch.testing.assert_close(freq, 5 * raw[:, 0] + 7)
    torch.testing.assert_close(phase, raw[:, 1])
    p, d = (torch.rand(2, 5, 3) - 0.5) * 0.24, F.normalize(torch.randn(2, 5, 3), dim=-1)
    with torch.no_grad():
        x = [p * net.warp_scale]
        for i, film in enumerate(net.trunk.layers):
            x.append(torch.sin(freq[:, i, None] * film.layer(x[-1]) + phase[:, i, None]))
        features = sum(head(h) for head, h in zip(net.feature_heads, x[2:]))
        torch.testing.assert_close(net(p, d, freq, phase)[2], features)


def _fp64_copy(net):
    double = RadianceNetwork(z_dim=8, mapping_hidden=16, hidden=16, num_layers=3).double()
    double.load_state_dict(net.state_dict())
    return double


@pytest.mark.parametrize("graph", [False, True])
def test_fp64_points_through_an_fp32_network_follow_the_points_precision(graph):
    """Every weight is cast to the points' dtype: fp64 points give the fp64 network's answer (fp32 weights exactly)."""
    torch.manual_seed(0)
    net = RadianceNetwork(z_dim=8, mapping_hidden=16, hidden=16, num_layers=3)
    freq, phase = net.style(torch.randn(2, 8))
    freq, phase = freq.detach(), phase.detach()
    p = (torch.rand(2, 40, 3, dtype=torch.float64) - 0.5) * 0.24
    d = F.normalize(torch.randn(2, 40, 3, dtype=torch.float64), dim=-1)
    with torch.set_grad_enabled(graph):
        out = net(p, d, freq, phase)
        expected = _fp64_copy(net)(p, d, freq.double(), phase.double())
    for a, b in zip(out[:2], expected[:2]):
        assert a.dtype == torch.float64
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("graph", [False, True])
def test_autocast_on_runs_in_bf16_with_fp32_film_parameters(graph):
    """``autocast=True`` (default) under CPU bf16 autocast, FiLM parameters in fp32 (e.g. truncated towards an fp32
    average): the GEMMs run in bf16 and the outputs stay within bf16 rounding of the fp32 pass."""
    torch.manual_seed(0)
    net = RadianceNetwork(z_dim=8, mapping_hidden=16, hidden=16, num_layers=3)
    freq, phase = net.style(torch.randn(2, 8))
    freq, phase = freq.detach(), phase.detach()
    p = (torch.rand(2, 40, 3) - 0.5) * 0.24
    d = F.normalize(torch.randn(2, 40, 3), dim=-1)
    with torch.no_grad():
        exact = net(p, d, freq, phase)
    with torch.set_grad_enabled(graph), torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = net(p, d, freq, phase)
    for a, b in zip(mixed[:2], exact[:2]):
        assert a.dtype == torch.bfloat16
        torch.testing.assert_close(a.float(), b, atol=0.1, rtol=0)


def test_manifold_predictor_computes_bf16_points_in_fp32():
    """s is computed in the weights' precision whatever the points' dtype (level crossings need fp32)."""
    torch.manual_seed(0)
    m = ManifoldPredictor(hidden=16)
    p = ((torch.rand(2, 50, 3) - 0.5) * 0.24).bfloat16()
    with torch.no_grad():
        s = m(p)
    assert s.dtype == torch.float32
    torch.testing.assert_close(s, m(p.float()), atol=0, rtol=0)
