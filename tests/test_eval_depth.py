"""Depth consistency on an exact sphere and against a plain nearest-neighbour computation."""

import itertools
import math

import pytest
import torch

from zoo3d.cameras import yaw_sweep
from zoo3d.eval import depth as depth_module
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.depth import (DepthMetric, _covisible, _subsample, backproject, depth_consistency, modified_chamfer,
                              surface_depth)
from zoo3d.eval.metric import EvalContext, EvalModel, NotApplicable, instance_latent, render_instance
from zoo3d.eval.protocol import make_protocol

pytestmark = pytest.mark.usefixtures("single_thread")

RES = 24


@pytest.fixture(scope="module")
def sphere():
    """Five views (yaw in [-0.4, 0.4], 1.5 from the centre) of the radius-0.1 sphere: exact depth and alpha."""
    cams = yaw_sweep(5, 0.4, radius=1.5).to(dtype=torch.float64)
    out = TexturedSphereGenerator().render(torch.zeros(5, 4, dtype=torch.float64), cams, (RES, RES))
    return cams, out.depth, out.alpha


def _nearest_mean(src: torch.Tensor, dst: torch.Tensor) -> float:
    return sum(min(float((p - q).norm()) for q in dst) for p in src) / len(src)


def test_backprojected_foreground_lies_on_the_sphere(sphere):
    cams, depth, alpha = sphere
    alpha = alpha.clone()
    alpha[0, 0, RES // 2, RES // 2] = 0.5  # exactly one half is not foreground
    clouds = backproject(depth, alpha, cams)
    assert [len(c) for c in clouds] == [int((a > 0.5).sum()) for a in alpha]
    assert len(clouds[0]) == int((sphere[2][0] > 0).sum()) - 1
    for c in clouds:
        torch.testing.assert_close(c.norm(dim=-1), torch.full((len(c),), 0.1, dtype=torch.float64))
    wide = TexturedSphereGenerator().render(torch.zeros(5, 4, dtype=torch.float64), cams, (RES, RES + 8))
    for c in backproject(wide.depth, wide.alpha, cams):  # rows and columns of a non-square view
        assert len(c) > 0
        torch.testing.assert_close(c.norm(dim=-1), torch.full((len(c),), 0.1, dtype=torch.float64))


def test_subsample_keeps_small_clouds_and_draws_a_seeded_subset():
    pts = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    assert _subsample(pts, 10, seed=3) is pts
    got = _subsample(pts, 4, seed=3)
    assert torch.equal(got, pts[torch.randperm(10, generator=torch.Generator().manual_seed(3))[:4]])
    assert not torch.equal(_subsample(pts, 4, seed=4), got)


def _pixel_point(cam, row: float, col: float, z: float = 0.8) -> torch.Tensor:
    """The world point at camera depth z that projects to the centre of pixel (row, col) of a RES x RES view."""
    k = cam.intrinsics[0]
    u, v = (col + 0.5) / RES, (row + 0.5) / RES
    p = torch.tensor([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z, z], dtype=torch.float64)
    return cam.cam2world[0, :3, :3] @ p + cam.cam2world[0, :3, 3]


def test_covisible_points_are_those_landing_on_the_other_views_foreground(sphere):
    cams, depth, alpha = sphere
    cam = cams[2]  # the frontal view
    mask = alpha[2].clone()
    last, mid = RES - 1, RES // 2
    mask[0, 0, 0] = mask[0, last, last] = 1.0   # the two corner pixels count as foreground
    mask[0, mid, mid] = 0.5                     # the centre pixel does not
    pixels = [(0, 0), (last, last), (mid, mid), (mid, mid + 1), (-1, 3), (3, -1), (RES, 3), (3, RES)]
    points = torch.stack([_pixel_point(cam, r, c) for r, c in pixels])
    torch.testing.assert_close(cam.project(points[None])[1][0], torch.full((8,), 0.8, dtype=torch.float64))
    assert _covisible(points, cam, mask).tolist() == [True, True, False, True, False, False, False, False]
    # behind the camera: the points project mirrored, onto the foreground, and still do not count
    behind = torch.stack([_pixel_point(cam, r, c, z=-0.8) for r, c in pixels[:4]])
    everywhere = torch.ones_like(mask)
    assert _covisible(torch.cat([points[:4], behind]), cam, everywhere).tolist() == [True] * 4 + [False] * 4


def test_modified_chamfer_is_the_mean_nearest_distance_of_covisible_points(sphere):
    cams, depth, alpha = sphere
    g = torch.Generator().manual_seed(1)
    clouds = backproject(depth, alpha, cams)
    a = clouds[1][::3] + 0.004 * torch.randn(clouds[1][::3].shape, generator=g, dtype=torch.float64)
    b = clouds[3][::2]
    got = float(modified_chamfer(a, b, cams[1], cams[3], alpha[1], alpha[3]))
    a_vis, b_vis = a[_covisible(a, cams[3], alpha[3])], b[_covisible(b, cams[1], alpha[1])]
    assert 0 < len(a_vis) < len(a) and 0 < len(b_vis) < len(b)  # some points are hidden from the other view
    assert got == pytest.approx(0.5 * (_nearest_mean(a_vis, b) + _nearest_mean(b_vis, a)), rel=1e-9)
    one = b_vis[:1]  # a single co-visible point on either side still gives a number
    assert math.isfinite(float(modified_chamfer(a, one, cams[1], cams[3], alpha[1], alpha[3])))
    assert math.isfinite(float(modified_chamfer(a_vis[:1], b, cams[1], cams[3], alpha[1], alpha[3])))
    # an empty cloud on either side: NaN (the pair is left out), not an error
    assert math.isnan(float(modified_chamfer(a[:0], b, cams[1], cams[3], alpha[1], alpha[3])))
    assert math.isnan(float(modified_chamfer(a, b[:0], cams[1], cams[3], alpha[1], alpha[3])))
    empty = torch.zeros_like(alpha[3])
    assert math.isnan(float(modified_chamfer(a, b, cams[1], cams[3], alpha[1], empty)))
    assert math.isnan(float(modified_chamfer(a, b, cams[1], cams[3], empty, alpha[3])))


def test_depth_consistency_averages_the_finite_pairs_in_units_of_the_camera_distance(sphere, monkeypatch):
    cams, depth, alpha = sphere
    cams = cams.to(dtype=torch.float32)
    noisy = (depth + 0.003 * torch.randn(depth.shape, generator=torch.Generator().manual_seed(2),
                                         dtype=torch.float64)).float()
    alpha = alpha.float()
    alpha[4] = 0  # the last view sees nothing: its pairs are NaN and left out
    monkeypatch.setattr(depth_module, "MAX_POINTS", 60)
    clouds = backproject(noisy, alpha, cams)  # whole clouds: 60 seeded points a side are scored against them
    pairs = [float(modified_chamfer(clouds[i], clouds[j], cams[i], cams[j], alpha[i], alpha[j], 60, 7 + 2 * (5 * i + j)))
             for i in range(4) for j in range(i + 1, 4)]
    scale = 1.5  # the mean camera distance
    got = float(depth_consistency(noisy, alpha, cams, seed=7))
    assert got == pytest.approx(sum(pairs) / len(pairs) / scale * 1e3, rel=1e-5)
    assert got != pytest.approx(float(depth_consistency(noisy, alpha, cams, seed=8)), rel=1e-6)
    assert float(depth_consistency(noisy, alpha, cams)) == float(depth_consistency(noisy, alpha, cams, seed=0))


class _NoDepth(TexturedSphereGenerator):
    def render(self, representation, cameras, resolution=None):
        out = super().render(representation, cameras, resolution)
        return type(out)(rgb=out.rgb, depth=None, alpha=out.alpha)


def test_the_metric_scores_each_instance_and_refuses_a_model_without_depth(monkeypatch):
    gen = TexturedSphereGenerator(resolution=16)
    protocol = make_protocol("small", instances=2, depth_views=3, depth_yaw_range=0.3, psi_consistency=0.5,
                             seed_start=2).model_copy(update={"resolution": None})  # the model's own: 16 px
    monkeypatch.setattr(depth_module, "MAX_POINTS", 20)  # each instance's seed picks its points
    steps = []
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds, progress=steps.append)
    metric = DepthMetric()
    out = metric.evaluate(EvalModel("sphere", gen), ctx)
    cams = yaw_sweep(3, 0.3, radius=gen.camera_prior.radius, fov=gen.camera_prior.fov)
    expected = []
    for seed in (2, 3):
        r = render_instance(gen, instance_latent(gen, seed, "cpu"), cams, 16, psi=0.5)
        expected.append(float(depth_consistency(r["depth"], r["alpha"], cams, seed)))
    assert out == {"depth": pytest.approx(expected, rel=1e-6)}
    assert steps == [1, 1]
    at_12 = EvalContext(protocol=protocol.model_copy(update={"resolution": 12}), device=torch.device("cpu"), seeds=[2])
    r = render_instance(gen, instance_latent(gen, 2, "cpu"), cams, 12, psi=0.5)
    want = float(depth_consistency(r["depth"], r["alpha"], cams, 2))
    assert metric.evaluate(EvalModel("sphere", gen), at_12) == {"depth": pytest.approx([want], rel=1e-6)}
    with pytest.raises(NotApplicable, match="nodepth renders no depth"):
        metric.evaluate(EvalModel("nodepth", _NoDepth()), ctx)
    assert metric.name == "depth" and metric.higher_is_better is False and metric.requires == ("depth",)
    monkeypatch.undo()
    assert metric.protocol_info(ctx) == {"views": 3, "yaw_range": 0.3, "foreground": "alpha > 0.5",
                                         "depth": "foreground sum w t / alpha (the surface's distance)",
                                         "max_points": 2048, "neighbours": "in the other view's whole cloud",
                                         "units": "camera radius x 1e3 (lower is better)"}


