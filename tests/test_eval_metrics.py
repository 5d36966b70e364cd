"""Metric cores: image metrics, SWD, FID/KID plumbing, EPI and depth consistency direction."""

import numpy as np
import pytest
import torch

from zoo3d.cameras import yaw_sweep
from zoo3d.errors import UserError
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.depth import depth_consistency
from zoo3d.eval.epi import epi_image, epi_roughness, shift_rows
from zoo3d.eval.fid import StandInExtractor, features, fid_from_features, inception_path, kid_from_features
from zoo3d.eval.image_metrics import load_lpips, psnr, ssim
from zoo3d.eval.metric import render_instance, summarize
from zoo3d.eval.swd import laplacian_pyramid, swd


def _smooth_images(n, res=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(low, size=(res, res), mode="bicubic", align_corners=False).clamp(-1, 1)


def test_psnr_matches_closed_form_and_ssim_is_one_for_identical():
    a = torch.zeros(2, 3, 16, 16)
    b = a + 0.2  # 0.1 on the [0, 1] scale -> 20 dB
    assert torch.allclose(psnr(b, a), torch.full((2,), 20.0), atol=1e-4)
    x = _smooth_images(2)
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    assert (ssim(x, x + 0.3 * torch.randn_like(x)) < 0.9).all()


def test_summarize_reports_sample_std():
    s = summarize([1.0, 3.0])
    assert s["mean"] == 2.0 and abs(s["std"] - 2 ** 0.5) < 1e-12 and s["n"] == 2


def test_laplacian_pyramid_reconstructs_the_image():
    x = _smooth_images(2, 64)
    levels = laplacian_pyramid(x)
    from zoo3d.eval.swd import _binomial_kernel, _blur

    k = _binomial_kernel(3, x.device, x.dtype)
    rec = levels[-1]
    for band in reversed(levels[:-1]):
        up = torch.zeros_like(band)
        up[..., ::2, ::2] = rec
        rec = band + _blur(up, k * 4)
    assert torch.allclose(rec, x, atol=1e-5)


def test_swd_of_dataset_with_itself_is_near_zero_and_large_against_noise():
    data = _smooth_images(24, 32, seed=1)
    same = swd(data, data.clone(), patches_per_image=32, seed=3)["mean"]
    other_half = swd(_smooth_images(24, 32, seed=2), data, patches_per_image=32, seed=3)["mean"]
    noise = swd(torch.rand_like(data) * 2 - 1, data, patches_per_image=32, seed=3)["mean"]
    assert same < 1e-6
    assert noise > 1.5 * other_half > 0  # same-distribution sets differ only by sampling noise


def test_fid_plumbing_with_stand_in_extractor():
    ext = StandInExtractor()
    real = features(ext, _smooth_images(48, 16, seed=4))
    same_dist = features(ext, _smooth_images(48, 16, seed=5))
    noise = features(ext, torch.rand(48, 3, 16, 16) * 2 - 1)
    assert abs(fid_from_features(real, real)) < 1e-6
    assert fid_from_features(noise, real) > 3 * fid_from_features(same_dist, real)
    assert kid_from_features(noise, real) > kid_from_features(same_dist, real)
    assert kid_from_features(noise, real, seed=1) == kid_from_features(noise, real, seed=1)


def test_missing_inception_weights_say_where_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO3D_INCEPTION", raising=False)
    with pytest.raises(UserError, match="inception-2015-12-05.pt.*--inception"):
        inception_path(None)
    with pytest.raises(UserError, match="does not exist"):
        inception_path(tmp_path / "nope.pt")


def test_missing_lpips_backbone_names_file_and_folder(tmp_path):
    with pytest.raises(UserError, match="alexnet-owt-7be5be79.pth"):
        load_lpips(weights=tmp_path / "alexnet-owt-7be5be79.pth")


def test_epi_shift_search_recovers_subpixel_motion():
    x = torch.linspace(0, 6.28, 48)
    base = torch.stack([torch.sin(x), torch.cos(2 * x), torch.sin(3 * x)])[None]   # (1, 3, W)
    moving = torch.cat([shift_rows(base, torch.tensor([0.5 * f]))[0] for f in range(8)])  # (F, 3, W)
    # colour channels moving in opposite directions: no single shift predicts the next row
    split = torch.cat([shift_rows(base, torch.tensor([0.5 * f * s for s in (1.0, -1.0, 2.0)]))[:, 0] for f in range(8)])
    split = torch.stack([split[f * 3 + c, c] for f in range(8) for c in range(3)]).reshape(8, 3, -1)
    smooth = epi_roughness(moving.permute(1, 0, 2))
    inconsistent = epi_roughness(split.permute(1, 0, 2))
    assert smooth < 0.05 * inconsistent


@pytest.fixture(scope="module")
def sphere_sweeps():
    cams = yaw_sweep(16, 0.4)
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))
    return cams, {c: render_instance(TexturedSphereGenerator(consistent=c), z, cams, 32) for c in (True, False)}


