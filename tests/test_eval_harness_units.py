"""The evaluation harness piece by piece: metric API, protocols, calibration scenes, image sets, speed, compare.

Stand-in generators whose images write out the latent, the camera and psi they were given, stand-in
metrics with known values, and plain Python references (a per-pixel ray-sphere hit, a direct 2-D
convolution, mean and sample standard deviation written out) — no rendering model, each test well under
a second.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior, yaw_sweep
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import ConfigError, UserError
from zoo3d.eval import distribution, harness, speed
from zoo3d.eval.calibration import DegradedGenerator, TexturedSphereGenerator, gaussian_blur, view_noise
from zoo3d.eval.metric import (EvalContext, EvalModel, Metric, NotApplicable, instance_generator, instance_latent,
                               model_resolution, protocol_cameras, render_instance, strictly_consistent, summarize)
from zoo3d.eval.protocol import PROTOCOLS, NeusSettings, Protocol, build_protocol, make_protocol

pytestmark = pytest.mark.usefixtures("single_thread")


class Echo(Generator):
    """rgb channel 0 = z[0], channel 1 = the camera's x position, channel 2 = psi; depth = z[1]; no alpha.

    Renders in float64; records what ``represent`` and ``render`` were given.
    """

    z_dim = 3

    def __init__(self, prior: CameraPrior | None = None, resolution=(8, 8), depth: bool = True):
        super().__init__()
        self.camera_prior = prior or CameraPrior()
        self.resolution = resolution
        self.depth = depth
        self.calls: list[tuple] = []

    def represent(self, z, psi=1.0):
        self.calls.append(("represent", tuple(z.shape), psi))
        return z.double(), psi

    def render(self, rep, cameras, resolution=None):
        z, psi = rep
        h, w = resolution or self.resolution
        self.calls.append(("render", len(cameras), (h, w)))
        ones = torch.ones(len(z), 1, h, w, dtype=torch.float64)
        rgb = torch.cat([z[:, 0, None, None, None] * ones, cameras.origins[:, 0, None, None, None].double() * ones,
                         psi * ones], dim=1)
        depth = z[:, 1, None, None, None] * ones if self.depth else None
        return RenderOutput(rgb=rgb, depth=depth, alpha=None)


def _ctx(protocol=None, **kw) -> EvalContext:
    protocol = protocol or make_protocol("small")
    return EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds, **kw)


# ============================================================================ zoo3d/eval/metric.py

def test_context_advances_its_progress_and_registers_evidence_paths(tmp_path):
    ticks = []
    ctx = _ctx(progress=ticks.append, out_dir=tmp_path)
    ctx.advance()
    ctx.advance(3)
    assert ticks == [1, 3]
    _ctx().advance(2)  # no progress callback: nothing to call
    first = ctx.evidence_path("m", "epi", "a.png")
    second = ctx.evidence_path("m", "epi", "b.png")
    other = ctx.evidence_path("n", "depth", "c.png")
    assert first == tmp_path / "m" / "epi" / "a.png" and first.parent.is_dir() and not first.exists()
    assert ctx.evidence == {"m/epi": [str(first), str(second)], "n/depth": [str(other)]}
    quiet = _ctx()
    assert quiet.evidence_path("m", "epi", "a.png") is None and quiet.evidence == {}


def test_metric_base_keys_directions_and_work_units():
    class One(Metric):
        name = "one"

    class Two(Metric):
        name = "two"
        keys = ("two_a", "two_b")
        higher_is_better = {"two_a": True, "two_b": False}
        units = "one"

    ctx = _ctx(make_protocol("small", instances=5))
    assert One().result_keys() == ("one",) and Two().result_keys() == ("two_a", "two_b")
    assert One().better("one") is None  # says nothing: no direction (its spec must give one, or its factory fails)
    assert (Two().better("two_a"), Two().better("two_b")) == (True, False)
    assert Two().better("two_seconds") is None  # a dict names its directions
    high, low = One(), One()
    high.higher_is_better, low.higher_is_better = True, 0
    assert high.better("one_ms") is True and low.better("one") is False
    assert One().work_units(ctx) == 5 and Two().work_units(ctx) == 1
    assert One().protocol_info(ctx) == {}
    with pytest.raises(NotImplementedError):
        One().evaluate(EvalModel("m", None), ctx)


def test_summarize_is_the_mean_and_sample_std_of_the_finite_values():
    values = [1.5, None, 4.0, float("nan"), -2.0, float("inf"), 7.25]
    kept = [1.5, 4.0, -2.0, 7.25]
    mean = sum(kept) / 4
    std = math.sqrt(sum((v - mean) ** 2 for v in kept) / 3)
    s = summarize(values)
    # the values stay one per instance, in order, a non-finite one as None (JSON null): aligned with the seeds
    assert s == {"mean": mean, "std": pytest.approx(std, rel=1e-15), "n": 4,
                 "values": [1.5, None, 4.0, None, -2.0, None, 7.25]}
    assert summarize([3]) == {"mean": 3.0, "std": 0.0, "n": 1, "values": [3.0]}
    assert type(summarize([3])["values"][0]) is float
    empty = summarize([None, float("nan")])
    assert empty["mean"] is None and empty["std"] is None and empty["n"] == 0
    assert empty["values"] == [None, None]
    assert summarize([]) == {"mean": None, "std": None, "n": 0, "values": []}


def test_instance_latents_come_from_a_cpu_generator_seeded_with_the_instance_seed():
    a = torch.rand(4, generator=instance_generator(np.int64(11)))
    assert torch.equal(a, torch.rand(4, generator=torch.Generator().manual_seed(11)))
    z = instance_latent(Echo(), 11, "cpu")
    assert torch.equal(z, torch.randn(1, 3, generator=torch.Generator().manual_seed(11)))
    assert not torch.equal(z, instance_latent(Echo(), 12, "cpu"))


def test_render_instance_repeats_the_latent_per_view_in_chunks():
    gen = Echo()
    cams = yaw_sweep(5, 0.3)
    z = torch.tensor([[0.5, -0.25, 2.0]])
    out = render_instance(gen, z, cams, 4, psi=0.75, chunk=2)
    assert [c for c in gen.calls if c[0] == "represent"] == [("represent", (2, 3), 0.75)] * 2 + [
        ("represent", (1, 3), 0.75)]
    assert [c for c in gen.calls if c[0] == "render"] == [("render", 2, (4, 4))] * 2 + [("render", 1, (4, 4))]
    assert out["rgb"].dtype == torch.float32 and out["rgb"].shape == (5, 3, 4, 4) and out["alpha"] is None
    assert torch.equal(out["rgb"][:, 0], torch.full((5, 4, 4), 0.5))
    assert torch.equal(out["rgb"][:, 1], cams.origins[:, 0, None, None].expand(5, 4, 4).float())
    assert torch.equal(out["rgb"][:, 2], torch.full((5, 4, 4), 0.75))
    assert torch.equal(out["depth"], torch.full((5, 1, 4, 4), -0.25))
    whole = render_instance(Echo(), z, cams, 4, psi=0.75)  # default chunk 8: one call
    assert torch.equal(whole["rgb"], out["rgb"])

    class SometimesDepth(Echo):
        def render(self, rep, cameras, resolution=None):
            out = super().render(rep, cameras, resolution)
            return RenderOutput(rgb=out.rgb, depth=out.depth if len(cameras) > 1 else None, alpha=out.depth)

    part = render_instance(SometimesDepth(), z, cams, 4, chunk=2)
    assert part["depth"] is None and part["alpha"].shape == (5, 1, 4, 4)  # one view without depth: none at all
    nine = Echo()
    render_instance(nine, z, yaw_sweep(9, 0.3), 4)  # the default chunk: 8 views, then 1; psi 1
    assert [c[1:] for c in nine.calls if c[0] == "represent"] == [((8, 3), 1.0), ((1, 3), 1.0)]

    class RgbOnly(Echo):  # an output object with no depth or alpha attribute at all
        def render(self, rep, cameras, resolution=None):
            return SimpleNamespace(rgb=super().render(rep, cameras, resolution).rgb)

    bare = render_instance(RgbOnly(), z, cams, 4, psi=0.75)
    assert torch.equal(bare["rgb"], out["rgb"]) and bare["depth"] is None and bare["alpha"] is None


def test_protocol_cameras_are_the_yaw_sweep_at_the_prior_radius_and_field_of_view():
    gen = Echo(CameraPrior(radius=2.5, fov=20.0))
    proto = make_protocol("small", views=5, yaw_range=0.3)

    def same(a: Camera, b: Camera):
        return torch.equal(a.cam2world, b.cam2world) and torch.equal(a.intrinsics, b.intrinsics)

    assert same(protocol_cameras(gen, proto), yaw_sweep(5, 0.3, radius=2.5, fov=20.0))
    assert same(protocol_cameras(gen, proto, n=3), yaw_sweep(3, 0.3, radius=2.5, fov=20.0))
    assert same(protocol_cameras(gen, proto, yaw_range=0.0), yaw_sweep(5, 0.0, radius=2.5, fov=20.0))
    assert torch.allclose(protocol_cameras(gen, proto).origins.norm(dim=-1), torch.full((5,), 2.5))


def test_protocol_cameras_sweep_about_the_prior_centre_view():
    """A prior centred off the front (cars seen from above, a turned yaw) is scored from its own centre view:
    the face presets' sweep turned rigidly to it, so the views keep the sweep's relative poses and one up
    axis (an image row stays on one epipolar plane for ``epi``) and the middle view is the prior's frontal."""
    proto = make_protocol("small", views=5, yaw_range=0.3)
    face = protocol_cameras(Echo(CameraPrior(radius=2.0)), proto)
    assert torch.equal(face.cam2world, yaw_sweep(5, 0.3, radius=2.0, fov=CameraPrior().fov).cam2world)
    priors = [CameraPrior(yaw_mean=0.7, pitch_mean=0.4, radius=2.0),
              CameraPrior(distribution="spherical_uniform", pitch_mean=0.8290, pitch_std=0.7418, yaw_std=3.14159,
                          radius=2.0)]
    assert abs(priors[1].centre_pitch - 0.556) < 1e-3  # the area-uniform centre, not the raw setting 0.829
    for prior in priors:
        cams = protocol_cameras(Echo(prior), proto)
        relative = torch.linalg.inv(cams.cam2world[:1]) @ cams.cam2world
        assert torch.allclose(relative, torch.linalg.inv(face.cam2world[:1]) @ face.cam2world, atol=1e-5)
        up = cams.cam2world[:, :3, 1]
        assert torch.allclose(up, up[:1].expand_as(up), atol=1e-6)  # no roll across the sweep
        assert torch.allclose(cams.cam2world[2], prior.frontal().cam2world[0], atol=1e-6)
        assert torch.allclose(cams.origins.norm(dim=-1), torch.full((5,), 2.0))
    raised = protocol_cameras(Echo(priors[1]), make_protocol("small", views=3, pitch=0.1), yaw_range=0.0)
    elevation = torch.asin(raised.origins[:, 1] / raised.origins.norm(dim=-1))
    assert torch.allclose(elevation, torch.full((3,), priors[1].centre_pitch + 0.1), atol=1e-6)
    with pytest.raises(UserError, match="pitch"):  # an offset that could tip a camera over a pole is refused
        build_protocol("small", sets=["pitch=1.6"])