def test_two_identical_views_score_zero_at_any_resolution_however_many_points_are_scored():
    """Each side's scored points are a subset, but their neighbours come from the other view's whole cloud: two
    subsampled clouds put a floor under the score that grew with the resolution (2.1 at 128 px)."""
    from zoo3d.eval.harness import load_eval_model

    gen = load_eval_model("oracle", None, "cpu").generator
    cams = yaw_sweep(2, 0.0, radius=1.0, fov=12.0)  # the same camera twice
    for res in (48, 128):
        out = render_instance(gen, instance_latent(gen, 0, "cpu"), cams, res)
        assert int((out["alpha"][0] > 0.5).sum()) > depth_module.MAX_POINTS or res == 48
        assert float(depth_consistency(out["depth"], out["alpha"], cams, 0)) < 0.05, res


class _Veiled(TexturedSphereGenerator):
    """The sphere seen through a surface of opacity 0.6, as renderers composite it: depth is sum w t = 0.6 t, and
    a manifold renderer's sum also holds its background plane (at distance 3) with the remaining 0.4."""

    def __init__(self, background: bool, **kw):
        super().__init__(**kw)
        self.background = background

    def render(self, rep, cameras, resolution=None):
        out = super().render(rep, cameras, resolution)
        fg = 0.6 * out.depth
        depth = fg + 0.4 * 3.0 * out.alpha if self.background else fg
        extras = {"foreground_depth": fg} if self.background else {}
        return type(out)(rgb=out.rgb, depth=depth, alpha=0.6 * out.alpha, extras=extras)


