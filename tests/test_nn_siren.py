"""FiLM-SIREN layers and the pi-GAN mapping network behave as pi-GAN/GRAM specify."""

import math

import pytest
import torch

from zoo3d.nn.siren import (
    ColorFiLMLayer, FiLMSirenLayer, FiLMSirenTrunk, PiGanMappingNetwork, truncate_film,
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
    assert first.abs().max() <= 1 / 3 and first.abs().max() > 0.9 / 3
    bound = math.sqrt(6 / 64) / 25
    assert hidden.abs().max() <= bound and hidden.abs().max() > 0.95 * bound
    assert abs(hidden.std().item() - bound / math.sqrt(3)) < 0.05 * bound  # uniform std


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