@pytest.mark.parametrize("item, said", [
    # each of these gave a table of '-' (NaN scores), another seed's instance or a traceback, with exit status 0
    ("epi_yaw_range=inf", "'epi_yaw_range' in the protocol (--set): input should be a finite number"),
    ("depth_yaw_range=nan", "'depth_yaw_range' in the protocol (--set): input should be a finite number"),
    ("psi_consistency=2", "'psi_consistency' in the protocol (--set): input should be less than or equal to 1"),
    ("psi_distribution=-1", "'psi_distribution' in the protocol (--set): input should be greater than or equal to 0"),
    ("resolution=7", "'resolution' in the protocol (--set): input should be greater than or equal to 8"),
    ("speed_resolutions=[-8]", "'speed_resolutions.0' in the protocol (--set): input should be greater than or equal"),
    ("speed_resolutions=[]", "'speed_resolutions' in the protocol (--set): list should have at least 1 item"),
    ("seed_start=-2", "'seed_start' in the protocol (--set): input should be greater than or equal to 0"),
    ("seed_start=9223372036854775800", "seed_start 9223372036854775800: the seeds it starts run to"),
    ("neus.lr=nan", "'neus.lr' in the protocol (--set): input should be a finite number"),
])
def test_a_protocol_value_that_cannot_give_a_number_is_refused(item, said):
    with pytest.raises(ConfigError, match=re.escape(said)):
        build_protocol("small", sets=[item])
    # the bounds themselves pass (a yaw range of 0 is refused: tests/test_eval_protocol_yaw_range.py)
    assert build_protocol("small", sets=[f"yaw_range={math.pi!r}", "resolution=8"]).yaw_range == math.pi


def test_an_option_and_a_set_of_the_same_key_are_refused():
    """`--instances 1 --set instances=2` ran 2 without a word."""
    with pytest.raises(ConfigError, match=r"--instances 1 and --set 'instances=2' both set the instances; give it once"):
        build_protocol("small", instances=1, sets=["instances=2"])
    with pytest.raises(ConfigError, match=r"--resolution 32 and --set 'resolution=64' both set the resolution"):
        build_protocol("small", resolution=32, sets=["resolution=64"])
    assert build_protocol("small", sets=["instances=2"]).instances == 2  # either alone is fine
    assert build_protocol("small", instances=3).instances == 3


