"""The ``neus`` metric's bookkeeping with the NeuS fit replaced by a stand-in whose errors are set exactly.

The stand-in (marked as such: it fits nothing) returns the views plus a known offset: a constant
(coarse band only) and a checkerboard (detail band only), with different amplitudes for the true
and the permuted cameras. The gains, PSNRs and timings the metric reports then have closed forms.
"""

import math

import pytest
import torch

import zoo3d.eval.neus.metric as neus_metric
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.image_metrics import psnr
from zoo3d.eval.metric import EvalContext, EvalModel, instance_latent, protocol_cameras, render_instance
from zoo3d.eval.neus.fit import NeusFit
from zoo3d.eval.neus.metric import NeusMetric, control_permutation, detail_mse, unit_mse
from zoo3d.eval.protocol import make_protocol

RES, VIEWS = 8, 4


def _checkerboard(n: int = 1, c: int = 3, size: int = RES) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (1.0 - 2.0 * ((x + y) % 2)).float().expand(n, c, size, size)


def _nyquist_response(sigma: float) -> float:
    """Gain of the discrete Gaussian (taps to ceil(3 sigma), normalised) at the Nyquist frequency."""
    radius = max(1, math.ceil(3 * sigma))
    taps = [math.exp(-i * i / (2 * sigma * sigma)) for i in range(-radius, radius + 1)]
    return sum(t * (-1) ** abs(i) for i, t in zip(range(-radius, radius + 1), taps)) / sum(taps)


def test_control_permutation_is_a_fixed_derangement():
    perm = control_permutation(30)
    assert sorted(perm.tolist()) == list(range(30))
    assert not bool((perm == torch.arange(30)).any())      # no view keeps its own camera
    assert torch.equal(perm, control_permutation(30))     # the same for every model and run


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0])
def test_detail_band_keeps_the_checkerboard_and_drops_a_constant(sigma):
    views = torch.zeros(2, 3, RES, RES)
    a, c = 0.3, 0.5
    # a checkerboard is an eigenimage of a separable symmetric blur: it is scaled by r^2 (r per axis)
    keep = 1 - _nyquist_response(sigma) ** 2
    assert detail_mse(views + a * _checkerboard(2), views, sigma) == pytest.approx((keep * a / 2) ** 2, rel=1e-5)
    assert detail_mse(views + c, views, sigma) == pytest.approx(0.0, abs=1e-12)
    both = views + c + a * _checkerboard(2)
    assert detail_mse(both, views, sigma) == pytest.approx((keep * a / 2) ** 2, rel=1e-5)
    assert unit_mse(both, views) == pytest.approx((a * a + c * c) / 4, rel=1e-6)


def test_detail_band_is_of_the_residual_not_of_either_image():
    views = 0.4 * _checkerboard(2)  # detailed views, fitted exactly: no detail error
    assert detail_mse(views.clone(), views, 1.0) == 0.0
    assert detail_mse(torch.zeros_like(views), views, 1.0) > 0.01  # a blank fit misses all of it


def test_errors_are_taken_on_the_clamped_range_the_fits_see():
    renders = 0.5 * _checkerboard(2)
    over = 1.8 * _checkerboard(2)  # the fit's target is the view clamped to [-1, 1]: +-1
    assert unit_mse(renders, over) == pytest.approx((0.5 / 2) ** 2, rel=1e-6)  # |0.5 - 1| / 2 per pixel
    assert unit_mse(renders, over) == pytest.approx(unit_mse(renders, over.clamp(-1, 1)), rel=1e-6)
    assert detail_mse(renders, over, 1.0) == pytest.approx(detail_mse(renders, over.clamp(-1, 1), 1.0), rel=1e-6)
    assert unit_mse(1.5 * _checkerboard(2), over) == 0.0  # both clamp to the same image


class _StandInFit:
    """Stand-in for ``fit_neus`` (it fits nothing): views + constant + checkerboard, amplitudes per camera set."""

    def __init__(self, true_cameras, true=(0.1, 0.2), control=(0.3, 0.5), restarts=None, bare=()):
        self.true_cameras, self.true, self.control = true_cameras, true, control
        self.restarts = restarts or {}  # (seed, is_true) -> the restarts that fit reports
        self.bare = set(bare)  # (seed, is_true) of the fits that report no surface (opacity 0)
        self.calls = []

    def __call__(self, images, cameras, settings, seed=0):
        is_true = torch.equal(cameras.origins, self.true_cameras.origins)
        self.calls.append((is_true, seed, settings))
        const, amp = self.true if is_true else self.control
        renders = images + const + amp * _checkerboard(len(images), size=images.shape[-1])
        return NeusFit(renders, 1.5 if is_true else 2.25, 0.0, 1.0, settings.iterations,
                       restarts=self.restarts.get((seed, is_true), 0),
                       opacity=0.0 if (seed, is_true) in self.bare else 0.8)


