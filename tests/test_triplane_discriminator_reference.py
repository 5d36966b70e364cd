"""EG3D's dual discriminator against the authors' code written out (eg3d training/dual_discriminator.py,
DualDiscriminator.forward and filtered_resizing 'antialiased'; training/loss.py, run_D's blur): the D input is
concat(blurred image, raw resized to the image side), the camera label optionally corrupted by
``randn * c.std(0) * disc_c_noise``, scored by the camera-conditioned StyleGAN2 trunk (tested on its own in
test_nn_discriminators_reference.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d.cameras import Camera

from zoo3d_triplane.discriminator import DualDiscriminator, blur_images

pytestmark = pytest.mark.usefixtures("single_thread")


def _filtered_resizing(image, size):
    """filtered_resizing(..., filter_mode='antialiased'): bilinear, align_corners False, antialias True."""
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _run_d_blur(image, sigma):
    """run_D: f = 2^(-(arange(-n, n + 1) / sigma)^2) for n = floor(3 sigma), filter2d(img, f / f.sum()): the
    separable kernel in both directions, zero padding n on every side, per channel."""
    n = math.floor(sigma * 3)
    if n <= 0:
        return image
    f = torch.arange(-n, n + 1, dtype=image.dtype).div(sigma).square().neg().exp2()
    f = f / f.sum()
    kernel = (f[:, None] * f[None, :]).expand(image.shape[1], 1, 2 * n + 1, 2 * n + 1)
    return F.conv2d(F.pad(image, [n, n, n, n]), kernel, groups=image.shape[1])


def _eg3d_dual(d, image, raw, c, blur_sigma=0.0, noise=None):
    """DualDiscriminator.forward after run_D's blur: torch.cat([image, filtered_resizing(raw, image side)], 1);
    ``noise`` (B, 25) stands for randn_like(c) in ``c += randn_like(c) * c.std(0) * disc_c_noise``."""
    x = torch.cat([_run_d_blur(image, blur_sigma), _filtered_resizing(raw, image.shape[-1])], dim=1)
    if noise is not None:
        c = c + noise * c.std(0) * d.c_noise
    return d.net(x, c=c).logit


def _randomised(d):
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in d.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.3)
    return d


def _dual(**kwargs):
    torch.manual_seed(0)
    return _randomised(DualDiscriminator(16, 8, channel_base=128, channel_max=16, mapping_layers=2, **kwargs))


def _inputs(batch=2):
    g = torch.Generator().manual_seed(1)
    return (torch.rand(batch, 3, 16, 16, generator=g) * 2 - 1, torch.rand(batch, 3, 8, 8, generator=g) * 2 - 1,
            torch.randn(batch, 25, generator=g))


@pytest.mark.parametrize("sigma", [0.0, 0.3, 0.5, 0.9, 1.4])
def test_the_dual_discriminator_scores_eg3ds_stacked_image_and_raw(sigma):
    """Image first, raw second; only the image half blurred (sigma 0.3: floor(0.9) = 0 taps, no blur)."""
    d = _dual().eval()
    image, raw, c = _inputs()
    torch.testing.assert_close(d(image, raw=raw, c=c, blur_sigma=sigma).logit, _eg3d_dual(d, image, raw, c, sigma),
                               rtol=1e-5, atol=1e-5)


def test_the_raw_half_of_a_real_image_is_the_image_resized_to_the_neural_resolution_and_back():
    """EG3D's reals: image_raw = filtered_resizing(real, neural_rendering_resolution), the D brings it back up."""
    d = _dual().eval()
    image, _, c = _inputs()
    expected = _eg3d_dual(d, image, _filtered_resizing(image, 8), c)
    torch.testing.assert_close(d(image, c=c).logit, expected, rtol=1e-5, atol=1e-5)
    d.raw_resolution = 4  # the recipe moves it while the neural resolution fades
    torch.testing.assert_close(d(image, c=c).logit, _eg3d_dual(d, image, _filtered_resizing(image, 4), c),
                               rtol=1e-5, atol=1e-5)


def test_the_camera_label_defaults_to_the_cameras_eg3d_label():
    """The 25 numbers EG3D conditions on: the flattened 4x4 cam2world then the flattened 3x3 intrinsics."""
    d = _dual().eval()
    image, raw, _ = _inputs()
    cams = Camera.from_angles([0.3, -0.2], [0.1, 0.0], 2.5, 14.0)
    label = torch.cat([cams.cam2world.reshape(2, 16), cams.intrinsics.reshape(2, 9)], dim=1)
    torch.testing.assert_close(d(image, cams, raw=raw).logit, _eg3d_dual(d, image, raw, label), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="^the dual discriminator is camera-conditioned: pass cameras or c$"):
        d(image, raw=raw)