def test_model_resolution_and_strict_consistency():
    assert model_resolution(Echo(resolution=(24, 24)), 48) == 48
    assert model_resolution(Echo(resolution=(24, 24)), None) == 24
    assert model_resolution(SimpleNamespace(resolution=[40, 40]), None) == 40
    assert model_resolution(SimpleNamespace(resolution=32), 0) == 32
    assert model_resolution(SimpleNamespace(), None) == 64
    assert type(model_resolution(SimpleNamespace(), 16.0)) is int
    assert strictly_consistent(SimpleNamespace()) is True
    assert strictly_consistent(SimpleNamespace(strictly_3d_consistent=0)) is False


# ============================================================================ zoo3d/eval/protocol.py

def test_seeds_run_from_the_seed_start():
    assert Protocol(seed_start=5, instances=3).seeds == [5, 6, 7]
    assert make_protocol("small").seeds == [0, 1, 2, 3]  # docs/metrics.md "Protocols": 4 instances


def test_the_paper_protocol_is_the_documented_table():
    """docs/metrics.md "Protocols": GRAM-HD's views and instances, NeuS's own network, samples and learning rate."""
    p = make_protocol("paper")
    assert (p.name, p.instances, p.resolution, p.views, p.yaw_range, p.pitch) == ("paper", 50, None, 30, 0.4, 0.0)
    n = p.neus
    assert (n.iterations, n.batch_rays, n.lr) == (20000, 2048, 5e-4)
    assert (n.n_coarse, n.n_importance, n.upsample_steps) == (64, 64, 4)
    assert (n.sdf_layers, n.sdf_hidden, n.color_layers, n.color_hidden, n.feature_dim) == (8, 256, 4, 256, 256)
    assert (p.epi_frames, p.distribution_images, p.depth_views) == (120, 20000, 7)
    assert p.speed_resolutions == [64, 128, 256, 512] and p.speed_repeats == 10
    assert n.init_variance == NeusSettings().init_variance and p.neus.eval_chunk == NeusSettings().eval_chunk
    assert make_protocol() == Protocol()


def test_protocol_overrides_land_where_they_should():
    p = make_protocol("paper", instances=4, resolution=128, epi_frames=9, neus={"lr": 1e-3, "n_coarse": 8})
    assert (p.instances, p.resolution, p.epi_frames) == (4, 128, 9)
    assert (p.neus.lr, p.neus.n_coarse, p.neus.iterations, p.neus.sdf_hidden) == (1e-3, 8, 20000, 256)
    assert make_protocol("paper").neus.lr == 5e-4 and PROTOCOLS["paper"]()["neus"]["n_coarse"] == 64  # not modified
    kept = make_protocol("paper", instances=None, resolution=None, neus=None)
    assert (kept.instances, kept.resolution, kept.neus.iterations) == (50, None, 20000)
    assert make_protocol("small", instances=7).instances == 7 and make_protocol("small", resolution=32).resolution == 32
    small = make_protocol("small", neus={"iterations": 3})
    assert small.neus == NeusSettings(iterations=3) and small.name == "small"
    with pytest.raises(UserError) as err:
        make_protocol("papr")
    assert str(err.value) == "Unknown protocol 'papr'; use one of: small, paper."


# ============================================================================ zoo3d/eval/calibration.py

def _sphere_reference(gen, z, cams, h, w):
    """Per pixel in Python floats: the nearer root of |o + t d| = r, the sine texture of the (turned) hit point."""
    origins, dirs = cams.rays(h, w)
    freq = gen.frequency.tolist()
    rgb = np.zeros((len(cams), 3, h, w))
    depth = np.zeros((len(cams), 1, h, w))
    alpha = np.zeros((len(cams), 1, h, w))
    for b in range(len(cams)):
        r = 0.1 + 0.01 * math.tanh(float(z[b, 0]))
        yaw = math.atan2(-float(cams.origins[b, 0]), float(cams.origins[b, 2]))
        angle = gen.jitter * math.sin(37.0 * yaw + 1.0)
        for i in range(h):
            for j in range(w):
                o = [float(v) for v in origins[b, i * w + j]]
                d = [float(v) for v in dirs[b, i * w + j]]
                od = sum(a * c for a, c in zip(o, d))
                disc = od * od - (sum(a * a for a in o) - r * r)
                if disc <= 0:
                    rgb[b, :, i, j] = -1.0
                    continue
                t = -od - math.sqrt(disc)
                p = [o[k] + t * d[k] for k in range(3)]
                if not gen.consistent:  # the point turned about the vertical axis by the camera's angle
                    p = [p[0] * math.cos(angle) - p[2] * math.sin(angle), p[1],
                         p[0] * math.sin(angle) + p[2] * math.cos(angle)]
                rgb[b, :, i, j] = [math.sin(p[k] * freq[k] + float(z[b, 1 + k])) for k in range(3)]
                depth[b, 0, i, j] = t
                alpha[b, 0, i, j] = 1.0
    return rgb, depth, alpha


@pytest.mark.parametrize("consistent", [True, False])
def test_textured_sphere_is_the_ray_sphere_hit_with_a_sine_texture(consistent):
    gen = TexturedSphereGenerator(consistent=consistent, frequency=0.5)
    cams = Camera.from_angles([0.0, 0.3], [0.0, -0.1], dtype=torch.float64)
    z = torch.tensor([[0.7, 0.1, -0.4, 1.3], [-1.2, 2.0, 0.5, -0.3]], dtype=torch.float64)
    out = gen.render(gen.represent(z / 0.5, psi=0.5), cams, (5, 7))
    rgb, depth, alpha = _sphere_reference(gen, z, cams, 5, 7)
    assert 0 < alpha.sum() < alpha.size  # some rays miss
    assert np.allclose(out.rgb.numpy(), rgb, atol=1e-12, rtol=0)
    assert np.allclose(out.depth.numpy(), depth, atol=1e-12, rtol=0)
    assert np.array_equal(out.alpha.numpy(), alpha)
    # the frontal centre ray (odd size: a pixel on the axis) hits at distance 1 - r
    centre = gen.render(z[:1], cams[0], (5, 5)).depth[0, 0, 2, 2]
    assert float(centre) == pytest.approx(1 - (0.1 + 0.01 * math.tanh(0.7)), abs=1e-14)
    default = gen.render(z, cams)
    assert default.rgb.shape == (2, 3, 32, 32)
    assert gen.z_dim == 4 and gen.camera_prior == CameraPrior()
    assert torch.equal(gen.represent(z), z)  # psi 1 by default: the latent itself
    # a float32 latent is cast to the cameras' float64 before any arithmetic
    z32 = torch.tensor([[0.7, 0.1, -0.4, 1.3]], dtype=torch.float32)
    assert torch.equal(gen.render(z32, cams[:1], (5, 7)).rgb, gen.render(z32.double(), cams[:1], (5, 7)).rgb)


