"""Modulated convolution, FIR resampling and the StyleGAN2 synthesis network."""

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.fir import Upsample
from zoo3d.nn.modconv import ModulatedConv2d, StyledConv, StyleSynthesis, ToRGB


pytestmark = pytest.mark.usefixtures("single_thread")


def test_demodulation_keeps_unit_variance():
    torch.manual_seed(0)
    x, style = torch.randn(8, 64, 12, 12), 5.0 * torch.randn(8, 16)
    demod = ModulatedConv2d(64, 64, 3, 16)
    plain = ModulatedConv2d(64, 64, 3, 16, demodulate=False)
    plain.load_state_dict(demod.state_dict())
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # away from zero padding
    assert abs(demod(x, style)[inner].var().item() - 1.0) < 0.1
    assert abs(plain(x, style)[inner].var().item() - 1.0) > 1.0  # the style scale leaks through without it


def test_grouped_conv_matches_per_sample_convolution():
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, 6)
    x, style = torch.randn(3, 4, 7, 7), torch.randn(3, 6)
    w = conv.modulated_weight(style)
    expected = torch.cat([F.conv2d(x[i:i + 1], w[i], padding=1) for i in range(3)])
    torch.testing.assert_close(conv(x, style), expected)
    assert (conv(x, style)[0] - conv(x, style.flip(0))[0]).abs().max() > 1e-3


def test_upsampling_conv_has_no_checkerboard():
    torch.manual_seed(0)
    conv = ModulatedConv2d(3, 2, 3, 4, up=True)
    out = conv(torch.ones(2, 3, 8, 8), torch.randn(2, 4))
    assert out.shape[-2:] == (16, 16)
    inner = out[:, :, 3:-3, 3:-3]
    torch.testing.assert_close(inner, inner[:, :, :1, :1].expand_as(inner))
    # A box kernel on a ramp: the x2 output is the ramp at the finer pixel centres (no half-pixel shift).
    box = ModulatedConv2d(1, 1, 3, None, demodulate=False, up=True)
    with torch.no_grad():
        box.weight.fill_(1.0)
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    row = box(ramp, torch.ones(1, 1))[0, 0, 16] / (9 * box.scale)
    torch.testing.assert_close(row[4:-4], (torch.arange(32.0) / 2 - 0.25)[4:-4])


def test_fir_resampling_of_a_ramp():
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    up = Upsample()(ramp)[0, 0, 8]
    torch.testing.assert_close(up[2:-2], torch.arange(32.0)[2:-2] / 2 - 0.25)  # pixel centres of the finer grid


def test_torgb_adds_upsampled_skip_and_noise_is_optional():
    torch.manual_seed(0)
    to_rgb = ToRGB(8, 4, out_channels=3)
    x, s, skip = torch.randn(2, 8, 8, 8), torch.randn(2, 4), torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(to_rgb(x, s, skip) - to_rgb(x, s), Upsample()(skip))
    conv = StyledConv(8, 8, 3, 4, resolution=8)
    with torch.no_grad():
        conv.noise.weight.fill_(1.0)
    for mode in ("none", "const"):
        torch.testing.assert_close(conv(x, s, noise_mode=mode), conv(x, s, noise_mode=mode))
    assert (conv(x, s, noise_mode="const") - conv(x, s, noise_mode="none")).abs().max() > 1e-3
    assert (conv(x, s) - conv(x, s)).abs().max() > 1e-3


def test_synthesis_consumes_every_style():
    torch.manual_seed(0)
    net = StyleSynthesis(8, 6, 16, {4: 8, 8: 8, 16: 4}, noise=False)
    assert net.num_ws == 6
    ws = torch.randn(2, 6, 8)
    base = net(ws)
    assert base.shape == (2, 6, 16, 16)
    for k in range(6):
        changed = ws.clone()
        changed[:, k] += 1.0
        assert (net(changed) - base).abs().max() > 1e-4, f"style {k} unused"
    torch.testing.assert_close(net(ws[:, 0]), net(ws[:, :1].expand(-1, 6, -1)))
    fed = StyleSynthesis(8, 3, 8, lambda r: 8, start_res=4, in_channels=5, noise=False)
    with pytest.raises(ValueError):
        fed(ws[:, :4])
    feats = torch.randn(2, 5, 4, 4)
    assert (fed(ws[:, :4], feats) - fed(ws[:, :4], -feats)).abs().max() > 1e-4


def test_conv_clamp_bounds_activations_and_torgb_outputs_only_when_set():
    torch.manual_seed(0)
    x, s = torch.randn(1, 4, 8, 8), torch.randn(1, 4)
    conv, clamped = StyledConv(4, 4, 3, 4, noise=False), StyledConv(4, 4, 3, 4, noise=False, clamp=1.0)
    clamped.load_state_dict(conv.state_dict())
    with torch.no_grad():
        conv.activate.bias.fill_(3.0), clamped.activate.bias.fill_(3.0)
    assert conv(x, s).max() > 1.5
    torch.testing.assert_close(clamped(x, s), conv(x, s).clamp(-1.0, 1.0))
    rgb, rgb_clamped = ToRGB(4, 4, upsample=False), ToRGB(4, 4, upsample=False, clamp=0.5)
    rgb_clamped.load_state_dict(rgb.state_dict())
    skip = torch.full((1, 3, 8, 8), 2.0)
    torch.testing.assert_close(rgb_clamped(x, s, skip), rgb(x, s).clamp(-0.5, 0.5) + skip)  # the skip is not clamped


def test_a_synthesis_network_clamps_every_layer_it_builds():
    """StyleSynthesis(clamp=c) is the same network with each conv and ToRGB clamped at c (EG3D's fp16 backbone)."""
    torch.manual_seed(0)
    free = StyleSynthesis(4, 3, 8, lambda res: 4, noise=False)
    clamped = StyleSynthesis(4, 3, 8, lambda res: 4, noise=False, clamp=1.0)
    loose = StyleSynthesis(4, 3, 8, lambda res: 4, noise=False, clamp=1e9)
    clamped.load_state_dict(free.state_dict()), loose.load_state_dict(free.state_dict())
    for net in (free, clamped, loose):
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, StyledConv):
                    m.activate.bias.fill_(3.0)
    ws = torch.randn(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(loose(ws), free(ws))
        assert (clamped(ws) - free(ws)).abs().max() > 0.1
    # every layer carries the clamp (what a clamp does to one layer is tested above)
    layers = [m for m in clamped.modules() if isinstance(m, (StyledConv, ToRGB))]
    assert len(layers) == 2 + 3 * 1 and {m.clamp for m in layers} == {1.0}

