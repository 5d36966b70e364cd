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
    with pytest.raises(ValueError):
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
    with pytest.raises(ValueError, match="residual=True"):
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
