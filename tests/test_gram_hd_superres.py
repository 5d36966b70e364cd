"""GRAM-HD's super-resolution networks (zoo3d_gram_hd.superres): the foreground style net and the background net."""

import pytest
import torch
import torch.nn.functional as F

from zoo3d_gram_hd.superres import RRDBNet, StyleRRDBNet, default_up_channels

pytestmark = pytest.mark.usefixtures("single_thread")


def test_background_net_starts_as_bicubic_upsampling():
    torch.manual_seed(0)
    net = RRDBNet(nf=8, nb=1, gc=4, scale=4)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    bicubic = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.equal(net(x), bicubic)
    with torch.no_grad():
        net.conv_last.bias.fill_(1.0)
    torch.testing.assert_close(net(x), bicubic + 0.2)


def test_style_net_alpha_and_styles():
    torch.manual_seed(0)
    net = StyleRRDBNet(in_ch=36, out_ch=4, nf=8, nb=1, gc=4, scale=4, z_dim=8, style_hidden=8)
    x = torch.randn(4, 36, 4, 4)  # 2 instances x 2 manifolds, instance-major
    z = torch.randn(2, 8)
    raw = []
    net.conv_last.register_forward_hook(lambda m, i, o: raw.append(o))
    out = net(x, z)
    assert out.shape == (4, 4, 16, 16)
    # rgb is the linear output, alpha the sigmoid of the last channel.
    torch.testing.assert_close(out[:, :3], raw[0][:, :3])
    torch.testing.assert_close(out[:, 3], torch.sigmoid(raw[0][:, 3]))
    assert out[:, 3].min() > 0 and out[:, 3].max() < 1
    # Manifolds of one instance share its z.
    torch.testing.assert_close(out[:2], net(x[:2], z[:1]))
    assert (net(x[:2], z[1:]) - out[:2]).abs().max() > 1e-4
    # psi = 0 replaces every z by the style average (which must be computed first).
    with pytest.raises(ValueError, match=r"^truncation needs the style average: call compute_style_average\(\) first$"):
        net(x[:2], z[:1], psi=0.5)
    net.compute_style_average(500, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the mean style of the very latents drawn
        mean_style = net.mapping(torch.randn(500, 8, generator=torch.Generator().manual_seed(0))).mean(0)
    torch.testing.assert_close(net.style_avg, mean_style, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(net(x[:2], z[:1], psi=0.0), net(x[:2], z[1:], psi=0.0))
    torch.testing.assert_close(net.styles(z, psi=0.25), mean_style + 0.25 * (net.mapping(z) - mean_style))


def test_up_channel_defaults_follow_gram_hd():
    assert default_up_channels(4, style=True) == [64, 64]
    assert default_up_channels(16, style=True) == [64, 64, 32, 16]
    assert default_up_channels(8, style=False) == [64, 32, 16]
    with pytest.raises(ValueError):
        default_up_channels(3, style=False)


def test_style_net_residual_starts_as_bicubic_and_learns_detail():
    torch.manual_seed(0)
    net = StyleRRDBNet(in_ch=6, out_ch=4, nf=8, nb=1, gc=4, scale=2, z_dim=8, up_channels=[8], style_hidden=8,
                       residual=True)
    x = torch.rand(2, 6, 5, 5)
    z = torch.randn(1, 8)
    base = F.interpolate(x[:, :4], scale_factor=2, mode="bicubic", align_corners=False)
    out = net(x, z)
    torch.testing.assert_close(out[:, :3], base[:, :3])
    torch.testing.assert_close(out[:, 3], base[:, 3].clamp(0, 1))
    # The zero gain still receives a gradient, so the learned detail can grow.
    target = base.detach() + 0.1 * torch.randn_like(base)
    F.mse_loss(net(x, z), target).backward()
    assert net.residual_gain.grad is not None and net.residual_gain.grad.abs() > 0


def test_both_nets_add_their_learned_detail_to_a_given_base_instead_of_bicubic():
    """``base`` replaces bicubic up-sampling as the skip; the learned part is the same either way."""
    torch.manual_seed(0)
    style = StyleRRDBNet(in_ch=6, out_ch=4, nf=8, nb=1, gc=4, scale=2, z_dim=8, up_channels=[8], style_hidden=8,
                         residual=True)
    background = RRDBNet(3, 3, nf=8, nb=1, gc=4, scale=2, up_channels=[8])
    with torch.no_grad():
        style.residual_gain.fill_(0.5)
        background.conv_last.weight.normal_(0, 0.1)
    x, z = torch.rand(2, 6, 5, 5), torch.randn(1, 8)
    base = torch.rand(2, 4, 10, 10)
    bicubic = F.interpolate(x[:, :4], scale_factor=2, mode="bicubic", align_corners=False)
    detail = style(x, z)[:, :3] - bicubic[:, :3]
    assert detail.abs().max() > 1e-3
    torch.testing.assert_close(style(x, z, base=base)[:, :3], base[:, :3] + detail)
    bg_detail = background(x[:, :3]) - bicubic[:, :3]
    assert bg_detail.abs().max() > 1e-3
    torch.testing.assert_close(background(x[:, :3], base=base[:, :3]), base[:, :3] + bg_detail)
    upstream = StyleRRDBNet(in_ch=6, out_ch=4, nf=8, nb=1, gc=4, scale=2, z_dim=8, up_channels=[8], style_hidden=8)
    with pytest.raises(ValueError, match=r"^a base for the residual needs StyleRRDBNet\(residual=True\)$"):
        upstream(x, z, base=base)


def test_upstream_kernels_are_stored_as_used_so_adam_turns_them_as_it_turns_gram_hds_nn_conv2d():
    # GRAM-HD's ModConv2D is an nn.Conv2d: Adam moves the kernel it uses by ~lr an element. The equalised form
    # (unit-std kernel x 1/sqrt(fan_in) when used) moved it 1/sqrt(fan_in) as far: 20-40 times slower.
    from zoo3d_gram_hd.superres import SharedStyleModulatedConv2d

    torch.manual_seed(0)
    up = SharedStyleModulatedConv2d(8, 16, 3)
    eq = SharedStyleModulatedConv2d(8, 16, 3, kernels="equalized")
    fan_in = 8 * 9
    plain = torch.nn.Conv2d(8, 16, 3)
    assert up.weight.std().item() == pytest.approx(plain.weight.std().item(), rel=0.15)  # nn.Conv2d's init
    assert up.scale == 1.0 and eq.scale == pytest.approx(fan_in ** -0.5)
    with torch.no_grad():
        eq.weight.copy_(up.weight * fan_in ** 0.5)  # the same function in the other form
    x, style = torch.randn(2, 8, 6, 6), torch.rand(2, 8) + 0.5
    torch.testing.assert_close(eq(x, style), up(x, style), atol=1e-5, rtol=1e-5)
    lr, moved = 1e-3, {}
    for name, layer in (("upstream", up), ("equalized", eq)):
        used = (layer.weight * layer.scale).detach().clone()
        opt = torch.optim.Adam([layer.weight], lr=lr)
        (layer(x, style) * torch.linspace(-1, 1, 16)[None, :, None, None]).sum().backward()
        sign = layer.weight.grad.sign()
        opt.step()
        moved[name] = ((layer.weight * layer.scale).detach() - used, sign)
    step, sign = moved["upstream"]
    torch.testing.assert_close(step, -lr * sign, atol=lr * 1e-3, rtol=0)  # Adam's first step on the used kernel
    step, sign = moved["equalized"]
    torch.testing.assert_close(step, -lr * fan_in ** -0.5 * sign, atol=lr * 1e-3, rtol=0)


def test_a_release_imports_its_modulated_kernels_unchanged_and_an_equalized_config_rescales_them():
    from zoo3d_gram_hd.upstream import sr_state_from_upstream

    kernel = torch.randn(16, 8, 3, 3) * 0.02
    release = {"super_resolution.upconvs.0.weight": kernel, "super_resolution.upconvs.0.bias": torch.zeros(16)}
    state, _ = sr_state_from_upstream(release, "super_resolution.", "fg.", True, "r.pt")
    assert torch.equal(state["fg.up_convs.0.weight"], kernel)
    state, _ = sr_state_from_upstream(release, "super_resolution.", "fg.", True, "r.pt", equalized=True)
    torch.testing.assert_close(state["fg.up_convs.0.weight"], kernel * 72 ** 0.5)


def _parameter_count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_default_nets_are_gram_hds_ffhq256_networks():
    """Counts of the authors' StyleRRDBNet(36, 4, w_dim=256, nf=64, nb=8, gc=32, up_channels=[64, 64], to_rgb_ks=1,
    use_mapping_network=True) and RRDBNet(3, 3, nf=64, nb=4, gc=32, up_channels=[64, 32], use_pixel_shuffle=False,
    global_residual=True): GRAM-HD's x4 configs with 32 feature channels."""
    foreground, background = StyleRRDBNet(), RRDBNet()
    assert _parameter_count(foreground) == 6408900 and foreground.scale == 4
    assert _parameter_count(background) == 2981923 and background.scale == 4


def test_nets_take_the_widths_of_their_own_kind():
    style = StyleRRDBNet(nf=8, nb=1, gc=4, scale=4, z_dim=8, style_hidden=8)
    background = RRDBNet(nf=8, nb=1, gc=4, scale=4)
    assert [conv.out_channels for conv in style.up_convs] == [4 * 64, 4 * 64]  # pixel shuffle: 4c -> c
    assert [conv.out_channels for conv in background.up_convs] == [64, 32]
    assert default_up_channels(4, style=False) == [64, 32]
    assert default_up_channels(16, style=False) == [64, 32, 16, 8]
    assert default_up_channels(32, style=False) == [64, 32, 16, 8, 8]  # past GRAM-HD's x16 the last width repeats
    assert default_up_channels(32, style=True) == [64, 64, 32, 16, 16]
    with pytest.raises(ValueError, match="power of two >= 2, got 6"):
        default_up_channels(6, style=True)
    with pytest.raises(ValueError, match=r"needs 2 entries for scale 4, got \[8\]"):
        RRDBNet(nf=8, nb=1, gc=4, scale=4, up_channels=[8])


def _authors_modconv(conv, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """GRAM-HD's ModConv2D, one map at a time: kernel x style per input channel, demodulated, plus bias."""
    w = conv.weight[None] * conv.scale * style[:, None, :, None, None]
    w = w * (w.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    return torch.cat([F.conv2d(x[i:i + 1], w[i], conv.bias, padding=conv.kernel_size // 2) for i in range(len(x))])


def _authors_style_forward(net: StyleRRDBNet, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """GRAM-HD's StyleRRDBNet.forward_with_style: each modulated conv reads the next in_channels of the style."""
    style = net.mapping(z).repeat_interleave(x.shape[0] // z.shape[0], dim=0)
    start = 0

    def modconv(conv, fea):
        nonlocal start
        out = _authors_modconv(conv, fea, style[:, start:start + conv.in_channels])
        start += conv.in_channels
        return out

    fea = net.body.conv_first(x)
    fea = fea + net.body.trunk_conv(net.body.trunk(fea))
    for conv in net.up_convs:
        fea = F.leaky_relu(F.pixel_shuffle(modconv(conv, fea), 2), 0.2)
    out = modconv(net.conv_last, F.leaky_relu(modconv(net.hr_conv, fea), 0.2))
    assert start == style.shape[1]
    return torch.cat([out[:, :-1], torch.sigmoid(out[:, -1:])], dim=1)


def test_style_net_equals_the_authors_forward_at_three_upsampling_stages():
    torch.manual_seed(0)
    net = StyleRRDBNet(in_ch=6, out_ch=4, nf=8, nb=1, gc=4, scale=8, z_dim=8, up_channels=[8, 6, 4],
                       style_hidden=8, last_kernel=3)
    with torch.no_grad():
        for conv in (*net.up_convs, net.hr_conv, net.conv_last):
            conv.bias.normal_()
    x, z = torch.randn(4, 6, 3, 3), torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(net(x, z), _authors_style_forward(net, x, z), atol=1e-5, rtol=1e-5)


def test_shared_style_conv_computes_what_modulated_conv_does():
    from zoo3d.nn.modconv import ModulatedConv2d
    from zoo3d_gram_hd.superres import SharedStyleModulatedConv2d

    torch.manual_seed(0)
    x = torch.randn(6, 4, 5, 5)
    for kernel, bias, style_dim in ((1, True, None), (3, False, None), (5, True, 3)):
        shared = SharedStyleModulatedConv2d(4, 5, kernel, style_dim, bias=bias, kernels="equalized")
        plain = ModulatedConv2d(4, 5, kernel, style_dim, bias=bias)
        if bias:
            torch.nn.init.normal_(shared.bias)
        plain.load_state_dict(shared.state_dict())
        styles = torch.rand(2, style_dim or 4) + 0.5
        with torch.no_grad():
            expected = plain(x, styles.repeat_interleave(3, dim=0))
            torch.testing.assert_close(shared(x, styles), expected, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(shared(x, styles.repeat_interleave(3, dim=0)), expected, atol=1e-5, rtol=1e-5)
            half = shared(x.bfloat16(), styles)  # fp32 kernel and bias follow bf16 activations
        assert half.dtype == torch.bfloat16
        torch.testing.assert_close(half.float(), expected, atol=0.1, rtol=0.05)
    with pytest.raises(ValueError, match="^5 maps cannot share 2 styles in equal groups$"):
        shared(x[:5], styles)
    with pytest.raises(ValueError, match="'upstream' or 'equalized', got 'plain'"):
        SharedStyleModulatedConv2d(4, 5, 3, kernels="plain")


def test_upstream_kernels_start_with_nn_conv2ds_std():
    """nn.Conv2d's default init is uniform on +-1/sqrt(fan_in): std 1/sqrt(3 fan_in)."""
    from zoo3d_gram_hd.superres import SharedStyleModulatedConv2d

    torch.manual_seed(0)
    conv = SharedStyleModulatedConv2d(64, 64, 3)
    assert conv.kernels == "upstream" and conv.scale == 1.0
    assert conv.weight.std().item() == pytest.approx((3 * 64 * 9) ** -0.5, rel=0.02)


def test_style_net_builds_every_modulated_conv_with_its_kernels():
    net = StyleRRDBNet(in_ch=6, out_ch=4, nf=8, nb=1, gc=4, scale=2, z_dim=8, up_channels=[4], style_hidden=8,
                       last_kernel=3, kernels="equalized")
    for conv in (*net.up_convs, net.hr_conv, net.conv_last):
        assert conv.kernels == "equalized" and conv.scale == pytest.approx((conv.in_channels * 9) ** -0.5)


def test_style_mapping_starts_kaiming_normal_for_leaky_relu_0_2():
    """GRAM-HD's kaiming_leaky_init: std = sqrt(2 / (1 + 0.2^2)) / sqrt(fan_in)."""
    torch.manual_seed(0)
    net = StyleRRDBNet(in_ch=6, out_ch=4, nf=8, nb=1, gc=4, scale=2, z_dim=256, up_channels=[4], style_hidden=256)
    weights = torch.cat([net.mapping[i].weight.flatten() for i in (0, 2, 4)])
    assert weights.std().item() == pytest.approx((2 / 1.04 / 256) ** 0.5, rel=0.005)


def test_style_average_defaults_to_10000_latents_of_the_global_generator_in_the_nets_dtype():
    torch.manual_seed(0)
    net = StyleRRDBNet(in_ch=6, out_ch=4, nf=8, nb=1, gc=4, scale=2, z_dim=4, up_channels=[4], style_hidden=8)
    torch.manual_seed(1)
    average = net.compute_style_average().clone()
    torch.manual_seed(1)
    with torch.no_grad():
        torch.testing.assert_close(average, net.mapping(torch.randn(10000, 4)).mean(0))
    net.double()
    generator = torch.Generator().manual_seed(2)
    average = net.compute_style_average(100, generator=generator)
    with torch.no_grad():
        z = torch.randn(100, 4, generator=torch.Generator().manual_seed(2)).double()
        torch.testing.assert_close(average, net.mapping(z).mean(0))
    z = torch.randn(1, 4, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        net.float()
        truncated = net.styles(z.float(), psi=0.5)
    torch.testing.assert_close(truncated.float(), net.styles(z.float(), psi=0.5), atol=0.05, rtol=0.05)


def test_style_net_residual_adds_gain_times_its_raw_output():
    torch.manual_seed(0)
    net = StyleRRDBNet(in_ch=4, out_ch=4, nf=8, nb=1, gc=4, scale=2, z_dim=8, up_channels=[8], style_hidden=8,
                       residual=True)  # in_ch == out_ch: the whole input is the rgba to up-sample
    with torch.no_grad():
        net.residual_gain.fill_(0.5)
    raw = []
    net.conv_last.register_forward_hook(lambda m, i, o: raw.append(o))
    x, z = torch.rand(2, 4, 5, 5), torch.randn(1, 8)
    out = net(x, z)
    bicubic = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    torch.testing.assert_close(out[:, :3], bicubic[:, :3] + 0.5 * raw[0][:, :3])
    torch.testing.assert_close(out[:, 3], (bicubic[:, 3] + 0.5 * raw[0][:, 3]).clamp(0, 1))
    assert (raw[0][:, :3].abs() > 0.01).float().mean() > 0.5
    with pytest.raises(ValueError, match="^StyleRRDBNet's residual needs in_ch >= out_ch$"):
        StyleRRDBNet(in_ch=3, out_ch=4, nf=8, nb=1, gc=4, scale=2, z_dim=8, up_channels=[8], residual=True)
    with pytest.raises(ValueError, match="^RRDBNet's global bicubic residual needs in_ch == out_ch$"):
        RRDBNet(4, 3, nf=8, nb=1, gc=4, scale=2, up_channels=[8])
    with pytest.raises(ValueError, match=r"^batch of textures \(3\) is not a multiple of the batch of z \(2\)$"):
        net(x[:1].expand(3, -1, -1, -1), torch.randn(2, 8))


def test_trunk_runs_channels_last_on_cpu():
    """oneDNN's NHWC convolutions are the fast ones on CPU; the returned maps are plain contiguous."""
    layouts = []
    net = RRDBNet(nf=8, nb=1, gc=4, scale=2, up_channels=[8])
    net.body.conv_first.register_forward_pre_hook(
        lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    out = net(torch.rand(2, 3, 4, 4))
    assert layouts == [True] and out.is_contiguous()
