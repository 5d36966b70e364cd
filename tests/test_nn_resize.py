"""The shared antialiased resize: bilinear with a triangle filter, in fp32 for half-precision inputs."""

from __future__ import annotations

import torch

from zoo3d.core.model import StepContext
from zoo3d.nn.resize import resize
from zoo3d_stylesdf.model import StyleSDFModel

from test_stylesdf_model import _config


def test_downsampling_a_ramp_averages_each_output_pixels_footprint():
    # f(x) = x at input pixel centres 0..15; halving keeps a linear function linear, and each interior
    # output pixel j (its footprint's centre at input 2j + 0.5) takes that value, whatever the filter's width
    ramp = torch.arange(16.0).expand(1, 1, 4, 16)
    out = resize(ramp, (4, 8))
    torch.testing.assert_close(out[0, 0, :, 1:-1], (2 * torch.arange(1.0, 7.0) + 0.5).expand(4, 6))
    assert resize(ramp, (4, 16)) is ramp  # already that size: untouched


def test_downsampling_white_noise_averages_the_whole_footprint():
    # 64 -> 8: a triangle filter 16 pixels wide per axis gives each output the weighted mean of about 100
    # independent pixels, std about 0.083 (sum of squared weights per axis ~ 2 / (3 * 8)); plain bilinear
    # sampling would mix only 4 pixels (std about 0.5), the aliasing the antialiased resize exists to avoid
    noise = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    assert 0.05 < resize(noise, 8).std() < 0.15


def test_bf16_input_is_resized_in_fp32_and_returned_in_bf16():
    x = torch.randn(2, 3, 32, 24).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = resize(x, (16, 12))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, resize(x.float(), (16, 12)).to(torch.bfloat16), rtol=0, atol=0)


def test_stylesdf_output_at_another_resolution_is_its_image_resized_under_autocast():
    torch.manual_seed(0)
    cfg = _config()
    plugin = StyleSDFModel()
    modules = plugin.build(cfg)
    gen = modules["generator"].eval()
    stage = plugin.stages(cfg)[-1]
    stage.on_start(StepContext(modules=modules, config=cfg, stage=stage, step=0, stage_step=0,
                               device=torch.device("cpu")))
    z, cams = torch.randn(2, 16), gen.camera_prior.frontal(2)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        native, small = gen(z, cams), gen(z, cams, resolution=(8, 8))
    assert native.rgb.shape == (2, 3, 16, 16) and small.rgb.shape == (2, 3, 8, 8)
    # the same 16² decoder image (fixed noise at inference), halved in fp32
    torch.testing.assert_close(small.rgb, resize(native.rgb.float(), 8).to(small.rgb.dtype), rtol=0, atol=0)
