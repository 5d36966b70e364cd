"""The image and distribution metrics against independent references, to tight tolerances.

SSIM against scikit-image's (Wang et al.'s Gaussian-window settings); FID against the closed form
for Gaussians whose sample moments are set exactly, and against clean-fid's own function; KID
against a direct computation of the unbiased MMD^2 estimator; LPIPS' mapping of torchvision's
AlexNet into the lpips package against the package run on torchvision's own layers with the same
random weights; PSNR against its formula.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
import pytest
import torch

from zoo3d.eval.fid import fid_from_features, kid_from_features
from zoo3d.eval.image_metrics import load_lpips, lpips_distance, psnr, ssim


# ----------------------------------------------------------------------------------------- SSIM
def _skimage_ssim(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    from skimage.metrics import structural_similarity

    x, y = ((a.double() + 1) / 2).clamp(0, 1).numpy(), ((b.double() + 1) / 2).clamp(0, 1).numpy()
    return np.array([structural_similarity(xi, yi, channel_axis=0, data_range=1.0, gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False) for xi, yi in zip(x, y)])


def _structured_pairs(res: int = 48):
    """Images with structure: smooth ramps and blobs, a shifted copy, a blurred copy, contrast and
    brightness changes, a checkerboard, a constant image."""
    c = torch.linspace(-1, 1, res)
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    scene = torch.stack([torch.sin(3 * xx) * torch.cos(2 * yy), xx * yy, torch.exp(-4 * (xx ** 2 + yy ** 2)) * 2 - 1])
    scene = scene.clamp(-1, 1)
    shifted = torch.roll(scene, shifts=(2, -3), dims=(1, 2))
    blurred = torch.nn.functional.avg_pool2d(scene[None], 5, 1, 2, count_include_pad=False)[0]
    checker = ((torch.arange(res)[:, None] // 4 + torch.arange(res)[None] // 4) % 2).float().expand(3, res, res) * 2 - 1
    a = torch.stack([scene, scene, scene, scene, checker, torch.full_like(scene, 0.2)])
    b = torch.stack([shifted, blurred, 0.5 * scene, (scene + 0.3).clamp(-1, 1), blurred, torch.full_like(scene, -0.4)])
    return a, b


def test_ssim_matches_scikit_image_on_structured_images():
    a, b = _structured_pairs()
    np.testing.assert_allclose(ssim(a, b).double().numpy(), _skimage_ssim(a, b), rtol=0, atol=1e-6)


def test_ssim_matches_scikit_image_on_random_images():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 3, 32, 40, generator=g) * 2 - 1
    noise = torch.randn(4, 3, 32, 40, generator=g)
    b = (a + torch.tensor([0.05, 0.2, 0.5, 1.0]).view(4, 1, 1, 1) * noise).clamp(-1, 1)  # from similar to unrelated
    ours, ref = ssim(a, b).double().numpy(), _skimage_ssim(a, b)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    assert ref[0] > 0.9 and ref[-1] < 0.6  # the pairs span a wide range, so the comparison has teeth


@pytest.mark.parametrize("size", [(7, 30), (30, 7), (5, 5)])
def test_ssim_shrinks_its_window_to_the_smaller_side_of_tiny_images(size):
    g = torch.Generator().manual_seed(4)
    a = torch.rand(2, 3, *size, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(2, 3, *size, generator=g)).clamp(-1, 1)
    torch.testing.assert_close(ssim(a, b), ssim(a, b, window=min(size)), rtol=0, atol=0)


def test_ssim_of_a_constant_pair_is_the_luminance_term():
    """Constant images x = a, y = b on [0, 1]: SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01)^2 (no variance)."""
    a, b = 0.6, 0.3
    x, y = torch.full((1, 3, 16, 16), 2 * a - 1), torch.full((1, 3, 16, 16), 2 * b - 1)
    c1 = 0.01 ** 2
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-6)


# ------------------------------------------------------------------------------------------ FID
def _with_moments(n: int, mean: np.ndarray, cov_factor: np.ndarray, seed: int) -> np.ndarray:
    """n samples whose sample mean is exactly ``mean`` and sample covariance (np.cov) exactly A A^T."""
    d = len(mean)
    z = np.random.default_rng(seed).standard_normal((n, d))
    z -= z.mean(0)
    white = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return white @ cov_factor.T + mean


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _frechet_closed_form(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)."""
    r = _psd_sqrt(s1)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(_psd_sqrt(r @ s2 @ r)))


