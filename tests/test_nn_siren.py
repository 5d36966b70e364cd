"""FiLM-SIREN layers and the pi-GAN mapping network behave as pi-GAN/GRAM specify."""

import math

import pytest
import torch

import torch.nn.functional as F
from torch import nn

from zoo3d.nn import siren
from zoo3d.nn.siren import (
    ColorFiLMLayer, FiLMSirenLayer, FiLMSirenTrunk, PiGanMappingNetwork, film_affine, film_sine, frequency_init,
    linear, truncate_film,
)

pytestmark = pytest.mark.usefixtures("single_thread")



def test_film_layer_matches_closed_form():
    torch.manual_seed(0)
    layer = FiLMSirenLayer(4, 6)
    x, freq, phase = torch.randn(2, 5, 4), torch.rand(2, 6) * 30, torch.randn(2, 6)
    expected = torch.sin(freq[:, None] * (x @ layer.layer.weight.T + layer.layer.bias) + phase[:, None])
    torch.testing.assert_close(layer(x, freq, phase), expected)


def test_siren_initialisation_bounds():
    torch.manual_seed(0)
    trunk = FiLMSirenTrunk(in_dim=3, hidden=64, num_layers=3)
    first, hidden = trunk.layers[0].layer.weight, trunk.layers[1].layer.weight
    assert first.abs().max() <= 1 / 3 and first.max() > 0.9 / 3 and first.min() < -0.9 / 3
    bound = math.sqrt(6 / 64) / 25
    assert hidden.abs().max() <= bound and hidden.abs().max() > 0.99 * bound  # 4096 draws: max within 1 %
    assert abs(hidden.std().item() - bound / math.sqrt(3)) < 0.05 * bound  # uniform std


def test_frequency_init_bound_uses_the_fan_in_and_w0_25_by_default():
    """SIREN's hidden init U(±sqrt(6/n)/w0), n the fan-in (24 here, not the 600 outputs), w0 = 25 in pi-GAN."""
    torch.manual_seed(0)
    layer = nn.Linear(24, 600)
    layer.apply(frequency_init())
    bound = math.sqrt(6 / 24) / 25
    assert layer.weight.max() <= bound and layer.weight.max() > 0.99 * bound
    assert layer.weight.min() >= -bound and layer.weight.min() < -0.99 * bound


def test_mapping_layers_are_kaiming_normal_for_leaky_relu_0_2():
    """std = sqrt(2 / (1 + 0.2^2) / fan_in) in every layer (a = 0 would be 2 % wider), the last x 0.25."""
    torch.manual_seed(0)
    mapping = PiGanMappingNetwork(z_dim=256, hidden=256, num_film_layers=2, film_dim=128, num_hidden=2)
    kaiming = math.sqrt(2 / (1 + 0.2 ** 2) / 256)
    for layer in [mapping.hidden[0], mapping.hidden[2]]:
        assert abs(layer.weight.std().item() / kaiming - 1) < 0.01  # 65536 draws: 0.3 % sampling error
    assert abs(mapping.out.weight.std().item() / (0.25 * kaiming) - 1) < 0.01


def test_mapping_frequency_statistics_at_init():
    torch.manual_seed(0)
    mapping = PiGanMappingNetwork(z_dim=64, hidden=64, num_film_layers=3, film_dim=32)
    z = torch.randn(512, 64)
    freq, phase = mapping(z)
    raw = mapping.out(mapping.hidden(z)).view(512, 2, 3, 32)
    torch.testing.assert_close(freq, 15 * raw[:, 0] + 30)
    torch.testing.assert_close(phase, raw[:, 1])
    assert abs(freq.mean().item() - 30) < 1.0
    # Both halves come from the same init, so freq spreads 15x as wide as phase.
    assert abs(freq.std().item() / phase.std().item() - 15) < 1.5
    # Last layer is Kaiming-normal (a=0.2, fan_in) x 0.25.
    expected_std = 0.25 * math.sqrt(2 / (1 + 0.2 ** 2) / 64)
    assert abs(mapping.out.weight.std().item() / expected_std - 1) < 0.05