def test_the_inconsistent_sphere_differs_between_views_and_the_consistent_one_only_turns():
    cams = Camera.from_angles([0.0, 0.2], 0.0, dtype=torch.float64)
    z = torch.zeros(2, 4, dtype=torch.float64)
    good = TexturedSphereGenerator(True).render(z, cams, (9, 9))
    bad = TexturedSphereGenerator(False, jitter=0.0).render(z, cams, (9, 9))  # no turn: the consistent scene
    assert torch.equal(good.rgb, bad.rgb)
    assert torch.equal(TexturedSphereGenerator().render(z, cams, (9, 9)).rgb, good.rgb)  # consistent by default
    assert torch.equal(TexturedSphereGenerator(frequency=2.5).frequency, 2.5 * TexturedSphereGenerator().frequency)
    assert torch.equal(TexturedSphereGenerator(frequency=1.0).frequency, TexturedSphereGenerator().frequency)
    # the default texture has detail to see: each channel runs through most of [-1, 1] across the frontal view
    front = TexturedSphereGenerator().render(torch.zeros(1, 4), Camera.from_angles([0.0], 0.0), (16, 16))
    hit = front.alpha[0, 0] > 0
    assert all(float(ch[hit].max() - ch[hit].min()) > 0.5 for ch in front.rgb[0])
    turned = TexturedSphereGenerator(False).render(z, cams, (9, 9))
    assert not torch.allclose(turned.rgb, good.rgb, atol=1e-3) and torch.equal(turned.depth, good.depth)


def test_view_noise_is_a_function_of_the_camera_pose():
    cams = yaw_sweep(3, 0.3, dtype=torch.float64)
    noise = view_noise(cams, 2, 4, 5)
    assert noise.shape == (3, 2, 4, 5) and noise.dtype == torch.float64
    swapped = view_noise(Camera.cat([cams[2], cams[0]]), 2, 4, 5)
    assert torch.equal(swapped[0], noise[2]) and torch.equal(swapped[1], noise[0])  # the same camera, the same noise
    assert not torch.equal(noise[0], noise[1]) and not torch.equal(noise[1], noise[2])
    # the standard normal stream of a 63-bit key of the pose in micro-units: fixed across runs and machines
    from zoo3d.data.augment import stable_hash

    vec = cams[1].to_eg3d()[0].tolist()
    key = stable_hash(0x5EED, *[int(round(x * 1e6)) for x in vec[:16]])
    assert torch.equal(noise[1], torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(key)).double())
    nudged = Camera(cams.cam2world[1:2] + 4e-7, cams.intrinsics[1:2])  # below half a micro-unit: the same key
    assert torch.equal(view_noise(nudged, 2, 4, 5)[0], noise[1])
    moved = Camera(cams.cam2world[1:2] + 6e-7, cams.intrinsics[1:2])
    assert not torch.equal(view_noise(moved, 2, 4, 5)[0], noise[1])
    assert view_noise(cams.to(dtype=torch.float32), 2, 4, 5).dtype == torch.float32


def _direct_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """The 2-D convolution with the outer product of the normalised Gaussian, mirrored edges, pixel by pixel."""
    radius = max(1, math.ceil(3 * sigma))
    g = np.array([math.exp(-x * x / (2 * sigma * sigma)) for x in range(-radius, radius + 1)])
    g /= g.sum()

    def mirror(i, n):
        return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)

    b, c, h, w = images.shape
    out = np.zeros_like(images)
    for i in range(h):
        for j in range(w):
            for di in range(-radius, radius + 1):
                for dj in range(-radius, radius + 1):
                    out[:, :, i, j] += g[di + radius] * g[dj + radius] * images[:, :, mirror(i + di, h),
                                                                                 mirror(j + dj, w)]
    return out


@pytest.mark.parametrize("sigma", [0.3, 0.7, 1.4])  # 0.3: radius 1, where a radius-2 kernel differs by ~1e-10
def test_gaussian_blur_is_the_direct_convolution_with_mirrored_edges(sigma):
    x = torch.rand(2, 3, 11, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert np.allclose(gaussian_blur(x, sigma).numpy(), _direct_blur(x.numpy(), sigma), atol=1e-13, rtol=0)
    assert gaussian_blur(x, 0.0) is x and gaussian_blur(x, -1.0) is x


class Fixed(Generator):
    """rgb = the given image for every view (values outside [-1, 1] allowed); depth and alpha pass-through markers."""

    z_dim = 2

    def __init__(self, rgb):
        super().__init__()
        self.rgb = rgb
        self.resolution = (rgb.shape[-2], rgb.shape[-1])
        self.camera_prior = CameraPrior(radius=3.0)
        self.seen = []

    def represent(self, z, psi=1.0):
        self.seen.append(psi)
        return z * psi

    def render(self, rep, cameras, resolution=None):
        self.seen.append((rep, resolution))
        depth = torch.full((len(cameras), 1, *self.resolution), 2.0, dtype=self.rgb.dtype)
        return RenderOutput(rgb=self.rgb.expand(len(cameras), -1, -1, -1).clone(), depth=depth, alpha=depth / 4)


def test_degraded_generator_blurs_then_adds_per_camera_noise_and_clamps():
    rgb = 1.6 * torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64) - 0.8
    rgb[..., :3, :3] = 3.0  # beyond [-1, 1] even after the blur: clamped at both ends
    rgb[..., 5:, 5:] = -3.0
    base = Fixed(rgb)
    cams = yaw_sweep(2, 0.2, dtype=torch.float64)
    noisy = DegradedGenerator(base, blur=0.8, noise=0.3)
    assert (noisy.z_dim, noisy.resolution, noisy.camera_prior) == (2, (8, 8), base.camera_prior)
    assert noisy.represent(torch.ones(1, 2), 0.5).tolist() == [[0.5, 0.5]] and base.seen == [0.5]
    out = noisy.render("rep", cams, (8, 8))
    assert base.seen[-1] == ("rep", (8, 8))
    expected = (gaussian_blur(rgb.expand(2, -1, -1, -1), 0.8) + 0.3 * view_noise(cams, 3, 8, 8)).clamp(-1, 1)
    assert torch.equal(out.rgb, expected) and out.rgb.min() == -1 and out.rgb.max() == 1
    assert torch.equal(out.depth, torch.full((2, 1, 8, 8), 2.0, dtype=torch.float64))
    assert torch.equal(out.alpha, torch.full((2, 1, 8, 8), 0.5, dtype=torch.float64))
    plain = DegradedGenerator(base, blur=0.8).render(None, cams)
    assert torch.equal(plain.rgb, gaussian_blur(rgb.expand(2, -1, -1, -1), 0.8).clamp(-1, 1))
    untouched = DegradedGenerator(base).render(None, cams)
    assert torch.equal(untouched.rgb, rgb.expand(2, -1, -1, -1).clamp(-1, 1))
    assert DegradedGenerator(base, blur=1.0).strictly_3d_consistent is True and noisy.strictly_3d_consistent is False
    base.strictly_3d_consistent = False
    assert DegradedGenerator(base, blur=1.0).strictly_3d_consistent is False
    assert type(noisy.blur) is float and type(DegradedGenerator(base, noise=1).noise) is float
    base.seen.clear()
    DegradedGenerator(base).represent(torch.ones(1, 2))
    assert base.seen == [1.0]  # psi 1 by default
    plain_base = SimpleNamespace(z_dim=2, resolution=(8, 8), camera_prior=CameraPrior())  # no consistency flag
    assert DegradedGenerator(plain_base, blur=1.0).strictly_3d_consistent is True
    single = DegradedGenerator(Fixed(rgb.float()), noise=0.3).render(None, cams)  # float64 cameras, float32 images
    assert single.rgb.dtype == torch.float32
    assert torch.equal(single.rgb, (rgb.float().expand(2, -1, -1, -1) + 0.3 * view_noise(cams, 3, 8, 8).float())
                       .clamp(-1, 1))


