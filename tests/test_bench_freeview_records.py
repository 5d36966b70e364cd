"""``zoo3d bench freeview``'s records (docs/testing.md, benchmarks/RESULTS.md "Cached free-view rendering") with a
stand-in generator, cache, rasterizer and clocks: ``full_ms`` and ``cached_ms`` are the medians of the frames' times
(the cache's after an untimed warm-up frame), ``ratio`` = cached / full in wall and CPU time, ``build_ms`` the cache's
one-off build, ``psnr_min_db`` the lowest PSNR over the yaw -0.3, 0, 0.3 checks, frames on the prior's orbit; PSNR of
images in [-1, 1] is -10 log10(mean(((a - b) / 2)²)), computed here by hand."""

from __future__ import annotations

import math
import types

import pytest
import torch

from zoo3d.benchmarks import freeview as bench
from zoo3d.cameras import orbit


def test_psnr_is_of_images_in_minus_one_to_one_clamped_to_that_range():
    a = torch.zeros(1, 3, 4, 4)
    assert bench.psnr(a, a + 0.2) == pytest.approx(20.0, abs=1e-4)  # ((0.2 / 2)²) = 1e-2
    assert bench.psnr(a + 0.1, a) == pytest.approx(-10 * math.log10(0.05**2), abs=1e-4)
    assert bench.psnr(a + 3.0, a) == pytest.approx(-10 * math.log10(0.25), abs=1e-4)  # 3 counts as 1
    assert bench.psnr(a - 3.0, a + 0.5) == pytest.approx(-10 * math.log10(0.75**2), abs=1e-4)


def test_the_suite_is_256_squared_over_five_frames_and_quick_64_squared_over_three(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "measure", lambda device, resolution, frames: calls.append((device, resolution, frames)))
    bench.run("cpu", quick=False)
    bench.run("cuda", quick=True)
    assert calls == [("cpu", 256, 5), ("cuda", 64, 3)]


def test_a_timed_call_gives_wall_and_cpu_milliseconds(monkeypatch):
    clock = types.SimpleNamespace(wall=10.0, cpu=5.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.wall,
                                                              process_time=lambda: clock.cpu))

    def work():
        clock.wall += 0.25
        clock.cpu += 0.5

    assert bench._timed(work, torch.device("cpu")) == (pytest.approx(250.0), pytest.approx(500.0))


def test_the_generator_is_a_given_run_or_a_presets_architecture_with_seeded_random_weights(monkeypatch):
    import zoo3d.config
    import zoo3d.plugins
    import zoo3d.runs

    monkeypatch.setenv("ZOO3D_BENCH_FREEVIEW_RUN", "/runs/hd")
    monkeypatch.setattr(zoo3d.runs, "load_model", lambda ref, device: types.SimpleNamespace(
        generator=("generator of", ref, device), spec=types.SimpleNamespace(name="gram_hd"), step=4200))
    assert bench._generator("cpu") == (("generator of", "/runs/hd", "cpu"), "gram_hd run /runs/hd (step 4200)")

    monkeypatch.delenv("ZOO3D_BENCH_FREEVIEW_RUN")
    asked, configs = [], []
    plugin = types.SimpleNamespace(config_class="C", benchmark_generator=lambda config: torch.nn.Linear(
        configs.append(config) or 2, 1))
    spec = types.SimpleNamespace(name="gram_hd", presets_dir="/presets", load=lambda: plugin)
    monkeypatch.setattr(zoo3d.plugins, "model_with_role", lambda role, what: asked.append((role, what)) or spec)
    monkeypatch.setattr(zoo3d.config, "load_run_config",
                        lambda cls, name, presets_dir, preset: (cls, name, presets_dir, preset))
    gen, label = bench._generator("cpu")
    assert label == "gram_hd tiny preset, random weights" and not gen.training
    assert asked == [("bench:freeview", "zoo3d bench freeview")] and configs == [("C", "gram_hd", "/presets", "tiny")]
    torch.manual_seed(0)
    torch.testing.assert_close(gen.weight, torch.nn.Linear(2, 1).weight)  # seeded 0
    monkeypatch.setenv("ZOO3D_BENCH_FREEVIEW_PRESET", "ffhq256")
    assert bench._generator("cpu")[1] == "gram_hd ffhq256 preset, random weights"
    assert configs[-1][-1] == "ffhq256"