def test_a_surface_that_is_not_opaque_is_scored_where_it_is(sphere):
    """A renderer's depth is sum w t undivided: through a 0.6 veil the volume renderer put the sphere at 0.6 of
    its distance and the manifold renderer pulled it toward its background plane; both clouds then differed
    from view to view, and the consistent sphere scored as inconsistent. The metric divides the foreground's
    own sum by alpha."""
    cams, depth, alpha = sphere
    torch.testing.assert_close(surface_depth(0.6 * depth, 0.6 * alpha)[alpha > 0.5], depth[alpha > 0.5])
    both = surface_depth(0.6 * depth + 0.4 * 3.0 * alpha, 0.6 * alpha, foreground_depth=0.6 * depth)
    torch.testing.assert_close(both[alpha > 0.5], depth[alpha > 0.5])
    protocol = make_protocol("small", instances=1, depth_views=5, resolution=RES)
    scores = {}
    for name, gen in (("opaque", TexturedSphereGenerator()), ("volume", _Veiled(False)),
                      ("manifold", _Veiled(True))):
        ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds)
        scores[name] = DepthMetric().evaluate(EvalModel(name, gen), ctx)["depth"][0]
    assert scores["volume"] == pytest.approx(scores["opaque"], abs=1e-3), scores
    assert scores["manifold"] == pytest.approx(scores["opaque"], abs=1e-3), scores


