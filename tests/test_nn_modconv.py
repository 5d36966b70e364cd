"""Modulated convolution, FIR resampling and the StyleGAN2 synthesis network."""

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.fir import Upsample
from zoo3d.nn.modconv import ModulatedConv2d, NoiseInjection, StyledConv, StyleSynthesis, ToRGB


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
    with torch.no_grad():
        conv.activate.bias.fill_(-30.0), clamped.activate.bias.fill_(-30.0)
    assert conv(x, s).min() < -1.5
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



def test_unit_style_without_demodulation_is_a_plain_conv_with_the_equalised_weight():
    """StyleGAN2: w' = w s / sqrt(fan_in), fan_in = in * k^2; a unit style leaves the equalised conv."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 5, None, demodulate=False, bias=True)
    with torch.no_grad():
        conv.bias.copy_(torch.randn(5))
    x = torch.randn(2, 4, 6, 6)
    want = F.conv2d(x, conv.weight / 10.0, conv.bias, padding=2)  # sqrt(4 * 5^2) = 10
    torch.testing.assert_close(conv(x, torch.ones(2, 4)), want)
    s = torch.rand(2, 4) + 0.5  # a style scales the input channels
    torch.testing.assert_close(conv(x, s), F.conv2d(x * s[:, :, None, None], conv.weight / 10.0, conv.bias, padding=2))
    wide = F.conv2d(x.double() * s.double()[:, :, None, None], conv.weight.double() / 10.0, conv.bias.double(), padding=2)
    torch.testing.assert_close(conv(x.double(), s), wide, rtol=1e-6, atol=1e-6)  # the kernels follow the input's dtype
    assert set(ModulatedConv2d(4, 5, 3, 6).state_dict()) == {"weight", "modulation.weight", "modulation.bias"}


def test_the_affine_style_starts_as_a_unit_scale():
    """The modulation layer's bias starts at 1: a zero style vector leaves the kernel as it is."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(3, 2, 3, 7, demodulate=False)
    torch.testing.assert_close(conv.modulated_weight(torch.zeros(2, 7)), (conv.weight * conv.scale).expand(2, -1, -1, -1, -1))


def test_demodulated_filters_have_unit_norm_per_sample_and_output_channel():
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 4, 3, 5)
    w = conv.modulated_weight(3.0 * torch.randn(3, 5))
    torch.testing.assert_close(w.square().sum(dim=(2, 3, 4)), torch.ones(3, 4))
    plain = ModulatedConv2d(6, 4, 3, 5, demodulate=False)
    plain.load_state_dict(conv.state_dict())
    raw = plain.modulated_weight(s := 3.0 * torch.randn(3, 5))
    torch.testing.assert_close(conv.modulated_weight(s), raw / raw.square().sum(dim=(2, 3, 4), keepdim=True).sqrt())
    silent = ModulatedConv2d(6, 4, 3, None).modulated_weight(torch.zeros(1, 6))  # eps keeps a zero filter zero
    assert torch.equal(silent, torch.zeros_like(silent))


def test_grouped_upsampling_conv_matches_per_sample_transposed_convolution():
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 3, 3, 6, up=True)
    x, style = torch.randn(2, 4, 5, 5), torch.randn(2, 6)
    w = conv.modulated_weight(style)
    per_sample = [conv.blur(F.conv_transpose2d(x[i:i + 1], w[i].transpose(0, 1), stride=2)) for i in range(2)]
    torch.testing.assert_close(conv(x, style), torch.cat(per_sample))


def test_styled_conv_is_conv_plus_scaled_noise_then_bias_and_lrelu_times_sqrt2():
    torch.manual_seed(0)
    layer = StyledConv(3, 4, 3, 5, resolution=6)
    with torch.no_grad():
        layer.noise.weight.fill_(0.7), layer.activate.bias.copy_(torch.randn(4))
    x, s, noise = torch.randn(2, 3, 6, 6), torch.randn(2, 5), torch.randn(2, 1, 6, 6)
    pre = layer.conv(x, s) + 0.7 * noise + layer.activate.bias.view(1, -1, 1, 1)
    want = torch.where(pre > 0, pre, 0.2 * pre) * 2 ** 0.5
    torch.testing.assert_close(layer(x, s, noise=noise), want)
    torch.testing.assert_close(layer(x, s, noise_mode="const"), layer(x, s, noise=layer.noise.noise_const))
    torch.testing.assert_close(layer.conv.modulated_weight(s).square().sum(dim=(2, 3, 4)), torch.ones(2, 4))  # demodulated
    same = layer(x[:1].expand(2, -1, -1, -1), s[:1].expand(2, -1), noise_mode="const")
    torch.testing.assert_close(same[0], same[1])  # one constant map for every sample


def test_torgb_is_an_undemodulated_1x1_conv_plus_bias():
    torch.manual_seed(0)
    to_rgb = ToRGB(4, 5, upsample=False)
    with torch.no_grad():
        to_rgb.bias.copy_(torch.randn(1, 3, 1, 1))
    x, style = torch.randn(2, 4, 3, 3), torch.randn(2, 5)
    s = to_rgb.conv.modulation(style)
    want = torch.einsum("oi,bi,bihw->bohw", to_rgb.conv.weight[:, :, 0, 0] / 2.0, s, x) + to_rgb.bias  # sqrt(4 * 1)
    torch.testing.assert_close(to_rgb(x, style), want)


