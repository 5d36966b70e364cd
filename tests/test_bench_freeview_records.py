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
    assert bench.psnr(a, a - 3.0) == pytest.approx(-10 * math.log10(0.25), abs=1e-4)
    assert bench.psnr(a, a + 3.0) == pytest.approx(-10 * math.log10(0.25), abs=1e-4)


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
    torch.manual_seed(1234)  # a state other than seed 0's: _generator must seed it
    gen, label = bench._generator("cpu")
    assert label == "gram_hd tiny preset, random weights" and not gen.training
    assert asked == [("bench:freeview", "zoo3d bench freeview")] and configs == [("C", "gram_hd", "/presets", "tiny")]
    torch.manual_seed(0)
    torch.testing.assert_close(gen.weight, torch.nn.Linear(2, 1).weight)  # seeded 0
    monkeypatch.setenv("ZOO3D_BENCH_FREEVIEW_PRESET", "ffhq256")
    assert bench._generator("cpu")[1] == "gram_hd ffhq256 preset, random weights"
    assert configs[-1][-1] == "ffhq256"


@pytest.mark.parametrize("gl, cpu_counted, args", [(False, True, (8, 3)), (True, True, (8, 3)), (False, False, ())])
def test_a_record_per_rasterizer_of_median_frame_times_and_the_worst_check(gl, cpu_counted, args, monkeypatch):
    """Generator frames take 10.123456, 30, 20.98765 ms (CPU 0.2, 0.6, 0.41234 ms) after a 1000 ms warm-up; cache frames
    4, 1.23456, 2.34567 ms (CPU half) after a 500 ms warm-up; the build 2500.46 ms; the cached checks differ from the
    generator's by 0.3, 0.02, 0.1 (the worst: -10 log10(0.15²) dB). Without CPU time counted there is no CPU ratio.
    ``measure()``'s defaults are the suite's: CPU, 256², 5 frames."""
    import zoo3d.freeview.cache
    import zoo3d.freeview.gl
    import zoo3d.freeview.render

    resolution, frames = args or (256, 5)
    clock = types.SimpleNamespace(wall=0.0, cpu=0.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.wall,
                                                              process_time=lambda: clock.cpu))
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (3.14159, 1.0, 1.0))

    def spend(ms, cpu_ms):
        clock.wall += ms / 1000
        clock.cpu += cpu_ms / 1000 if cpu_counted else 0.0

    prior = types.SimpleNamespace(radius=1.1, fov=13.0, yaw_mean=0.05, centre_pitch=0.02)
    seen, asked = [], []
    gen_wall = [1000.0, 10.123456, 30.0, 20.98765, 0.0, 0.0] + [0.0] * 3
    gen_cpu = [1000.0, 0.2, 0.6, 0.41234, 0.0, 0.0] + [0.0] * 3

    class Generator:
        camera_prior, z_dim = prior, 3

        def __call__(self, z, camera, psi, resolution):
            k = len(seen)
            seen.append((z, camera, psi, resolution))
            spend(gen_wall[k], gen_cpu[k])
            return types.SimpleNamespace(rgb=torch.zeros(1, 3, *resolution))

    generator = Generator()
    monkeypatch.setattr(bench, "_generator", lambda device: asked.append(device) or (generator, "the label"))
    built, the_cache = [], types.SimpleNamespace(num_faces=1234)

    def cache_instance(gen, seed, psi):
        built.append((gen, seed, psi))
        spend(2500.46, 2500.46)
        return the_cache

    monkeypatch.setattr(zoo3d.freeview.cache, "cache_instance", cache_instance)
    monkeypatch.setattr(zoo3d.freeview.gl, "gl_available", lambda: gl)
    renderers = []
    cache_wall = [500.0, 4.0, 1.23456, 2.34567] + [0.0] * 6

    class Renderer:
        def __init__(self, cache, backend):
            self.cache, self.backend, self.frames, self.closed = cache, backend, [], False
            renderers.append(self)

        def render(self, camera, resolution, depth):
            assert depth is False
            self.frames.append(camera)
            k = len(self.frames) - 1
            spend(cache_wall[k], cache_wall[k] / 2)
            offset = [0.0] * (1 + frames) + [0.3, 0.02, 0.1]
            return types.SimpleNamespace(rgb=torch.full((1, 3, *resolution), offset[k]))

        def close(self):
            self.closed = True

    monkeypatch.setattr(zoo3d.freeview.render, "CachedRenderer", Renderer)
    if frames == 5:
        gen_wall[4:6], gen_cpu[4:6] = [50.0, 60.0], [0.8, 1.0]  # median of 5: 30 ms, 0.6 ms CPU
        cache_wall[4:6] = [8.0, 9.0]  # median of 5: 4 ms
    records = bench.measure(*(("cpu",) + args if args else ()))

    assert asked == ["cpu"]
    assert [r.backend for r in renderers] == (["gl", "torch"] if gl else ["torch"])
    assert all(r.closed and r.cache is the_cache for r in renderers) and built == [(generator, 0, 0.7)]
    full_ms, cached_ms = (20.98765, 2.34567) if frames == 3 else (30.0, 4.0)
    full_cpu, cached_cpu = ((0.41234, 2.34567 / 2) if frames == 3 else (0.6, 2.0)) if cpu_counted else (0.0, 0.0)
    common = {"model": "the label", "resolution": resolution, "device": "cpu", "triangles": 1234, "build_ms": 2500.5,
              "full_ms": round(full_ms, 2), "cached_ms": round(cached_ms, 2),
              "ratio": pytest.approx(cached_ms / full_ms),
              "full_cpu_ms": round(full_cpu, 2), "cached_cpu_ms": round(cached_cpu, 2),
              "cpu_ratio": pytest.approx(cached_cpu / full_cpu) if cpu_counted else None,
              "psnr_min_db": round(-10 * math.log10(0.15**2), 2), "frames": frames, "load_avg": 3.14}
    assert records == [{**common, "rasterizer": r.backend} for r in renderers]

    z = torch.randn(1, 3, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(s[0], z) and s[2] == 0.7 and s[3] == (resolution, resolution) for s in seen)
    path = orbit(frames, 0.3, 0.15, radius=1.1, fov=13.0, yaw_center=0.05, pitch_center=0.02)
    timed = [s[1] for s in seen[:1 + frames]]
    for r in renderers:
        timed.append(r.frames[0])  # the cache's warm-up frame: the first of the orbit
        timed.extend(r.frames[1:1 + frames])
    expected = [path[0]] + [path[i] for i in range(frames)]
    for cams, want in zip(timed, expected * (1 + len(renderers))):
        torch.testing.assert_close(cams.origins, want.origins)
        assert float(torch.as_tensor(cams.to_angles()["fov"]).flatten()[0]) == pytest.approx(13.0)
    for i, yaw in enumerate([-0.3, 0.0, 0.3]):
        for cams in (seen[1 + frames + i][1], renderers[-1].frames[1 + frames + i]):
            a = cams.to_angles()
            torch.testing.assert_close(a["yaw"], torch.tensor([yaw]))
            torch.testing.assert_close(a["pitch"], torch.tensor([0.0]))
            torch.testing.assert_close(a["radius"], torch.tensor([1.1]))
            assert float(torch.as_tensor(a["fov"]).flatten()[0]) == pytest.approx(13.0)