def test_camera_label_noise_is_scaled_by_each_dimensions_batch_std_while_training_only():
    d = _dual(c_noise=0.5)
    image, raw, c = _inputs(batch=4)
    torch.manual_seed(7)
    trained = d.train()(image, raw=raw, c=c).logit
    torch.manual_seed(7)
    noise = torch.randn_like(c)
    torch.testing.assert_close(trained, _eg3d_dual(d, image, raw, c, noise=noise), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(trained, _eg3d_dual(d, image, raw, c), rtol=1e-4, atol=1e-4)
    clean = _eg3d_dual(d, image, raw, c)
    torch.testing.assert_close(d.eval()(image, raw=raw, c=c).logit, clean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(_dual().train()(image, raw=raw, c=c).logit, clean, rtol=1e-5, atol=1e-5)  # c_noise 0
    # without noise a batch of one is scored as it is (its label has no batch std: std(0) of one row is NaN)
    one = _dual().train()(image[:1], raw=raw[:1], c=c[:1]).logit
    torch.testing.assert_close(one, _eg3d_dual(d, image[:1], raw[:1], c[:1]), rtol=1e-5, atol=1e-5)


def test_the_trunk_is_a_six_channel_camera_conditioned_stylegan2_discriminator():
    """EG3D doubles img_channels; c_dim 25; widths min(channel_base / r, channel_max); mapping and mbstd as given."""
    d = DualDiscriminator(32, 16, channel_base=256, channel_max=12, mapping_layers=3, mbstd_group_size=2)
    assert d.net.from_rgb[0].weight.shape[:2] == (8, 6)  # 256 / 32 = 8 channels at 32 px, from six
    assert d.net.final_conv[0].weight.shape[0] == 12  # 256 / 4 = 64, capped at 12
    assert d.net.c_dim == 25 and len(d.net.mapping.layers) == 3 and d.net.mbstd_group_size == 2
    assert d.net.resolution == 32 and (d.resolution, d.raw_resolution, d.c_noise) == (32, 16, 0.0)
    default = DualDiscriminator(16, 8)
    assert default.net.from_rgb[0].weight.shape[0] == 512 and len(default.net.mapping.layers) == 8  # 32768/16 -> 512
    assert default.net.mbstd_group_size == 4 and default.net.final_conv[0].weight.shape[0] == 512


@pytest.mark.parametrize("sigma", [0.34, 0.9, 1.0, 2.5])
def test_blur_images_is_run_ds_filter(sigma):
    """Taps 2^(-(x / sigma)^2) for |x| <= floor(3 sigma): 0.34 -> 3 taps, 0.9 -> 5, 1.0 -> 7, 2.5 -> 15."""
    image = torch.randn(2, 3, 11, 13, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(blur_images(image, sigma), _run_d_blur(image, sigma), rtol=1e-5, atol=1e-6)
    assert torch.equal(blur_images(image, 0.33), image)  # floor(0.99) = 0: no taps, no blur


def test_the_models_discriminator_clamps_its_convs_at_eg3ds_256():
    """EG3D's train.py gives D conv_clamp 256 (its default --d_num_fp16_res 4), which clamps in fp32 too: the tri-plane
    model's D, as a run builds it, keeps every clamped conv's output within 256 on inputs far outside [-1, 1]."""
    from conftest import load_tiny_config
    from zoo3d.nn.discriminators import _ConvLayer
    from zoo3d_triplane.model import TriplaneModel

    cfg = load_tiny_config("triplane")
    assert cfg.discriminator.conv_clamp == 256
    torch.manual_seed(0)
    d = TriplaneModel().build(cfg)["discriminator"]
    peaks = {}
    for name, layer in d.named_modules():
        if isinstance(layer, _ConvLayer) and not name.endswith("skip"):
            layer.register_forward_hook(lambda m, i, o, name=name: peaks.__setitem__(name, o.abs().max().item()))
    res = cfg.generator.resolution
    image = torch.full((4, 3, res, res), 1e4)
    d(image, raw=image[..., :cfg.generator.neural_resolution, :cfg.generator.neural_resolution],
      c=torch.randn(4, 25))
    assert peaks["net.from_rgb"] == 256.0  # saturated: 1e4 times a unit-scale conv is far beyond 256
    assert len(peaks) > 3 and max(peaks.values()) <= 256.0