class _ExactFit:
    """Stand-in for ``fit_neus`` (it fits nothing): re-renders every view exactly and records what it was given."""

    def __init__(self):
        self.images, self.origins = [], []

    def __call__(self, images, cameras, settings, seed=0):
        self.images.append(images.clone())
        self.origins.append(cameras.origins.clone())
        return NeusFit(images.clone(), 0.0, 0.0, 1.0, 1)


class _DimSphere(TexturedSphereGenerator):
    """The textured sphere at a fifth of its contrast, so views plus the stand-in's offsets stay in [-1, 1]."""

    def render(self, representation, cameras, resolution=None):
        out = super().render(representation, cameras, resolution)
        out.rgb = 0.2 * out.rgb
        return out


def _run(monkeypatch, tmp_path=None, generator=None, sigma=1.0, instances=3, restarts=None, bare=()):
    protocol = make_protocol("small", instances=instances, resolution=RES, views=VIEWS, neus_detail_sigma=sigma)
    generator = generator or _DimSphere(resolution=RES)
    cams = protocol_cameras(generator, protocol)
    fake = _StandInFit(cams, restarts=restarts, bare=bare)
    monkeypatch.setattr(neus_metric, "fit_neus", fake)
    done = []
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[7, 8, 9][:instances], out_dir=tmp_path,
                      progress=done.append)
    result = NeusMetric().evaluate(EvalModel("m", generator), ctx)
    return result, fake, ctx, done, cams, generator


def test_gains_psnr_and_seconds_have_their_closed_forms(monkeypatch):
    # the control of seed 8 lost its surface twice; the true fit of seed 9 kept none
    result, fake, ctx, done, cams, gen = _run(monkeypatch, restarts={(8, False): 2}, bare={(9, True)})
    keep = 1 - _nyquist_response(1.0) ** 2
    detail = 1000 * ((keep * 0.5 / 2) ** 2 - (keep * 0.2 / 2) ** 2)
    full = 1000 * ((0.3 ** 2 + 0.5 ** 2) / 4 - (0.1 ** 2 + 0.2 ** 2) / 4)
    assert set(result) == {"neus_detail_gain", "neus_gain", "neus_psnr", "neus_ssim", "neus_control_psnr",
                           "neus_seconds", "neus_restarts"}
    assert result["neus_restarts"] == [0.0, 2.0, 0.0]
    assert [n for n in ctx.notes if "surface" in n] == [
        "m: seed 8: a NeuS fit lost its surface and was drawn again (0 true, 2 control).",
        "m: seed 9: the true NeuS fit kept no surface in 3 attempts; its gain measures no consistency."]
    assert result["neus_detail_gain"] == pytest.approx([detail] * 3, rel=1e-4)
    assert result["neus_gain"] == pytest.approx([full] * 3, rel=1e-5)
    assert result["neus_seconds"] == [3.75] * 3
    for i, seed in enumerate([7, 8, 9]):
        views = render_instance(gen, instance_latent(gen, seed, torch.device("cpu")), cams, RES)["rgb"]
        fit = views + 0.1 + 0.2 * _checkerboard(VIEWS)
        control = views + 0.3 + 0.5 * _checkerboard(VIEWS)
        assert result["neus_psnr"][i] == pytest.approx(float(psnr(fit, views).mean()), rel=1e-6)
        assert result["neus_control_psnr"][i] == pytest.approx(float(psnr(control, views).mean()), rel=1e-6)
    assert 0 < result["neus_ssim"][0] < 1
    # two fits per instance, the true one first, each seeded by the instance seed with the protocol's settings
    assert [(t, s) for t, s, _ in fake.calls] == [(True, 7), (False, 7), (True, 8), (False, 8), (True, 9), (False, 9)]
    assert all(settings is ctx.protocol.neus for _, _, settings in fake.calls)
    assert done == [1, 1, 1]
    assert len(ctx.notes) == 2  # the surfaces': the sphere is strictly consistent