@pytest.mark.parametrize("gl", [False, True])
def test_a_record_per_rasterizer_of_median_frame_times_and_the_worst_check(gl, monkeypatch):
    """Generator frames take 10, 30, 20 ms (CPU half of that) after a 1000 ms warm-up; each cache frame 4, 1, 2 ms after
    a 500 ms warm-up; the build 2.5 s; the cached checks differ from the generator's by 0.2, 0.02, 0.1."""
    import zoo3d.freeview.cache
    import zoo3d.freeview.gl
    import zoo3d.freeview.render

    clock = types.SimpleNamespace(wall=0.0, cpu=0.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.wall,
                                                              process_time=lambda: clock.cpu))
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (3.14159, 1.0, 1.0))

    def spend(ms):
        clock.wall += ms / 1000
        clock.cpu += ms / 2000

    prior = types.SimpleNamespace(radius=1.1, fov=13.0, yaw_mean=0.05, centre_pitch=0.02)
    seen = []

    class Generator:
        camera_prior, z_dim = prior, 3

        def __call__(self, z, camera, psi, resolution):
            seen.append((z, camera, psi, resolution))
            spend(([1000.0, 10.0, 30.0, 20.0] + [0.0] * 3)[len(seen) - 1])
            return types.SimpleNamespace(rgb=torch.zeros(1, 3, *resolution))

    monkeypatch.setattr(bench, "_generator", lambda device: (Generator(), "the label"))
    built = []

    def cache_instance(gen, seed, psi):
        built.append((seed, psi))
        spend(2500.0)
        return types.SimpleNamespace(num_faces=1234)

    monkeypatch.setattr(zoo3d.freeview.cache, "cache_instance", cache_instance)
    monkeypatch.setattr(zoo3d.freeview.gl, "gl_available", lambda: gl)
    renderers = []

    class Renderer:
        def __init__(self, cache, backend):
            self.backend, self.frames, self.closed = backend, [], False
            renderers.append(self)

        def render(self, camera, resolution, depth):
            assert depth is False
            self.frames.append(camera)
            k = len(self.frames) - 1
            spend(([500.0, 4.0, 1.0, 2.0] + [0.0] * 3)[k])
            offset = [0.0] * 4 + [0.2, 0.02, 0.1]
            return types.SimpleNamespace(rgb=torch.full((1, 3, *resolution), offset[k]))

        def close(self):
            self.closed = True

    monkeypatch.setattr(zoo3d.freeview.render, "CachedRenderer", Renderer)
    records = bench.measure("cpu", resolution=8, frames=3)

    assert [r.backend for r in renderers] == (["gl", "torch"] if gl else ["torch"])
    assert all(r.closed for r in renderers) and built == [(0, 0.7)]
    common = {"model": "the label", "resolution": 8, "device": "cpu", "triangles": 1234, "build_ms": 2500.0,
              "full_ms": 20.0, "cached_ms": 2.0, "ratio": pytest.approx(0.1), "full_cpu_ms": 10.0,
              "cached_cpu_ms": 1.0, "cpu_ratio": pytest.approx(0.1), "psnr_min_db": 20.0, "frames": 3,
              "load_avg": 3.14}
    assert records == [{**common, "rasterizer": r.backend} for r in renderers]

    z = torch.randn(1, 3, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(s[0], z) and s[2] == 0.7 and s[3] == (8, 8) for s in seen)
    path = orbit(3, 0.3, 0.15, radius=1.1, fov=13.0, yaw_center=0.05, pitch_center=0.02)
    frames = [s[1] for s in seen[:4]]
    torch.testing.assert_close(frames[0].origins, path[0].origins)  # the warm-up frame
    for i in range(3):
        torch.testing.assert_close(frames[i + 1].origins, path[i].origins)
        torch.testing.assert_close(renderers[0].frames[i + 1].origins, path[i].origins)
    for i, yaw in enumerate([-0.3, 0.0, 0.3]):
        for cams in (seen[4 + i][1], renderers[-1].frames[4 + i]):
            a = cams.to_angles()
            torch.testing.assert_close(a["yaw"], torch.tensor([yaw]))
            torch.testing.assert_close(a["pitch"], torch.tensor([0.0]))
            torch.testing.assert_close(a["radius"], torch.tensor([1.1]))
            assert float(torch.as_tensor(a["fov"]).flatten()[0]) == pytest.approx(13.0)