# ============================================================================ zoo3d/eval/distribution.py

def test_generated_images_draw_latents_then_cameras_batch_by_batch_from_one_seed():
    gen = Echo()
    images = distribution.generated_images(gen, 5, 4, 0.5, seed=9, device="cpu", batch=2)
    rng = torch.Generator().manual_seed(9)
    zs, xs = [], []
    for b in (2, 2, 1):
        zs.append(torch.randn(b, 3, generator=rng))
        xs.append(CameraPrior().sample(b, generator=rng).origins[:, 0])
    z, x = torch.cat(zs), torch.cat(xs)
    assert images.dtype == torch.float32 and images.shape == (5, 3, 4, 4) and images.device.type == "cpu"
    assert torch.equal(images[:, 0], z[:, 0, None, None].expand(5, 4, 4))
    assert torch.equal(images[:, 1], x[:, None, None].expand(5, 4, 4).float())
    assert torch.equal(images[:, 2], torch.full((5, 4, 4), 0.5))
    assert [c for c in gen.calls if c[0] == "represent"] == [("represent", (2, 3), 0.5)] * 2 + [
        ("represent", (1, 3), 0.5)]
    whole = distribution.generated_images(Echo(), 5, 4, 0.5, seed=9, device="cpu")  # default batch 16: one draw
    assert torch.equal(whole[:, 0], torch.randn(5, 3, generator=torch.Generator().manual_seed(9))[:, 0, None, None]
                       .expand(5, 4, 4))
    many = Echo()
    distribution.generated_images(many, 17, 2, 1.0, seed=0, device="cpu")  # default batch 16: 16, then 1
    assert [c[1] for c in many.calls if c[0] == "represent"] == [(16, 3), (1, 3)]


class _Items:
    """A dataset whose item i is the image filled with i."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"image": np.full((3, 2, 2), i, dtype=np.float64)}


def test_real_images_are_a_seeded_subset_read_without_the_block_cache(monkeypatch):
    import zoo3d.data

    built = []

    def build(config, resolution):
        built.append((config, resolution))
        return _Items(7)

    monkeypatch.setattr(zoo3d.data, "build_dataset", build)
    got = distribution.real_images("folder/x", 3, 16, seed=4)
    order = torch.randperm(7, generator=torch.Generator().manual_seed(4))[:3]
    assert got.dtype == torch.float32 and torch.equal(got[:, 0, 0, 0], order.float())
    config, resolution = built[0]
    assert (config.spec, config.mirror, config.cache, resolution) == ("folder/x", False, False, 16)
    everything = distribution.real_images("folder/x", 10, 16)
    assert sorted(everything[:, 0, 0, 0].tolist()) == list(range(7))
    assert torch.equal(everything[:, 0, 0, 0], torch.randperm(7, generator=torch.Generator().manual_seed(0)).float())
    monkeypatch.setattr(zoo3d.data, "build_dataset", lambda config, resolution: _Items(0))
    with pytest.raises(UserError) as err:
        distribution.real_images("folder/x", 3, 16)
    assert str(err.value) == "Dataset 'folder/x' is empty."
    monkeypatch.setitem(sys.modules, "zoo3d.data", None)
    with pytest.raises(UserError) as err:
        distribution.real_images("folder/x", 3, 16)
    assert str(err.value) == "Distribution metrics need zoo3d.data.build_dataset, which this installation lacks."


def test_protocol_image_sets_read_the_real_set_once_per_resolution(monkeypatch):
    fakes, reads = [], []
    monkeypatch.setattr(distribution, "generated_images", lambda *a: fakes.append(a) or f"fake{len(fakes)}")
    monkeypatch.setattr(distribution, "real_images", lambda *a, **k: reads.append(a) or f"real{len(reads)}")
    proto = Protocol(resolution=None, distribution_images=6, psi_distribution=0.7, seed_start=3)
    ctx = _ctx(proto)
    small, large = Echo(resolution=(16, 16)), Echo(resolution=(32, 32))
    assert distribution.protocol_image_sets(EvalModel("a", small), ctx) == ("fake1", "real1")
    assert fakes[0] == (small, 6, 16, 0.7, 3, torch.device("cpu")) and reads == [("synthetic:heads", 6, 16)]
    assert distribution.protocol_image_sets(EvalModel("b", small), ctx) == ("fake2", "real1")
    assert distribution.protocol_image_sets(EvalModel("c", large), ctx) == ("fake3", "real2")
    assert reads[1] == ("synthetic:heads", 6, 32) and ctx.options["real_images"] == {16: "real1", 32: "real2"}
    given = _ctx(proto, options={"data": "folder/y", "real_images": {32: "mine"}})
    assert distribution.protocol_image_sets(EvalModel("c", large), given)[1] == "mine"
    assert distribution.protocol_image_sets(EvalModel("a", small), given)[1] == "real3"
    assert reads[2] == ("folder/y", 6, 16) and given.options["real_images"] == {32: "mine", 16: "real3"}


def test_a_models_generated_set_is_rendered_once_for_all_its_distribution_metrics(monkeypatch):
    fakes = []
    monkeypatch.setattr(distribution, "generated_images", lambda *a: fakes.append(a) or f"fake{len(fakes)}")
    monkeypatch.setattr(distribution, "real_images", lambda *a, **k: "real")
    ctx = _ctx(Protocol(resolution=None, distribution_images=6, psi_distribution=0.7, seed_start=3))
    a, b = EvalModel("a", Echo(resolution=(16, 16))), EvalModel("b", Echo(resolution=(16, 16)))
    # swd, diversity, detail and fid of model a, one after another: one render
    assert distribution.protocol_image_sets(a, ctx) == ("fake1", "real")
    assert distribution.protocol_image_sets(a, ctx) == ("fake1", "real")
    assert distribution.protocol_generated_images(a, ctx) == "fake1" and len(fakes) == 1
    assert distribution.protocol_generated_images(b, ctx) == "fake2"  # the next model replaces it
    assert distribution.protocol_generated_images(a, ctx) == "fake3"
    ctx.protocol = Protocol(resolution=None, distribution_images=6, psi_distribution=1.0, seed_start=3)
    assert distribution.protocol_generated_images(a, ctx) == "fake4" and fakes[-1][3] == 1.0  # other draws


# ============================================================================ zoo3d/eval/speed.py

class Clocked(Echo):
    """Each call moves a fake clock on by the next of ``durations`` and logs it with the grad mode."""

    def __init__(self, clock, log, durations):
        super().__init__()
        self.clock, self.log, self.durations = clock, log, list(durations)

    def forward(self, z, cameras, psi=1.0, resolution=None):
        self.log.append(("render", torch.is_grad_enabled(), resolution, z.tolist(), cameras.origins.tolist()))
        self.clock[0] += self.durations.pop(0)
        return super().forward(z, cameras, psi, resolution)


def test_time_render_times_the_calls_after_one_warm_up(monkeypatch):
    clock, log = [100.0], []
    monkeypatch.setattr(speed, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(speed, "synchronize", lambda device: log.append(("sync", device)))
    monkeypatch.setattr(speed, "reset_peak_memory", lambda device: log.append(("reset", device)))
    monkeypatch.setattr(speed, "peak_memory_mb", lambda device: log.append(("peak", device)) or 12.5)
    cpu = torch.device("cpu")
    for grad in (False, True):
        log.clear()
        gen = Clocked(clock, log, [8.0, 0.25, 0.5, 0.125])
        rec = speed.time_render(gen, 6, 3, cpu, grad, seed=5)
        assert rec == {"seconds": [0.25, 0.5, 0.125], "peak_mb": 12.5}
        rng = torch.Generator().manual_seed(5)
        z = torch.randn(1, 3, generator=rng).tolist()
        origins = CameraPrior().sample(1, generator=rng).origins.tolist()
        call = ("render", grad, (6, 6), z, origins)
        assert log == [call, ("sync", cpu), ("reset", cpu), call, ("sync", cpu), call, ("sync", cpu), call,
                       ("sync", cpu), ("peak", cpu)]
    monkeypatch.undo()
    log.clear()
    rec = speed.time_render(Clocked([0.0], log, [0.0, 0.0]), 4, 1, cpu, False)  # the real clock and CPU
    assert rec["peak_mb"] is None and len(rec["seconds"]) == 1 and rec["seconds"][0] >= 0  # no per-call peak
    assert log[0][3] == torch.randn(1, 3, generator=torch.Generator().manual_seed(0)).tolist()  # default seed 0


class Weighted(Echo):
    """Echo scaled by a learnable weight; logs whether each output carries an autograd graph."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones((), dtype=torch.float64))
        self.graphs: list[bool] = []

    def forward(self, z, cameras, psi=1.0, resolution=None):
        out = super().forward(z, cameras, psi, resolution)
        self.graphs.append(bool((out.rgb * self.weight).requires_grad))
        return out


