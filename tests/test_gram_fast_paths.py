"""The fast paths of GRAM and GRAM-HD against the plain formulas they replace.

* GRAM's radiance network runs as folded GEMMs (FiLM parameters folded into per-instance weights, heads
  stacked per layer, oneDNN's fused linear without a graph): it must equal the layer-by-layer FiLM-SIREN
  formula, values and gradients.
* GRAM-HD intersects its LR rays once, for the LR image and (upsampled) for the HR one: the render must
  equal the two-pass render that intersects twice.
* The super-resolution nets run channels-last with one plain convolution per instance for the modulated
  layers: they must equal the NCHW grouped-convolution computation.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.modconv import ModulatedConv2d
from zoo3d.nn.siren import linear
from zoo3d_gram.networks import RadianceNetwork, widened_sigmoid
from zoo3d_gram_hd.superres import RRDBNet, StyleRRDBNet

from test_gram_hd_consistency import toy_generator

pytestmark = pytest.mark.usefixtures("single_thread")


def _layer_by_layer(net: RadianceNetwork, p, dirs, freq, phase):
    """GRAM's radiance network as the authors write it: sin(freq * (W x + b) + phase) per layer, heads summed."""
    x = p * net.warp_scale
    xs = []
    for i, film in enumerate(net.trunk.layers):
        x = torch.sin(freq[:, i, None] * film.layer(x) + phase[:, i, None])
        xs.append(x)
    xs = xs[1:]
    sigma = sum(head(x) for head, x in zip(net.sigma_heads, xs))
    rgb = sum(head(x) for head, x in zip(net.rgb_heads[:-1], xs[:-1]))
    color_in = torch.cat([dirs, xs[-1]], dim=-1)
    color = torch.sin(freq[:, -1, None] * net.color_layer.layer(color_in) + phase[:, -1, None])
    rgb = rgb + net.rgb_heads[-1](color)
    features = sum(head(x) for head, x in zip(net.feature_heads, xs)) if net.feature_heads is not None else None
    return widened_sigmoid(rgb), F.softplus(sigma), features


@pytest.mark.parametrize("feature_dim", [0, 5])
def test_folded_radiance_network_equals_the_layer_by_layer_formula(feature_dim):
    torch.manual_seed(0)
    net = RadianceNetwork(z_dim=16, mapping_hidden=32, hidden=32, feature_dim=feature_dim)
    with torch.no_grad():  # generic biases (GRAM initialises some to zero)
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                m.bias.normal_(0, 0.3)
    freq, phase = net.style(torch.randn(2, 16))
    p = (torch.rand(2, 300, 3) - 0.5) * 0.3
    dirs = F.normalize(torch.randn(2, 300, 3), dim=-1)
    expected = _layer_by_layer(net, p, dirs, freq, phase)
    with torch.no_grad():
        fast = net(p, dirs, freq, phase)
    for a, b in zip(fast, expected):
        if b is None:
            assert a is None
            continue
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)
    # with a graph (training): the same gradients, compared in float64 where rounding cannot hide a wrong term
    net = net.double()
    freq, phase = net.style(torch.randn(2, 16, dtype=torch.float64))
    p, dirs = p.double(), dirs.double()
    expected = _layer_by_layer(net, p, dirs, freq, phase)
    fast = net(p, dirs, freq, phase)
    loss = lambda out: sum((o * (k + 1)).sum() for k, o in enumerate(out) if o is not None)  # noqa: E731
    grads = torch.autograd.grad(loss(fast), list(net.parameters()), allow_unused=True, retain_graph=True)
    ref = torch.autograd.grad(loss(expected), list(net.parameters()), allow_unused=True)
    for g, r in zip(grads, ref):
        if r is None:
            continue
        torch.testing.assert_close(g, r, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("relu", [False, True])
def test_linear_equals_addmm(relu):
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 50, 7), torch.randn(5, 7), torch.randn(5)
    expected = F.linear(x, w, b)
    expected = expected.relu() if relu else expected
    with torch.no_grad():
        torch.testing.assert_close(linear(x, w, b, relu=relu), expected, atol=1e-5, rtol=1e-5)
    y = linear(x.requires_grad_(), w, b, relu=relu)
    torch.testing.assert_close(y, expected)
    assert y.requires_grad