def test_detail_gain_follows_the_protocol_band(monkeypatch):
    narrow, *_ = _run(monkeypatch, sigma=0.5, instances=1)
    wide, *_ = _run(monkeypatch, sigma=2.0, instances=1)
    for result, sigma in ((narrow, 0.5), (wide, 2.0)):
        keep = 1 - _nyquist_response(sigma) ** 2
        assert result["neus_detail_gain"][0] == pytest.approx(1000 * keep ** 2 * (0.25 ** 2 - 0.1 ** 2), rel=1e-4)


def test_control_sees_the_views_under_the_permuted_cameras(monkeypatch):
    protocol = make_protocol("small", instances=1, resolution=RES, views=VIEWS)
    gen = TexturedSphereGenerator(resolution=RES)
    cams = protocol_cameras(gen, protocol)
    fit = _ExactFit()
    monkeypatch.setattr(neus_metric, "fit_neus", fit)
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[0])
    NeusMetric().evaluate(EvalModel("m", gen), ctx)
    assert torch.equal(fit.origins[0], cams.origins)
    assert torch.equal(fit.origins[1], cams.origins[control_permutation(VIEWS)])


def test_evidence_for_the_first_two_instances_and_a_note_for_2d_upsamplers(monkeypatch, tmp_path):
    gen = TexturedSphereGenerator(resolution=RES)
    gen.strictly_3d_consistent = False
    _, _, ctx, _, _, _ = _run(monkeypatch, tmp_path=tmp_path, generator=gen)
    saved = sorted(p.name for p in (tmp_path / "m" / "neus").iterdir())
    assert saved == sorted(f"seed{s}_{k}.png" for s in (7, 8) for k in ("views", "neus", "control"))
    assert len(ctx.notes) == 1 and "not strictly 3D-consistent" in ctx.notes[0]


def test_protocol_info_records_the_band_and_the_control():
    protocol = make_protocol("small", views=VIEWS, neus_detail_sigma=1.5, yaw_range=0.3, pitch=0.1,
                             psi_consistency=0.7)
    info = NeusMetric().protocol_info(EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[0]))
    note = info.pop("note")
    assert "neus_gain" in note and "neus_detail_gain" in note and "detail_sigma" in note
    assert info == {"views": VIEWS, "yaw_range": protocol.yaw_range, "pitch": protocol.pitch,
                    "about": "each model's centre view (camera prior yaw_mean, centre_pitch)",
                    "psi": protocol.psi_consistency, "neus": protocol.neus.model_dump(), "detail_sigma": 1.5,
                    "control": {"permutation": control_permutation(VIEWS).tolist(), "seed": 0}}


@pytest.mark.parametrize("views", range(2, 13))
def test_control_permutation_never_keeps_a_view_for_any_count(views):
    perm = control_permutation(views)
    assert sorted(perm.tolist()) == list(range(views)) and not bool((perm == torch.arange(views)).any())


def test_views_are_rendered_at_the_protocol_resolution_and_truncation(monkeypatch):
    """The protocol's resolution overrides the generator's; None falls back to it; psi is the protocol's."""
    gen = TexturedSphereGenerator(resolution=12)
    fit = _ExactFit()
    monkeypatch.setattr(neus_metric, "fit_neus", fit)
    for resolution, size in ((RES, RES), (None, 12)):
        protocol = make_protocol("small", instances=1, views=VIEWS, psi_consistency=0.5).model_copy(
            update={"resolution": resolution})
        ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[4])
        NeusMetric().evaluate(EvalModel("m", gen), ctx)
        cams = protocol_cameras(gen, protocol)
        expected = render_instance(gen, instance_latent(gen, 4, torch.device("cpu")), cams, size, psi=0.5)["rgb"]
        assert fit.images[-1].shape[-1] == size and torch.equal(fit.images[-1], expected)
        at_one = render_instance(gen, instance_latent(gen, 4, torch.device("cpu")), cams, size, psi=1.0)["rgb"]
        assert not torch.allclose(fit.images[-1], at_one)


def test_evidence_grids_have_ten_views_per_row(monkeypatch, tmp_path):
    from PIL import Image

    protocol = make_protocol("small", instances=1, resolution=RES, views=12)
    monkeypatch.setattr(neus_metric, "fit_neus", _ExactFit())
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[0], out_dir=tmp_path)
    NeusMetric().evaluate(EvalModel("m", TexturedSphereGenerator(resolution=RES)), ctx)
    width, height = Image.open(tmp_path / "m" / "neus" / "seed0_views.png").size
    pad = 2  # make_grid's padding (zoo3d.imageio)
    assert (width, height) == (10 * (RES + pad) + pad, 2 * (RES + pad) + pad)  # 12 views: a row of 10, then 2