def test_time_render_with_grad_builds_the_graph_of_a_frozen_generator_and_refreezes_it():
    gen = Weighted()
    gen.requires_grad_(False)  # as load_eval_model leaves every generator
    cpu = torch.device("cpu")
    speed.time_render(gen, 4, 2, cpu, grad=False)
    assert gen.graphs == [False] * 3
    gen.graphs.clear()
    speed.time_render(gen, 4, 2, cpu, grad=True)
    assert gen.graphs == [True] * 3  # warm-up and both timed calls keep the graph
    assert not gen.weight.requires_grad  # frozen again afterwards
    gen.weight.requires_grad_(True)
    speed.time_render(gen, 4, 1, cpu, grad=True)
    assert gen.weight.requires_grad  # a trainable flag is restored as it was


def test_speed_metric_records_milliseconds_per_resolution_and_grad_mode(monkeypatch):
    calls = []

    def fake(generator, res, repeats, device, grad, seed=0):
        calls.append((res, repeats, device, grad, seed))
        return {"seconds": [res / 1000, 0.5 * grad], "peak_mb": None if device.type == "cpu" else res + grad}

    monkeypatch.setattr(speed, "time_render", fake)
    proto = make_protocol("small", speed_resolutions=[8, 16], speed_repeats=2, seed_start=4)
    metric, model = speed.SpeedMetric(), EvalModel("m", Echo())
    ticks = []
    cpu = metric.evaluate(model, _ctx(proto, progress=ticks.append))
    assert cpu == {"speed_ms_8": [8.0, 0.0], "speed_ms_8_grad": [8.0, 500.0], "speed_ms_16": [16.0, 0.0],
                   "speed_ms_16_grad": [16.0, 500.0],
                   "_meta": {"peak_mb": None, "peak_mb_reason": "CPU: no per-call peak from torch's allocator"}}
    cpu_device = torch.device("cpu")
    assert calls == [(8, 2, cpu_device, False, 4), (8, 2, cpu_device, True, 4), (16, 2, cpu_device, False, 4),
                     (16, 2, cpu_device, True, 4)]
    assert ticks == [1] and metric.work_units(_ctx(proto)) == 1
    gpu = metric.evaluate(model, EvalContext(protocol=proto, device="cuda", seeds=proto.seeds))
    assert gpu["peak_mb_8"] == [8] and gpu["peak_mb_16_grad"] == [17] and "_meta" not in gpu
    assert gpu["speed_ms_16"] == [16.0, 0.0] and len(gpu) == 8
    assert metric.protocol_info(_ctx(proto)) == {"resolutions": [8, 16], "repeats": 2, "batch": 1, "device": "cpu",
                                                 "threads": torch.get_num_threads()}  # a CPU time depends on them
    assert (metric.name, metric.higher_is_better, metric.requires) == ("speed", False, ("images",))


# ============================================================================ zoo3d/eval/harness.py

def test_load_eval_model_puts_the_generator_in_eval_mode_without_gradients(monkeypatch):
    import zoo3d.runs

    asked = []
    net = torch.nn.Linear(2, 2)

    def load(checkpoint, model, device):
        asked.append((checkpoint, model, device))
        return SimpleNamespace(generator=net, spec=SimpleNamespace(name="registered"),
                               checkpoint=Path("/r/ckpt.pt") if checkpoint else None, sha256="ab" if checkpoint else None,
                               step=7 if checkpoint else 0)

    monkeypatch.setattr(zoo3d.runs, "load_model", load)
    m = harness.load_eval_model("alias", "/r/ckpt.pt", torch.device("cpu"))
    assert asked == [("/r/ckpt.pt", "alias", "cpu")]
    assert (m.name, m.generator, m.checkpoint, m.sha256, m.step) == ("registered", net, "/r/ckpt.pt", "ab", 7)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    bare = harness.load_eval_model("alias", None, "cpu")
    assert bare.checkpoint is None and bare.sha256 is None and bare.step is None  # no checkpoint: no step