def test_epi_ranks_consistent_sphere_better(sphere_sweeps):
    _, out = sphere_sweeps
    good = epi_roughness(epi_image(out[True]["rgb"], 16))
    bad = epi_roughness(epi_image(out[False]["rgb"], 16))
    assert good < 0.5 * bad


def test_depth_consistency_is_near_zero_for_exact_depth_and_ranks_geometry_noise(sphere_sweeps):
    cams, out = sphere_sweeps
    cams, depth, alpha = cams[::3], out[True]["depth"][::3], out[True]["alpha"][::3]
    exact = depth_consistency(depth, alpha, cams)
    g = torch.Generator().manual_seed(0)
    wobble = depth + 0.01 * torch.randn(len(cams), 1, 1, 1, generator=g)  # each view's surface moved along rays
    assert exact < 4.0  # half the ~6e-3 pixel footprint of a 32 px view of the sphere, x 1e3
    assert depth_consistency(wobble, alpha, cams) > 2 * exact


def test_features_feed_the_extractor_0_255_images_in_batches():
    seen = []

    def extractor(x):
        seen.append(x.clone())
        return x.flatten(1)[:, :2] * 2

    images = torch.linspace(-1.5, 1.5, 5 * 3 * 2 * 2).reshape(5, 3, 2, 2)
    out = features(extractor, images, batch=2)
    assert [len(x) for x in seen] == [2, 2, 1]
    expected = ((images + 1) * 127.5).clamp(0, 255)
    torch.testing.assert_close(torch.cat(seen), expected)
    assert out.dtype == np.float64 and out.shape == (5, 2)
    np.testing.assert_allclose(out, expected.flatten(1)[:, :2].double().numpy() * 2)


def test_the_stand_in_extractor_is_fixed_by_its_seed_and_frozen():
    a, b = StandInExtractor(), StandInExtractor()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not any(p.requires_grad for p in a.parameters())
    assert not torch.equal(StandInExtractor(seed=1).convs[0].weight, a.convs[0].weight)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 255
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert a(x).shape == (2, 64)


def test_inception_weights_come_from_the_argument_or_the_environment(monkeypatch, tmp_path):
    weights = tmp_path / "inception-2015-12-05.pt"
    weights.write_bytes(b"x")
    monkeypatch.delenv("ZOO3D_INCEPTION", raising=False)
    assert inception_path(weights) == weights
    assert inception_path(tmp_path) == weights  # a folder holding the file
    monkeypatch.setenv("ZOO3D_INCEPTION", str(tmp_path))
    assert inception_path(None) == weights
    monkeypatch.setenv("ZOO3D_INCEPTION", str(weights))
    assert inception_path(None) == weights
    monkeypatch.delenv("ZOO3D_INCEPTION")
    with pytest.raises(UserError) as err:
        inception_path(None)
    assert "does not exist" not in str(err.value) and str(err.value).startswith("FID/KID need the Inception weights: download")
