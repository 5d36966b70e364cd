"""StyleGAN2 mapping network: pixel norm, equalised lr, w_avg tracking, truncation, conditioning."""

import pytest
import torch

from zoo3d.nn.mapping import EqualLinear, MappingNetwork, pixel_norm

pytestmark = pytest.mark.usefixtures("single_thread")



def test_pixel_norm_makes_the_mapping_scale_invariant():
    torch.manual_seed(0)
    z = torch.randn(4, 32)
    assert torch.allclose(pixel_norm(z).square().mean(1), torch.ones(4), atol=1e-5)
    mapping = MappingNetwork(32, 16, num_layers=3).eval()
    torch.testing.assert_close(mapping(z), mapping(7.0 * z))


def test_equal_linear_runtime_scaling_and_lr_multiplier():
    torch.manual_seed(0)
    layer = EqualLinear(256, 128, lr_mul=0.01, bias_init=1.0)
    x = torch.randn(2048, 256)
    y = layer(x)
    # Stored weights are N(0, 1/lr_mul^2); the runtime scale gives unit gain and bias = bias_init.
    assert abs(y.mean().item() - 1.0) < 0.05
    assert abs(y.std().item() - 1.0) < 0.05
    y.sum().backward()
    # The bias receives lr_mul times its output gradient.
    torch.testing.assert_close(layer.bias.grad, torch.full((128,), 0.01 * 2048))


def test_w_avg_tracks_mean_in_training_only():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 8, num_layers=2, w_avg_beta=0.5)
    z = torch.randn(64, 8)
    mapping.eval()
    mapping(z)
    assert mapping.w_avg.abs().max() == 0
    mapping.train()
    for _ in range(30):
        w = mapping(z)
    torch.testing.assert_close(mapping.w_avg, w.detach().mean(0), atol=1e-6, rtol=1e-5)


