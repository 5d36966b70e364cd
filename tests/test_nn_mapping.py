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