def test_fid_of_diagonal_gaussians_is_the_closed_form():
    d = 6
    mu1, mu2 = np.zeros(d), np.linspace(-0.5, 0.5, d)
    v1, v2 = np.linspace(0.5, 3.0, d), np.linspace(4.0, 0.2, d)
    a = _with_moments(200, mu1, np.diag(np.sqrt(v1)), seed=1)
    b = _with_moments(300, mu2, np.diag(np.sqrt(v2)), seed=2)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-7)
    assert np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2) > 5 * np.sum((mu1 - mu2) ** 2)  # covariance term dominates


def test_fid_of_full_covariance_gaussians_is_the_closed_form():
    d = 5
    rng = np.random.default_rng(3)
    f1, f2 = rng.standard_normal((d, d)), rng.standard_normal((d, d)) * 0.7  # non-commuting covariances
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = _with_moments(150, mu1, f1, seed=4), _with_moments(180, mu2, f2, seed=5)
    expected = _frechet_closed_form(mu1, f1 @ f1.T, mu2, f2 @ f2.T)
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-7)
    # identical moments: zero; the same covariance moved by a mean shift: the squared shift
    assert fid_from_features(a, a.copy()) == pytest.approx(0.0, abs=1e-7)
    assert fid_from_features(a, a + 0.25) == pytest.approx(d * 0.0625, rel=1e-6)


def test_fid_equals_clean_fids_own_function_on_the_same_features():
    from cleanfid.fid import fid_from_feats

    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((120, 16)), rng.standard_normal((90, 16)) * 1.3 + 0.2
    assert fid_from_features(a, b) == pytest.approx(float(fid_from_feats(a, b)), rel=1e-12)