def test_w_avg_tracks_the_mean_under_bf16_autocast():
    """Under autocast the layers emit bf16 while w_avg stays fp32 (EG3D's tri-plane trains like this on a GPU);
    the CPU's bf16 autocast reproduces the dtypes."""
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 8, num_layers=2, w_avg_beta=0.5).train()
    z = torch.randn(64, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        w = mapping(z)
    assert w.dtype == torch.bfloat16 and mapping.w_avg.dtype == torch.float32
    torch.testing.assert_close(mapping.w_avg, 0.5 * w.float().mean(0), atol=1e-2, rtol=1e-2)


def test_truncation_and_broadcast():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 8, num_layers=2, num_ws=5).eval()
    avg = mapping.compute_w_avg(2000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the mean w of the very latents drawn
        want = mapping(torch.randn(2000, 8, generator=torch.Generator().manual_seed(0)))[:, 0].mean(0)
    torch.testing.assert_close(avg, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(mapping.w_avg, want, rtol=1e-6, atol=1e-6)
    z = torch.randn(3, 8)
    ws = mapping(z)
    assert torch.equal(ws[:, 0], ws[:, 4])
    torch.testing.assert_close(mapping(z, psi=0.0), avg.expand(3, 5, 8))
    torch.testing.assert_close(mapping(z, psi=0.5) - avg, 0.5 * (ws - avg))
    cut = mapping.truncate(ws, 0.0, cutoff=2)
    torch.testing.assert_close(cut[:, :2], avg.expand(3, 2, 8))
    torch.testing.assert_close(cut[:, 2:], ws[:, 2:])


def test_conditioning_changes_w_and_is_required():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 8, num_layers=2, c_dim=25).eval()
    z = torch.randn(2, 8)
    c1, c2 = torch.randn(2, 25), torch.randn(2, 25)
    assert (mapping(z, c1) - mapping(z, c2)).abs().max() > 1e-3
    only_c = MappingNetwork(0, 8, num_layers=2, c_dim=25).eval()
    assert (only_c(None, c1) - only_c(None, c2)).abs().max() > 1e-3
    try:
        mapping(z)
    except ValueError as err:
        assert "conditioned" in str(err)
    else:
        raise AssertionError("missing c must be an error")


def _equal_lrelu(x, layer):
    """One StyleGAN2 mapping layer written out: (x W^T lr_mul / sqrt(fan_in) + b lr_mul), leaky ReLU 0.2 x sqrt(2)."""
    y = x @ (layer.weight * layer.lr_mul / layer.weight.shape[1] ** 0.5).T + layer.bias * layer.lr_mul
    return torch.where(y > 0, y, 0.2 * y) * 2 ** 0.5


def test_pixel_norm_is_x_over_root_mean_square_plus_1e8():
    x = torch.full((2, 4), 1e-4)  # mean square 1e-8, equal to eps
    x[1] = torch.tensor([3.0, -4.0, 0.0, 0.0])
    want = torch.stack([x[0] / (2e-8) ** 0.5, x[1] / (6.25 + 1e-8) ** 0.5])
    torch.testing.assert_close(pixel_norm(x), want, rtol=1e-6, atol=0)


def test_default_mapping_is_stylegan2s_eight_layers_at_lr_mul_001():
    torch.manual_seed(0)
    mapping = MappingNetwork(6, 5, hidden=7).eval()
    layers = list(mapping.layers)
    assert len(layers) == 8 and {layer.lr_mul for layer in layers} == {0.01}
    assert [tuple(layer.weight.shape) for layer in layers] == [(7, 6)] + [(7, 7)] * 6 + [(5, 7)]
    z = torch.randn(3, 6)
    x = z / z.square().mean(1, keepdim=True).sqrt()
    for layer in layers:
        x = _equal_lrelu(x, layer)
    torch.testing.assert_close(mapping(z), x, rtol=1e-5, atol=1e-5)
    assert MappingNetwork(6, 5, num_layers=2).layers[0].weight.shape == (5, 6)  # hidden defaults to w_dim


def test_conditioned_mapping_concatenates_the_normalised_latent_and_camera_embedding():
    torch.manual_seed(0)
    mapping = MappingNetwork(3, 4, num_layers=1, c_dim=5).eval()
    z, c = torch.randn(2, 3), torch.randn(2, 5)
    embed = c @ (mapping.embed.weight / 5 ** 0.5).T + mapping.embed.bias  # lr_mul 1, no activation
    x = torch.cat([z / z.square().mean(1, keepdim=True).sqrt(), embed / embed.square().mean(1, keepdim=True).sqrt()], 1)
    torch.testing.assert_close(mapping(z, c), _equal_lrelu(x, mapping.layers[0]), rtol=1e-5, atol=1e-5)
    camera_only = MappingNetwork(0, 4, num_layers=1, c_dim=1).eval()  # a 1-D condition is a condition too
    e = c[:, :1] @ camera_only.embed.weight.T + camera_only.embed.bias
    torch.testing.assert_close(camera_only(None, c[:, :1]), _equal_lrelu(e / e.square().mean(1, keepdim=True).sqrt(),
                                                                         camera_only.layers[0]), rtol=1e-5, atol=1e-5)
    latent_only = MappingNetwork(1, 4, num_layers=1).eval()  # a 1-D latent normalises to its sign
    one = torch.tensor([[2.0], [-0.5]])
    torch.testing.assert_close(latent_only(one), _equal_lrelu(one.sign(), latent_only.layers[0]))
    with pytest.raises(ValueError, match="^a mapping network needs z_dim > 0 or c_dim > 0$"):
        MappingNetwork(0, 4)


def test_w_avg_moves_by_1_minus_0995_per_training_call_and_only_when_asked():
    torch.manual_seed(0)
    mapping = MappingNetwork(4, 4, num_layers=2)
    z = torch.randn(16, 4)
    w = mapping(z).detach()
    torch.testing.assert_close(mapping.w_avg, 0.005 * w.mean(0))
    mapping(z, update_w_avg=False)
    torch.testing.assert_close(mapping.w_avg, 0.005 * w.mean(0))
    mapping.eval()(z, update_w_avg=True)
    torch.testing.assert_close(mapping.w_avg, 0.005 * w.mean(0) * (1 + 0.995))
    untracked = MappingNetwork(4, 4, num_layers=2, w_avg_beta=None)
    untracked(z)
    assert untracked.w_avg.abs().max() == 0


def test_compute_w_avg_repeats_one_camera_and_keeps_the_broadcast():
    torch.manual_seed(0)
    mapping = MappingNetwork(3, 4, num_layers=2, c_dim=5, num_ws=6).eval()
    c = torch.randn(1, 5)
    avg = mapping.compute_w_avg(50, c=c, generator=torch.Generator().manual_seed(1))
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = mapping(z, c.expand(50, -1))[:, 0].mean(0)
    torch.testing.assert_close(avg, want)
    assert mapping.num_ws == 6 and mapping(z[:2], c.expand(2, -1)).shape == (2, 6, 4)
    with torch.no_grad():  # the latents and the camera follow the network's dtype
        mapping.double()
        torch.testing.assert_close(mapping.compute_w_avg(50, c=c, generator=torch.Generator().manual_seed(1)),
                                   mapping(z.double(), c.double().expand(50, -1))[:, 0].mean(0), rtol=1e-12, atol=1e-12)
    camera_only = MappingNetwork(0, 4, num_layers=2, c_dim=5).eval()
    cs = torch.randn(7, 5)
    with torch.no_grad():
        torch.testing.assert_close(camera_only.compute_w_avg(7, c=cs), camera_only(None, cs).mean(0))
        camera_only.double()
        torch.testing.assert_close(camera_only.compute_w_avg(3, c=cs[:1]), camera_only(None, cs[:1].double())[0],
                                   rtol=1e-12, atol=1e-12)


def test_compute_w_avg_by_default_averages_10000_latents():
    torch.manual_seed(0)
    mapping = MappingNetwork(3, 4, num_layers=2).eval()
    z = torch.randn(10000, 3, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = mapping(z).mean(0)
    torch.testing.assert_close(mapping.compute_w_avg(generator=torch.Generator().manual_seed(4)), want)


def test_truncating_a_single_w_ignores_the_cutoff_and_extrapolates_past_psi_1():
    torch.manual_seed(0)
    mapping = MappingNetwork(4, 4, num_layers=2).eval()
    mapping.w_avg.copy_(torch.randn(4))
    w = torch.randn(3, 4)
    torch.testing.assert_close(mapping.truncate(w, 0.25, cutoff=1), mapping.w_avg + 0.25 * (w - mapping.w_avg))
    torch.testing.assert_close(mapping.truncate(w, 2.0), mapping.w_avg + 2 * (w - mapping.w_avg))
    half = mapping.truncate(w.bfloat16(), 0.5)  # w from an autocast region: the fp32 mean follows it
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), (mapping.w_avg + w) / 2, rtol=2e-2, atol=2e-2)