def test_load_metrics_names_each_metric_by_its_spec(monkeypatch):
    import zoo3d.plugins

    class Named(Metric):
        name = "own"

    specs = {"a": SimpleNamespace(name="alpha", load=lambda: Metric()), "b": SimpleNamespace(name="beta", load=Named),
             "c": SimpleNamespace(name="gamma", load=SimpleNamespace)}  # an object without a name at all
    monkeypatch.setattr(zoo3d.plugins, "get_metric_spec", lambda n: specs[n])
    metrics = harness.load_metrics(["a", "b", "c"])
    assert list(metrics) == ["alpha", "beta", "gamma"]
    # the registered name, over the class's own: settings are resolved under it
    assert (metrics["alpha"].name, metrics["beta"].name, metrics["gamma"].name) == ("alpha", "beta", "gamma")


def test_reproducible_seeds_torch_and_restores_its_state():
    before = torch.get_rng_state()
    with harness.reproducible(13, torch.device("cpu")):
        inside = torch.rand(3)
    assert torch.equal(inside, torch.rand(3, generator=torch.Generator().manual_seed(13)))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.are_deterministic_algorithms_enabled() is False


class Stats(Metric):
    """Two keys per instance from the seed and the model; a caveat noted twice, evidence, a random draw."""

    name = "stats"
    keys = ("stats_a", "stats_b")
    higher_is_better = {"stats_a": True, "stats_b": False}

    def __init__(self):
        self.draws = []

    def evaluate(self, model, ctx):
        self.draws.append(torch.rand(1).item())
        ctx.notes += ["stats: a caveat", "stats: a caveat"]
        ctx.evidence_path(model.name, self.name, "x.png")
        ctx.advance(len(ctx.seeds))
        scale = {"m1": 1.0, "m2": 3.0}[model.name]
        return {"stats_a": [scale * s ** 2 for s in ctx.seeds], "stats_b": [scale - s for s in ctx.seeds],
                "_meta": {"comparable": False}}

    def protocol_info(self, ctx):
        return {"instances": len(ctx.seeds)}


class Partial(Metric):
    """Not applicable to ``m2``; one timing key besides its own for ``m1``."""

    name = "part"
    keys = ("part_x", "part_y")
    higher_is_better = {"part_x": True, "part_y": True}  # the timing key gets no direction
    units = "one"

    def evaluate(self, model, ctx):
        if model.name == "m2":
            raise NotApplicable("m2 renders no depth")
        ctx.advance(1)
        return {"part_x": [0.5], "part_ms_8": [2.0, 4.0]}


def test_compare_models_summarises_every_metric_of_every_model(tmp_path):
    proto = Protocol(instances=3, seed_start=2, resolution=None)
    gens = {"m1": Echo(resolution=(24, 24)), "m2": Echo(resolution=(40, 40))}
    gens["m2"].strictly_3d_consistent = False
    models = [EvalModel("m1", gens["m1"], "c1.pt", "h1"), EvalModel("m2", gens["m2"])]
    metrics = {"stats": Stats(), "part": Partial()}
    ticks, order = [], []
    result = harness.compare_models(models, metrics, proto, "cpu", out_dir=tmp_path, options={"k": 1},
                                    progress=ticks.append, on_model=lambda m, k: order.append((m, k)))
    assert set(result) == {"models", "protocol", "provenance", "higher_is_better", "notes", "evidence"}
    assert order == [("m1", "stats"), ("m1", "part"), ("m2", "stats"), ("m2", "part")]
    assert ticks == [3, 1, 3, 1] and harness.total_work(models, metrics, _ctx(proto)) == 2 * (3 + 1)
    seeds = [2, 3, 4]
    for name, scale in (("m1", 1.0), ("m2", 3.0)):
        for key, vals in (("stats_a", [scale * s ** 2 for s in seeds]), ("stats_b", [scale - s for s in seeds])):
            mean = sum(vals) / 3
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / 2)
            assert result["models"][name][key] == {"mean": mean, "std": pytest.approx(std, rel=1e-15), "n": 3,
                                                   "values": vals, "comparable": False}
    assert result["models"]["m1"]["part_x"] == {"mean": 0.5, "std": 0.0, "n": 1, "values": [0.5]}
    assert result["models"]["m1"]["part_ms_8"] == {"mean": 3.0, "std": math.sqrt(2), "n": 2, "values": [2.0, 4.0]}
    for key in ("part_x", "part_y"):
        assert result["models"]["m2"][key] == {"mean": None, "std": None, "n": 0, "values": [],
                                               "not_applicable": "m2 renders no depth"}
    assert list(result["models"]["m2"]) == ["stats_a", "stats_b", "part_x", "part_y"]
    assert result["provenance"] == {
        "m1": {"checkpoint": "c1.pt", "sha256": "h1", "resolution": 24, "seeds": seeds, "strictly_3d_consistent": True,
               "data": None, "step": None, "recipe_steps": None, "world_size": None, "trained_device": None,
               "steps_cap": None},  # an EvalModel given no training record
        "m2": {"checkpoint": None, "sha256": None, "resolution": 40, "seeds": seeds, "strictly_3d_consistent": False,
               "data": None, "step": None, "recipe_steps": None, "world_size": None, "trained_device": None,
               "steps_cap": None}}
    assert result["protocol"] == {**proto.model_dump(), "seeds": seeds, "device": "cpu", "torch": torch.__version__,
                                  "metrics": {"stats": {"instances": 3}, "part": {}},
                                  "changed": ["seed_start=2", "resolution=null"]}  # departs from "small" so
    assert result["higher_is_better"] == {"stats_a": True, "stats_b": False, "part_x": True, "part_y": True}
    assert result["notes"] == ["stats: a caveat"]
    assert result["evidence"] == {f"{m}/stats": [str(tmp_path / m / "stats" / "x.png")] for m in ("m1", "m2")}
    # each model starts from torch's stream for the protocol's first seed, whichever model ran before it
    first = torch.rand(1, generator=torch.Generator().manual_seed(2)).item()
    assert metrics["stats"].draws == [first, first]
    json.dumps(result)
    # a metric after one that does not apply still runs; a plain generator object; the protocol's resolution
    fixed = Protocol(instances=3, seed_start=2, resolution=16)
    quiet = harness.compare_models([EvalModel("m2", SimpleNamespace())], {"part": Partial(), "stats": Stats()}, fixed,
                                   torch.device("cpu"))
    assert list(quiet["models"]["m2"]) == ["part_x", "part_y", "stats_a", "stats_b"]
    assert quiet["models"]["m2"]["stats_a"] == result["models"]["m2"]["stats_a"]
    assert quiet["provenance"]["m2"]["resolution"] == 16 and quiet["provenance"]["m2"]["strictly_3d_consistent"] is True
    assert quiet["evidence"] == {} and quiet["protocol"]["device"] == "cpu"