def test_a_2d_upsampler_is_told_that_depth_and_epi_score_different_things():
    """The inconsistent oracle's depth maps come from its 3D render, its epi from its final image: the report said
    so for neus only."""
    from zoo3d.eval.epi import EpiMetric
    from zoo3d.eval.harness import load_eval_model

    protocol = make_protocol("small", instances=1, depth_views=3, epi_frames=4)
    for name in ("oracle", "oracle_inconsistent"):
        model = load_eval_model(name, None, "cpu")
        ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds)
        DepthMetric().evaluate(model, ctx)
        EpiMetric().evaluate(model, ctx)
        upsampler = [n for n in ctx.notes if "not strictly 3D-consistent" in n]
        if name == "oracle":
            assert upsampler == []
        else:
            assert upsampler == [f"{name}: not strictly 3D-consistent (2D upsampler); depth scores the depth of its "
                                 f"3D render, not its final rgb.",
                                 f"{name}: not strictly 3D-consistent (2D upsampler); epi scores its final rgb."]


class _Faint(TexturedSphereGenerator):
    """The sphere at opacity 0.45 (each render in turn at the next of ``faint``) in every view but the views of yaw
    above ``opaque_from``: no foreground pixel (alpha > 0.5) in those, as in a briefly trained model."""

    def __init__(self, opaque_from: float = math.inf, faint: tuple[float, ...] = (0.45,), **kw):
        super().__init__(**kw)
        self.opaque_from, self.faint = opaque_from, itertools.cycle(faint)

    def render(self, rep, cameras, resolution=None):
        out = super().render(rep, cameras, resolution)
        yaw = torch.atan2(cameras.origins[:, 0], cameras.origins[:, 2])
        scale = torch.where(yaw > self.opaque_from, 1.0, next(self.faint)).to(out.alpha.dtype)[:, None, None, None]
        return type(out)(rgb=out.rgb, depth=out.depth * scale, alpha=out.alpha * scale)


def test_an_instance_without_a_foreground_two_views_share_is_named_in_a_note():
    """Its score is not finite and its cell read '-' (or n counted fewer instances) with nothing to say why; the note
    gives the highest alpha over those instances (0.45 of seed 0, not 0.3 of seed 1)."""
    protocol = make_protocol("small", instances=2, depth_views=3, resolution=16)
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds)
    values = DepthMetric().evaluate(EvalModel("faint", _Faint(faint=(0.45, 0.3))), ctx)["depth"]
    assert all(math.isnan(v) for v in values)
    assert ctx.notes == ["depth of faint: no two of its views share a foreground (alpha > 0.5) in 2 instances (seeds "
                         "0, 1; alpha reaches 0.45 there), left out of its depth score."]
    one_view = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[1])
    assert math.isnan(DepthMetric().evaluate(EvalModel("one", _Faint(opaque_from=0.1)), one_view)["depth"][0])
    assert one_view.notes == ["depth of one: no two of its views share a foreground (alpha > 0.5) in 1 instance (seed "
                              "1; alpha reaches 1.00 there), left out of its depth score."]
    scored = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[0])
    assert math.isfinite(DepthMetric().evaluate(EvalModel("two", _Faint(opaque_from=-0.1)), scored)["depth"][0])
    assert scored.notes == []