def test_gram_hd_renders_from_one_intersection_of_the_lr_rays():
    gen = toy_generator(view_dependent=True)
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    cams = gen.sample_cameras(2, generator=torch.Generator().manual_seed(2))
    calls = []
    intersect = gen.renderer.intersect
    gen.renderer.intersect = lambda *a, **k: calls.append(a[2]) or intersect(*a, **k)
    with torch.no_grad():
        rep = gen.represent(z)
        out = gen.render(rep, cams)
        assert calls == [gen.lr_resolution]  # once, at the LR side
        # the two-pass render: the LR image and the HR image each intersect the LR rays themselves
        low = gen.lowres.render(rep.lowres, cams, gen.lr_resolution)
        textures = gen.textures(rep, cams)
        high = gen.renderer.render(gen.hr_representation(rep, textures), cams, gen.resolution,
                                   intersection_resolution=gen.lr_resolution)
    assert torch.equal(out.raw.rgb, low.rgb)
    for key in ("rgb", "depth", "alpha", "weights", "points"):
        assert torch.equal(getattr(out, key), getattr(high, key)), key


def _modulated_reference(conv, x, style):
    """ModulatedConv2d's own grouped convolution, one style per map."""
    return ModulatedConv2d.forward(conv, x, style)


def test_style_net_equals_grouped_nchw_convolutions():
    torch.manual_seed(0)
    net = StyleRRDBNet(in_ch=6, out_ch=4, nf=8, nb=1, gc=4, scale=4, z_dim=8, style_hidden=8)
    x = torch.randn(6, 6, 5, 5)  # 2 instances x 3 manifolds, instance-major
    z = torch.randn(2, 8)
    with torch.no_grad():
        fast = net(x, z)
        styles = net.styles(z).repeat_interleave(3, dim=0)
        *s_up, s_hr, s_last = styles.split(net.style_split, dim=1)
        fea = x
        fea = net.body.conv_first(fea)
        trunk = fea
        for rrdb in net.body.trunk:
            inner = trunk
            for rdb in rrdb.blocks:
                feats = [inner]
                for conv in rdb.convs[:4]:
                    feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
                inner = inner + 0.2 * rdb.convs[4](torch.cat(feats, 1))
            trunk = trunk + 0.2 * inner
        fea = fea + net.body.trunk_conv(trunk)
        for conv, s in zip(net.up_convs, s_up):
            fea = F.leaky_relu(F.pixel_shuffle(_modulated_reference(conv, fea, s), 2), 0.2)
        fea = F.leaky_relu(_modulated_reference(net.hr_conv, fea, s_hr), 0.2)
        out = _modulated_reference(net.conv_last, fea, s_last)
        expected = torch.cat([out[:, :-1], torch.sigmoid(out[:, -1:])], dim=1)
    assert fast.is_contiguous()
    torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-5)


def test_background_net_equals_nchw_convolutions():
    torch.manual_seed(0)
    net = RRDBNet(nf=8, nb=1, gc=4, scale=4)
    torch.nn.init.normal_(net.conv_last.weight, 0, 0.1)
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        fast = net(x)
        fea = net.body.conv_first(x)
        trunk = fea
        for rrdb in net.body.trunk:
            inner = trunk
            for rdb in rrdb.blocks:
                feats = [inner]
                for conv in rdb.convs[:4]:
                    feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
                inner = inner + 0.2 * rdb.convs[4](torch.cat(feats, 1))
            trunk = trunk + 0.2 * inner
        fea = fea + net.body.trunk_conv(trunk)
        for conv in net.up_convs:
            fea = F.interpolate(F.leaky_relu(conv(fea), 0.2), scale_factor=2, mode="bilinear", align_corners=False)
        fea = F.leaky_relu(net.hr_conv(fea), 0.2)
        expected = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False) + 0.2 * net.conv_last(fea)
    assert fast.is_contiguous()
    torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-5)