def test_default_trunk_is_pigans_eight_layers_of_256_on_3d_points():
    trunk = FiLMSirenTrunk()
    shapes = [tuple(layer.layer.weight.shape) for layer in trunk.layers]
    assert shapes == [(256, 3)] + [(256, 256)] * 7


def test_trunk_needs_one_film_slice_per_layer():
    torch.manual_seed(0)
    trunk = FiLMSirenTrunk(in_dim=3, hidden=16, num_layers=4)
    x, freq, phase = torch.rand(2, 7, 3), torch.rand(2, 5, 16) * 30 + 15, torch.randn(2, 5, 16)
    exact = trunk(x, freq[:, :4], phase[:, :4])  # exactly one slice per layer is enough
    for got, want in zip(exact, trunk(x, freq, phase)):
        torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="need FiLM parameters for 4 layers, got 3"):
        trunk(x, freq[:, :3], phase[:, :3])


def test_trunk_uses_one_film_slice_per_layer():
    torch.manual_seed(0)
    trunk = FiLMSirenTrunk(in_dim=3, hidden=16, num_layers=4)
    x = torch.rand(2, 7, 3) * 2 - 1
    freq, phase = torch.rand(2, 5, 16) * 30 + 15, torch.randn(2, 5, 16)
    base = trunk(x, freq, phase)
    freq2 = freq.clone()
    freq2[:, 2] += 5.0
    freq2[:, 4] += 5.0  # beyond the trunk (the colour layer's slice): ignored
    changed = trunk(x, freq2, phase)
    for i in range(2):
        torch.testing.assert_close(changed[i], base[i])
    for i in range(2, 4):
        assert (changed[i] - base[i]).abs().max() > 1e-3
    torch.testing.assert_close(base[1], trunk.layers[1](base[0], freq[:, 1], phase[:, 1]))


def test_color_layer_puts_direction_first():
    torch.manual_seed(0)
    layer = ColorFiLMLayer(8, 5)
    x, d = torch.randn(1, 4, 8), torch.randn(1, 4, 3)
    freq, phase = torch.ones(1, 5), torch.zeros(1, 5)
    w, b = layer.layer.weight, layer.layer.bias
    expected = torch.sin(d @ w[:, :3].T + x @ w[:, 3:].T + b)
    torch.testing.assert_close(layer(x, d, freq, phase), expected)