def test_fid_of_fewer_images_than_features_is_the_closed_form_without_a_warning():
    """A singular covariance (the small protocol's 256 images against Inception's 2048 features): the square
    root's eigenvalues below zero are round-off, and no SciPy deprecation (``sqrtm(disp=...)``) is touched."""
    import warnings

    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((10, 32)), rng.standard_normal((12, 32)) * 0.8 + 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = fid_from_features(a, b)
    expected = _frechet_closed_form(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert value == pytest.approx(expected, rel=1e-9) and value > 0


# ------------------------------------------------------------------------------------------ KID
def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """MMD^2_u with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3, term by term."""
    d = x.shape[1]
    k = lambda p, q: (p @ q.T / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def test_kid_of_equal_sized_sets_is_the_unbiased_mmd():
    """With both sets of size m (< 1000) every clean-fid subset is the whole set, so KID = MMD^2_u exactly."""
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((60, 8)), rng.standard_normal((60, 8)) * 1.2 + 0.3
    expected = _unbiased_mmd2(a, b)
    assert kid_from_features(a, b) == pytest.approx(expected, rel=1e-9)
    assert expected > 0.05
    same = rng.standard_normal((60, 8))
    assert kid_from_features(same, same.copy()) == pytest.approx(_unbiased_mmd2(same, same), rel=1e-9)


def test_kid_uses_clean_fids_protocol_and_leaves_numpys_global_rng_alone():
    """100 subsets of at most 1000 features, drawn with the given seed (clean-fid's defaults). Sets here are
    under 1000, so the subset cap is not exercised (the harness never draws 1000 images on a CPU)."""
    from cleanfid.fid import kernel_distance

    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((40, 3)), rng.standard_normal((70, 3)) + 0.1  # subsets of 40 of b's 70
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    got = kid_from_features(a, b, seed=5)
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(5)
    assert got == kernel_distance(a, b, num_subsets=100, max_subset_size=1000)
    assert got != kid_from_features(a, b, seed=6)  # the seed is used


# ---------------------------------------------------------------------------------------- LPIPS
@pytest.fixture(scope="module")
def random_alexnet(tmp_path_factory):
    """torchvision's AlexNet with random weights (scaled so every layer's activations are O(1)), and its file."""
    import torchvision

    torch.manual_seed(0)
    alex = torchvision.models.alexnet(weights=None).eval()
    with torch.no_grad():
        for layer in alex.features:
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.mul_(3.0)
                layer.bias.normal_(0, 0.1)
    path = tmp_path_factory.mktemp("alexnet") / "alexnet-owt-7be5be79.pth"
    torch.save(alex.state_dict(), path)
    return alex, path


def test_lpips_maps_torchvision_alexnet_into_the_lpips_package_layer_by_layer(random_alexnet):
    """The same random AlexNet weights: load_lpips (torchvision state dict -> lpips slices) against the lpips
    package running torchvision's own feature layers (ReLU outputs 1, 4, 7, 9, 11) with its shipped heads."""
    import lpips

    alex, path = random_alexnet
    ours = load_lpips(weights=path)

    class TorchvisionTaps(torch.nn.Module):
        def __init__(self, features):
            super().__init__()
            self.features = features

        def forward(self, x):
            taps = []
            for i, layer in enumerate(self.features):
                x = layer(x)
                if i in (1, 4, 7, 9, 11):
                    taps.append(x)
            return namedtuple("Taps", "relu1 relu2 relu3 relu4 relu5")(*taps)

    reference = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    reference.net = TorchvisionTaps(alex.features)

    g = torch.Generator().manual_seed(1)
    a, _ = _structured_pairs(64)
    x = torch.cat([a[:4], torch.rand(2, 3, 64, 64, generator=g) * 2 - 1])
    y = torch.cat([torch.roll(a[:4], 3, dims=-1), torch.rand(2, 3, 64, 64, generator=g) * 2 - 1])
    with torch.no_grad():
        got = lpips_distance(ours, x, y)
        expected = reference(x, y, normalize=False).flatten()
    assert expected.min() > 1e-3  # non-degenerate distances
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)
    assert torch.all(lpips_distance(ours, x, x) == 0)


def test_lpips_of_images_under_alexnets_smallest_input_is_that_of_their_upsampled_copies(random_alexnet):
    """The tiny presets' 16 px images: AlexNet leaves nothing of them, so they are scored at 64 px."""
    import torch.nn.functional as F

    from zoo3d.eval.image_metrics import LPIPS_SMALL_SIDE

    ours = load_lpips(weights=random_alexnet[1])
    g = torch.Generator().manual_seed(3)
    x, y = (torch.rand(2, 3, 16, 16, generator=g) * 2 - 1 for _ in range(2))
    up = lambda t: F.interpolate(t, size=(LPIPS_SMALL_SIDE,) * 2, mode="bilinear", align_corners=False)  # noqa: E731
    with torch.no_grad():
        got = lpips_distance(ours, x, y)
        torch.testing.assert_close(got, lpips_distance(ours, up(x), up(y)), rtol=0, atol=0)
    assert got.min() > 1e-3 and torch.all(lpips_distance(ours, x, x) == 0)


# ----------------------------------------------------------------------------------------- PSNR
def test_psnr_is_ten_log10_of_one_over_the_mse_per_image():
    g = torch.Generator().manual_seed(2)
    a = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1
    b = (a + torch.tensor([0.02, 0.1, 0.4]).view(3, 1, 1, 1) * torch.randn(3, 3, 8, 8, generator=g)).clamp(-1, 1)
    mse = (((a + 1) / 2 - (b + 1) / 2) ** 2).flatten(1).mean(1).double()
    torch.testing.assert_close(psnr(b, a).double(), 10 * torch.log10(1 / mse), rtol=1e-5, atol=0)
    assert psnr(a, a).tolist() == pytest.approx([100.0] * 3)  # identical images: the 1e-10 MSE floor
    # out-of-range values are clamped to [-1, 1] first: white against 2 is 0 dB away from nothing
    assert psnr(torch.full((1, 3, 4, 4), 2.0), torch.ones(1, 3, 4, 4)).item() == pytest.approx(100.0)
    assert psnr(torch.full((1, 3, 4, 4), -3.0), -torch.ones(1, 3, 4, 4)).item() == pytest.approx(100.0)
    assert psnr(torch.ones(1, 3, 4, 4), -torch.ones(1, 3, 4, 4)).item() == pytest.approx(-10 * math.log10(1.0))


def test_lpips_reads_the_backbone_from_torchs_cache_and_refuses_a_file_that_is_not_alexnet(random_alexnet, tmp_path,
                                                                                           monkeypatch):
    import shutil

    from zoo3d.errors import UserError
    from zoo3d.eval.image_metrics import ALEXNET_FILE, torch_hub_checkpoints

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = torch_hub_checkpoints()
    assert cache == tmp_path / "torch" / "hub" / "checkpoints"
    with pytest.raises(UserError) as err:
        load_lpips()
    assert ALEXNET_FILE in str(err.value) and str(cache) in str(err.value)
    state = random_alexnet[0].state_dict()
    cache.mkdir(parents=True)
    shutil.copy(random_alexnet[1], cache / ALEXNET_FILE)
    model = load_lpips()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    params = dict(model.net.named_parameters())
    torch.testing.assert_close(params["slice5.10.weight"], state["features.10.weight"], rtol=0, atol=0)
    torch.testing.assert_close(params["slice1.0.bias"], state["features.0.bias"], rtol=0, atol=0)
    truncated = {k: v for k, v in state.items() if not k.startswith("features.10.")}
    torch.save(truncated, tmp_path / "cut.pth")
    with pytest.raises(UserError, match=r"'.*cut\.pth' is not a torchvision AlexNet checkpoint \(missing features\.10\.weight\)"):
        load_lpips(weights=tmp_path / "cut.pth")
    assert next(load_lpips(device="meta").parameters()).device.type == "meta"  # moved where it is asked


class _FirstValues(torch.nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :2048].reshape(x.shape[0], 2048, 1, 1)


class _InceptionStandIn(torch.nn.Module):
    """Scripted like clean-fid's Inception file: ``layers`` maps the network input to (B, 2048, 1, 1)."""

    def __init__(self):
        super().__init__()
        self.layers = _FirstValues()
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.layers(x)


def save_inception_stand_in(path):
    """A TorchScript file in the Inception file's shape whose features are the first 2048 input values."""
    torch.jit.script(_InceptionStandIn()).save(str(path))
    return path


def test_the_inception_extractor_feeds_clean_fids_clean_mode_input_to_the_network(tmp_path):
    """The extractor must hand the network clean-fid's "clean" resize (PIL bicubic to 299 on float [0, 255])
    scaled to (x - 128) / 128, as clean-fid's own feature extractor does."""
    from cleanfid.resize import build_resizer

    from zoo3d.eval.fid import InceptionExtractor

    extractor = InceptionExtractor(save_inception_stand_in(tmp_path / "inception-2015-12-05.pt"))
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 20, 24, generator=g) * 255
    got = extractor(images)
    resize = build_resizer("clean")
    arrays = images.permute(0, 2, 3, 1).numpy().astype(np.float32)
    resized = torch.from_numpy(np.stack([resize(a) for a in arrays])).permute(0, 3, 1, 2)
    assert resized.shape == (2, 3, 299, 299)
    expected = ((resized - 128) / 128).flatten(1)[:, :2048]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_kid_takes_any_protocol_seed():
    """The protocol's seeds go up to 2**63 - 1; numpy's legacy seed takes 32 bits, so the seed is folded."""
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((1200, 4)), rng.standard_normal((1100, 4)) + 0.1  # > 1000: subsets are drawn
    assert kid_from_features(a, b, seed=2**40 + 5) == kid_from_features(a, b, seed=5)
    assert kid_from_features(a, b, seed=5) != kid_from_features(a, b, seed=6)

