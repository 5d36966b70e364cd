"""TriplaneGenerator's render and latent glue against independent answers.

The output's depth and alpha are the neural render's, resized (antialiased bilinear, as EG3D's
``filtered_resizing``) to the image side; an image side other than the native one resizes the SR output
likewise, and a non-square one is refused; ``raw`` keeps the volume renderer's weights (their sum is the
composited alpha) and sample depths; ``forward`` is represent-then-render; W+ is the truncated w repeated.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from test_triplane_training import _config
from zoo3d_triplane.generator import TriplaneGenerator


def _filtered(images: torch.Tensor, side: int) -> torch.Tensor:
    """EG3D's filtered_resizing: bilinear, antialiased, half-pixel centres."""
    return F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


@pytest.fixture(scope="module")
def setup():
    cfg = _config()
    torch.manual_seed(0)
    gen = TriplaneGenerator(cfg.generator, cfg.camera).eval()
    z = torch.randn(2, cfg.generator.z_dim, generator=torch.Generator().manual_seed(0))
    cams = cfg.camera.sample(2, generator=torch.Generator().manual_seed(1))
    return gen, z, cams


def test_depth_and_alpha_are_the_neural_renders_resized_to_the_image(setup):
    gen, z, cams = setup
    with torch.no_grad():
        out = gen(z, cams)
    assert out.raw.depth.shape[-1] == 8 and out.rgb.shape[-1] == 16
    torch.testing.assert_close(out.depth, _filtered(out.raw.depth, 16))
    torch.testing.assert_close(out.alpha, _filtered(out.raw.alpha, 16))


def test_raw_keeps_the_volume_renderers_weights_and_sample_depths(setup):
    gen, z, cams = setup
    with torch.no_grad():
        raw = gen(z, cams).raw
    torch.testing.assert_close(raw.weights.sum(1, keepdim=True), raw.alpha)  # alpha = sum of the ray's weights
    t = raw.extras["t"]
    assert t.shape[1] == raw.weights.shape[1]
    near, far = gen.cfg.near, gen.cfg.far
    assert float(t.min()) >= near - 1e-5 and float(t.max()) <= far + 1e-5 and float(t.max() - t.min()) > 0.1


def test_another_image_side_resizes_the_sr_output_and_a_non_square_one_is_refused(setup):
    gen, z, cams = setup
    with torch.no_grad():
        native = gen(z, cams)
        same = gen(z, cams, resolution=(16, 16))
        small = gen(z, cams, resolution=(12, 12))
    torch.testing.assert_close(same.rgb, native.rgb, rtol=0, atol=0)
    torch.testing.assert_close(small.rgb, _filtered(native.rgb, 12))
    torch.testing.assert_close(small.depth, _filtered(native.raw.depth, 12))
    with pytest.raises(ValueError, match=r"square images, got \(12, 16\)"):
        gen(z, cams, resolution=(12, 16))


def test_forward_is_represent_then_render_with_its_psi_and_label(setup):
    gen, z, cams = setup
    c = cams.to_eg3d()
    with torch.no_grad():
        gen.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(3))  # a truncation centre away from 0
        plain = gen.render(gen.represent(z), cams)
        assert torch.equal(gen(z, cams).rgb, plain.rgb)
        for psi, label in ((0.5, None), (1.0, c.flip(0)), (0.7, c)):
            expected = gen.render(gen.represent(z, psi, label), cams, (12, 12))
            torch.testing.assert_close(gen(z, cams, psi, (12, 12), label).rgb, expected.rgb, rtol=0, atol=0)
    assert not torch.allclose(gen(z, cams, 0.5).rgb, plain.rgb)


def test_w_plus_is_the_truncated_w_repeated_for_every_style_without_moving_the_mean(setup):
    gen, z, cams = setup
    c = cams.to_eg3d()
    with torch.no_grad():
        gen.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(4))
        mean = gen.mean_latent().clone()
        w = gen.mapping(z, gen.conditioning(2, c))
        ws = gen.map_latent(z, 0.6, c)
        torch.testing.assert_close(gen.mapping.w_avg.reshape(1, -1), mean, rtol=0, atol=0)
        assert ws.shape == (2, gen.num_ws, gen.w_dim)
        torch.testing.assert_close(ws, (mean + 0.6 * (w - mean)).unsqueeze(1).expand_as(ws))
        torch.testing.assert_close(gen.map_latent(z, 0.0), mean.expand(2, gen.num_ws, -1))
        torch.testing.assert_close(gen.map_latent(z), gen.mapping(z, gen.conditioning(2)).unsqueeze(1).expand_as(ws))
        # W+ renders as the latent it came from
        torch.testing.assert_close(gen.render(gen.represent_ws(ws), cams).rgb,
                                   gen.render(gen.represent(z, 0.6, c), cams).rgb)