def test_truncation_pulls_to_average():
    torch.manual_seed(0)
    mapping = PiGanMappingNetwork(z_dim=16, hidden=16, num_film_layers=2, film_dim=8)
    avg_f, avg_p = mapping.average(num_samples=4000, generator=torch.Generator().manual_seed(1))
    assert abs(avg_f.mean().item() - 30) < 1.0
    # the mean over every latent drawn, batch by batch (7 latents in batches of 3, 3 and 1), not one of them
    g = torch.Generator().manual_seed(2)
    z = torch.cat([torch.randn(k, 16, generator=g) for k in (3, 3, 1)])
    with torch.no_grad():
        want_f, want_p = (x.mean(0, keepdim=True) for x in mapping(z))
    got_f, got_p = mapping.average(num_samples=7, generator=torch.Generator().manual_seed(2), batch_size=3)
    torch.testing.assert_close(got_f, want_f, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(got_p, want_p, rtol=1e-6, atol=1e-5)
    f, p = mapping(torch.randn(3, 16))
    tf, tp = truncate_film(f, p, avg_f, avg_p, 0.0)
    torch.testing.assert_close(tf, avg_f.expand_as(f))
    hf, _ = truncate_film(f, p, avg_f, avg_p, 0.5)
    torch.testing.assert_close(hf - avg_f, 0.5 * (f - avg_f))


def test_truncation_extrapolates_beyond_psi_1():
    f, p, avg_f, avg_p = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    tf, tp = truncate_film(f, p, avg_f, avg_p, 2.0)
    torch.testing.assert_close(tf, avg_f + 2 * (f - avg_f))
    torch.testing.assert_close(tp, avg_p + 2 * (p - avg_p))


def test_average_by_default_is_the_mean_over_10000_latents_drawn_2048_at_a_time():
    """GRAM's get_avg_w: 10000 z ~ N(0, I); in float64 the sums and the result stay float64."""
    torch.manual_seed(0)
    mapping = PiGanMappingNetwork(z_dim=4, hidden=4, num_film_layers=1, film_dim=2, num_hidden=1).double()
    g = torch.Generator().manual_seed(3)
    z = torch.cat([torch.randn(n, 4, generator=g) for n in (2048,) * 4 + (1808,)]).double()
    with torch.no_grad():
        want_f, want_p = (x.mean(0, keepdim=True) for x in mapping(z))
    got_f, got_p = mapping.average(generator=torch.Generator().manual_seed(3))
    assert got_f.dtype == got_p.dtype == torch.float64
    torch.testing.assert_close(got_f, want_f, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_p, want_p, rtol=1e-12, atol=1e-12)


def test_folded_film_layer_computes_in_the_points_precision():
    """film_affine folds freq/phase (float64 here, the layer float32) in their precision; film_sine casts the
    folded parameters to the points' dtype: float64 points give the float64 formula to 1e-12."""
    torch.manual_seed(0)
    layer = nn.Linear(3, 5)
    x, freq, phase = torch.randn(2, 4, 3).double(), (torch.rand(2, 5) * 30).double(), torch.randn(2, 5).double()
    w, b = layer.weight.double(), layer.bias.double()
    want = torch.sin(freq[:, None] * (x @ w.T + b) + phase[:, None])
    a, c = film_affine(layer, freq, phase)
    torch.testing.assert_close(film_sine(x, a, c), want, rtol=1e-12, atol=1e-12)
    a32, c32 = a.float(), c.float()  # folded in float32, applied to float64 points
    torch.testing.assert_close(film_sine(x, a32, c32), torch.sin(x @ a32.double().transpose(1, 2) + c32.double()[:, None]),
                               rtol=1e-12, atol=1e-12)


def test_linear_casts_its_parameters_to_the_inputs_dtype_and_takes_an_absent_bias():
    torch.manual_seed(0)
    x, w, b = torch.randn(6, 7).double(), torch.randn(5, 7), torch.randn(5)
    with torch.no_grad():
        torch.testing.assert_close(linear(x, w, b), x @ w.double().T + b.double(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(linear(x, w.double(), b.double(), relu=True),
                                   (x @ w.double().T + b.double()).relu(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(linear(x.float(), w, None), x.float() @ w.T)


def test_linear_takes_the_fused_kernel_only_on_cpu_in_fp32_without_a_graph_or_autocast(monkeypatch):
    """oneDNN's fused op has no backward and ignores autocast: anywhere else the plain ``F.linear`` must run."""
    if siren._ONEDNN_LINEAR is None:
        pytest.skip("this build has no oneDNN fused linear")
    calls = []
    fused = siren._ONEDNN_LINEAR
    monkeypatch.setattr(siren, "_ONEDNN_LINEAR", lambda *args: calls.append(args[3]) or fused(*args))
    torch.manual_seed(0)
    x, w, b = torch.randn(6, 7), torch.randn(5, 7, requires_grad=True), torch.randn(5)
    with torch.no_grad():
        torch.testing.assert_close(linear(x, w, b, relu=True), F.linear(x, w, b).relu())
    assert calls == ["relu"]
    y = linear(x, w, b)  # a graph: its gradient must reach the weight
    y.square().sum().backward()
    torch.testing.assert_close(w.grad, 2 * (x @ w.T + b).T @ x)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(x, w, b).dtype == torch.bfloat16
    with torch.no_grad():
        linear(x.double(), w.double(), b.double())
    assert calls == ["relu"]


def test_average_without_a_generator_draws_from_the_global_rng():
    torch.manual_seed(0)
    mapping = PiGanMappingNetwork(z_dim=4, hidden=4, num_film_layers=1, film_dim=2, num_hidden=1)
    torch.manual_seed(7)
    got_f, got_p = mapping.average(num_samples=5)
    torch.manual_seed(7)
    with torch.no_grad():
        want_f, want_p = (x.mean(0, keepdim=True) for x in mapping(torch.randn(5, 4)))
    torch.testing.assert_close(got_f, want_f)
    torch.testing.assert_close(got_p, want_p)