def test_random_noise_is_one_fresh_map_per_sample_shared_by_the_channels():
    torch.manual_seed(0)
    inject = NoiseInjection()
    with torch.no_grad():
        inject.weight.fill_(2.0)
    x = torch.zeros(2, 3, 48, 64)
    added = inject(x) / 2.0
    assert torch.equal(added[:, 0], added[:, 2])
    assert abs(added.std().item() - 1) < 0.05 and (added[0] - added[1]).abs().max() > 1  # N(0, 1), per sample
    torch.manual_seed(5)
    first = inject(x)
    torch.manual_seed(5)
    assert torch.equal(inject(x), first)
    assert torch.equal(inject(x + 1, mode="none"), x + 1)


def test_noise_modes_refuse_what_they_cannot_do():
    with pytest.raises(ValueError, match="^no constant noise for \\(8, 8\\) maps: build the layer with that resolution$"):
        NoiseInjection(resolution=4)(torch.zeros(1, 1, 8, 8), mode="const")
    with pytest.raises(ValueError, match="no constant noise"):
        NoiseInjection()(torch.zeros(1, 1, 8, 8), mode="const")
    with pytest.raises(ValueError, match="noise mode must be 'random', 'const' or 'none', got 'fixed'"):
        NoiseInjection()(torch.zeros(1, 1, 8, 8), mode="fixed")


def test_synthesis_is_stylegan2s_skip_network_with_its_style_indices():
    """conv1 takes w0 and the first ToRGB w1; block i's two convs take w(2i+1), w(2i+2) and its ToRGB w(2i+3),
    each ToRGB adding the up-sampled image so far (rosinality's StyleGAN2 layout)."""
    torch.manual_seed(0)
    net = StyleSynthesis(4, 3, 16, lambda res: 5, noise=False)  # widths unlike w_dim: every layer maps its style
    ws = torch.randn(3, 6, 4)
    with torch.no_grad():
        out = net.conv1(net.const.expand(3, -1, -1, -1), ws[:, 0])
        image = net.to_rgb1(out, ws[:, 1])
        for i in range(2):
            out = net.convs[2 * i + 1](net.convs[2 * i](out, ws[:, 2 * i + 1]), ws[:, 2 * i + 2])
            image = net.to_rgbs[i](out, ws[:, 2 * i + 3]) + Upsample()(image)
        torch.testing.assert_close(net(ws), image)


def test_synthesis_forwards_the_noise_mode_to_every_layer_and_builds_3x3_convs():
    torch.manual_seed(0)
    net = StyleSynthesis(4, 3, 32, lambda res: 5)  # noise layers by default, each with its own constant map
    plain = StyleSynthesis(4, 3, 32, lambda res: 5, noise=False)
    plain.load_state_dict(net.state_dict(), strict=False)
    assert not any("noise" in name for name in plain.state_dict())  # noise=False: no noise layer anywhere
    ws = torch.randn(1, 8, 4)
    layers = [m for m in net.modules() if isinstance(m, StyledConv)]
    assert len(layers) == 7 and {m.conv.kernel_size for m in layers} == {3}
    with torch.no_grad():
        assert (net(ws) - plain(ws)).abs().max() == 0  # noise strengths start at 0
        torch.testing.assert_close(net(ws, noise_mode="none"), plain(ws))
        for layer in layers:  # each layer, alone with noise, takes its constant map
            layer.noise.weight.fill_(1.0)
            const = net(ws, noise_mode="const")
            assert torch.equal(const, net(ws, noise_mode="const"))
            assert (const - plain(ws)).abs().max() > 1e-3
            assert (net(ws) - net(ws)).abs().max() > 1e-3  # "random" by default
            layer.noise.weight.fill_(0.0)


def test_synthesis_builds_every_resampling_filter_from_its_blur_kernel():
    net = StyleSynthesis(4, 3, 16, lambda res: 4, blur_kernel=(1, 2, 1))
    kernels = [m.kernel for m in net.modules() if hasattr(m, "kernel")]
    assert len(kernels) == 4  # two up-sampling convs, two up-sampled skips
    want = torch.tensor([1.0, 2.0, 1.0]).outer(torch.tensor([1.0, 2.0, 1.0])) / 16 * 4
    for k in kernels:
        torch.testing.assert_close(k, want)


def test_synthesis_refuses_sizes_and_inputs_it_cannot_take():
    with pytest.raises(ValueError, match="resolution 24 must be start_res 4 times a power of two"):
        StyleSynthesis(4, 3, 24, lambda res: 4)
    with pytest.raises(ValueError, match="must be start_res"):
        StyleSynthesis(4, 3, 2, lambda res: 4)
    assert StyleSynthesis(4, 3, 4, lambda res: 4, noise=False)(torch.randn(1, 4)).shape == (1, 3, 4, 4)  # no doubling
    net = StyleSynthesis(4, 3, 8, lambda res: 4, noise=False)
    with pytest.raises(ValueError, match="expected 4 styles, got 5"):
        net(torch.randn(1, 5, 4))
    fed = StyleSynthesis(4, 3, 8, lambda res: 4, in_channels=2, noise=False)
    with pytest.raises(ValueError, match="^this synthesis network starts from input features: pass x$"):
        fed(torch.randn(1, 4, 4))