def test_format_value_reads_mean_std_and_n():
    assert harness.format_value({"mean": 1.23456789, "std": 0.012345, "n": 3}) == "1.235 ± 0.012 (n=3)"
    assert harness.format_value({"mean": 2.0, "std": 0.5, "n": 2, "comparable": False}) == \
        "2 ± 0.5 (not comparable) (n=2)"
    assert harness.format_value({"mean": 2.0, "std": 0.5, "n": 2, "comparable": True}) == "2 ± 0.5 (n=2)"
    assert harness.format_value({"mean": 2.0, "std": 0.0, "n": 1, "not_applicable": "why"}) == "n/a"
    assert harness.format_value({"mean": 19.76, "std": 0.0, "n": 1}) == "19.76 (n=1)"  # one value: no "± 0"
    # not 1.235e+04 ± 1.5e+02
    assert harness.format_value({"mean": 12345.6, "std": 147.0, "n": 3}) == "12350 ± 150 (n=3)"
    assert harness.format_value({"mean": 0.00012345, "std": 1e-5, "n": 2}) == "0.0001234 ± 1e-05 (n=2)"
    assert harness.format_value({"mean": None, "std": None, "n": 0, "not_applicable": ""}) == "-"


def _result(tmp_path):
    return {
        "models": {"m1": {"a": {"mean": 1.5, "std": 0.25, "n": 2, "values": [1.25, 1.75]},
                          "b": {"mean": 3.0, "std": 0.0, "n": 1, "values": [3.0]}},
                   "m2": {"a": {"mean": None, "std": None, "n": 0, "values": [], "not_applicable": "no"},
                          "c": {"mean": 0.5, "std": 0.0, "n": 1, "values": [0.5]}}},
        "protocol": {"name": "small", "instances": 2, "neus": {"iterations": 4}, "metrics": {"a": {}}},
        "provenance": {"m1": {"checkpoint": "c.pt", "sha256": "ff", "resolution": 16, "seeds": [0, 1]},
                       "m2": {"checkpoint": None, "sha256": None, "resolution": 32, "seeds": [0, 1]}},
        "higher_is_better": {"a": True, "b": False},
        "notes": ["first", "second"],
        "evidence": {"m1/a": [str(tmp_path / "img" / "m1" / "a" / "s0.png")]},
    }


def test_write_markdown_lays_out_table_protocol_provenance_and_evidence(tmp_path):
    path = harness.write_markdown(_result(tmp_path), tmp_path / "out" / "report.md", command="zoo3d compare x")
    assert path == tmp_path / "out" / "report.md"
    expected = "\n".join([
        "# zoo3d compare", "", "```", "zoo3d compare x", "```", "",
        "| model | a ↑ | b ↓ | c |", "|---|---|---|---|",  # c: no direction recorded, no arrow
        "| m1 | 1.5 ± 0.25 (n=2) | 3 (n=1) | - |", "| m2 | n/a | - | 0.5 (n=1) |",
        "", "- n/a: a of m2: no", "",  # why m2's a is n/a: its not_applicable
        "Values are mean ± standard deviation over instances (n); speed's over timing repeats.", "",
        "## Notes", "", "- first", "- second", "",
        "## Protocol", "", "```json",  # all of it: the report named no --data nor the NeuS budget
        json.dumps({"name": "small", "instances": 2, "neus": {"iterations": 4}, "metrics": {"a": {}}}, indent=1),
        "```", "",
        "## Provenance", "",
        "- **m1**: checkpoint `c.pt`, sha256 `ff`, resolution 16, seeds [0, 1]",
        "- **m2**: no checkpoint, resolution 32, seeds [0, 1]", "",  # not "checkpoint `None`, sha256 `None`"
        "## Evidence", "", "### m1/a", "", "![s0](../img/m1/a/s0.png)", ""])
    assert path.read_text() == expected
    bare = _result(tmp_path)
    bare.update(notes=[], evidence={})
    text = harness.write_markdown(bare, tmp_path / "bare.md").read_text()
    assert text.startswith("# zoo3d compare\n\n| model |") and "## Notes" not in text and "## Evidence" not in text
    assert text.endswith("seeds [0, 1]\n")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="Cannot write report .* is a file, not a folder"):
        harness.write_markdown(bare, tmp_path / "file" / "report.md")


def test_write_json_writes_the_result_indented(tmp_path):
    result = _result(tmp_path)
    path = harness.write_json(result, tmp_path / "r.json")
    assert path == tmp_path / "r.json" and json.loads(path.read_text()) == result
    assert path.read_text() == json.dumps(result, indent=2)
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="Cannot write results "):
        harness.write_json(result, tmp_path / "file" / "r.json")


def test_a_metric_spec_direction_applies_unless_the_metric_class_sets_its_own(monkeypatch):
    """MetricSpec(higher_is_better=False) is the direction of a metric class that declares none; a class
    (or instance) that sets higher_is_better keeps its own, since it may give one per key."""
    import zoo3d.plugins

    class Bare(Metric):
        pass

    class Own(Metric):
        higher_is_better = {"own": True}

    specs = {"bare": (Bare, False), "own": (Own, False)}

    def spec_of(name):
        cls, direction = specs[name]
        return SimpleNamespace(name=name, load=cls, higher_is_better=direction)

    monkeypatch.setattr(zoo3d.plugins, "get_metric_spec", spec_of)
    metrics = harness.load_metrics(["bare", "own"])
    assert metrics["bare"].better("bare") is False  # the spec's
    assert metrics["own"].better("own") is True and metrics["own"].better("other") is None  # the class's
    assert Bare.higher_is_better is None  # the class itself is left alone


def test_the_report_names_a_noised_view_per_view_noise_not_a_2d_upsampler():
    """A calibration view with per-view noise is not strictly consistent; the note said '2D upsampler' of it."""
    from zoo3d.eval.metric import note_upsampler

    base = SimpleNamespace(z_dim=2, resolution=(8, 8), camera_prior=CameraPrior(), strictly_3d_consistent=True)
    upsampler = SimpleNamespace(**{**vars(base), "strictly_3d_consistent": False})
    ctx = EvalContext(protocol=make_protocol("small", instances=1), device=torch.device("cpu"), seeds=[0])
    for name, generator in [("noise", DegradedGenerator(base, noise=0.1)), ("blur", DegradedGenerator(base, blur=1.0)),
                            ("up", upsampler)]:
        note_upsampler(EvalModel(name, generator, None), ctx, "x scores y")
    assert ctx.notes == ["noise: not strictly 3D-consistent (per-view noise); x scores y.",
                         "up: not strictly 3D-consistent (2D upsampler); x scores y."]
