"""``zoo3d bench render``'s record (docs/testing.md, benchmarks/RESULTS.md "Renderers"): its networks are GRAM's
manifold predictor and radiance network written out from the authors' code (microsoft/GRAM
``generators/representations/gram.py``), its times are medians of per-run clocks with the warm-up left out,
``overhead_fraction`` is the median of (total - network) / total per run, and the suite measures both renderers
at 64², 128² (and 256²) with ``speedup_vs_naive`` = volume total / manifold total."""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from zoo3d.benchmarks import render as bench


def test_the_scalar_network_is_grams_manifold_predictor_written_out():
    """GramSample (hidden 128, 3 layers, centre (0, 0, -1.5), box warp 0.24): x * 2/0.24 - centre, three Linear +
    ReLU, Linear(128, 1); geometry_init N(0, sqrt(2 / out)) and zero biases, last layer 10 sqrt(pi / 128)."""
    torch.manual_seed(0)
    net = bench.ScalarMLP()
    linears = [m for m in net.body if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 128), (128, 128), (128, 128)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in net.body) == 3
    assert torch.all(net.out.weight == 10 * math.sqrt(math.pi / 128)) and torch.all(net.out.bias == 0)
    assert all(torch.all(m.bias == 0) for m in linears)
    hidden = torch.cat([m.weight.flatten() for m in linears[1:]])
    assert hidden.std().item() == pytest.approx(math.sqrt(2 / 128), rel=0.02)
    assert abs(hidden.mean().item()) < 0.01 * math.sqrt(2 / 128) * 10

    p = torch.randn(2, 50, 3) * 0.1
    x = p / 0.24 * 2 - torch.tensor([0.0, 0.0, -1.5])
    for m in linears:
        x = torch.clamp(x @ m.weight.T + m.bias, min=0)
    expected = (x @ net.out.weight.T + net.out.bias)[..., 0]
    with torch.no_grad():
        torch.testing.assert_close(net(p), expected, rtol=1e-5, atol=1e-4)


def test_the_radiance_network_is_grams_radiance_field_written_out():
    """GramRF: 8 FiLM layers sin(freq (W x + b) + phase) on x * 2/0.24; for layers 1..7 a sigma head each; rgb heads on
    layers 1..6 and, for layer 7, on the colour FiLM layer over concat(dir, x) with the 9th FiLM row; rgb is the
    widened sigmoid sigmoid(rgb)(1 + 2e-3) - 1e-3; sigma comes back raw (the benchmark's representations activate
    it)."""
    torch.manual_seed(0)
    net = bench.RadianceMLP()
    assert len(net.trunk.layers) == 8 and len(net.sigma_heads) == 7 and len(net.rgb_heads) == 7
    assert net.mapping.z_dim == 256 and net.mapping.num_film_layers == 9 and net.mapping.film_dim == 256
    # CustomMappingNetwork(z_dim, 256, ...): three hidden layers of 256
    assert [m.out_features for m in net.mapping.hidden if isinstance(m, torch.nn.Linear)] == [256, 256, 256]
    with torch.no_grad():
        freq, phase = net.mapping(torch.randn(1, 256))
        p = torch.randn(1, 40, 3) * 0.1
        dirs = F.normalize(torch.randn(1, 40, 3), dim=-1)
        rgb, sigma = net(p, dirs, freq, phase)

        x = p * 2 / 0.24
        sigma_ref, rgb_ref = 0, 0
        for i, film in enumerate(net.trunk.layers):
            x = torch.sin(freq[:, i, None] * (x @ film.layer.weight.T + film.layer.bias) + phase[:, i, None])
            if i == 0:
                continue
            sigma_ref = sigma_ref + x @ net.sigma_heads[i - 1].weight.T + net.sigma_heads[i - 1].bias
            feature = x
            if i == 7:
                c = net.color.layer
                feature = torch.sin(freq[:, 8, None] * (torch.cat([dirs, x], -1) @ c.weight.T + c.bias)
                                    + phase[:, 8, None])
            rgb_ref = rgb_ref + feature @ net.rgb_heads[i - 1].weight.T + net.rgb_heads[i - 1].bias
    torch.testing.assert_close(sigma, sigma_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(rgb, torch.sigmoid(rgb_ref) * (1 + 2e-3) - 1e-3, rtol=1e-4, atol=1e-5)


class _EchoRadiance(torch.nn.Module):
    """rgb = the direction it was given, sigma = the first coordinate: shows what the representation passes on."""

    def forward(self, p, dirs, freq, phase):
        return dirs, p[..., :1]


def test_the_manifold_representation_has_grams_levels_and_alpha_from_softplus_sigma():
    """23 levels from 23 down to 8, background at z = -0.12, alpha = 1 - exp(-0.04 softplus(sigma)); every point of a
    manifold gets its pixel's direction; the background keeps its colour and has no alpha."""
    calls = []

    def call(fn):
        def wrapped(*args):
            calls.append(fn)
            return fn(*args)
        return wrapped

    scalar = lambda x: x.sum(-1)  # noqa: E731
    rep = bench.BenchManifolds(scalar, _EchoRadiance(), torch.zeros(1, 9, 4), torch.zeros(1, 9, 4), call, call)
    torch.testing.assert_close(rep.levels, torch.tensor([23 - 15 * i / 22 for i in range(23)]))
    assert rep.background_z == -0.12
    x = torch.randn(1, 5, 3)
    torch.testing.assert_close(rep.scalar(x), x.sum(-1))
    points, dirs = torch.randn(2, 3, 4, 3) * 3, F.normalize(torch.randn(2, 4, 3), dim=-1)
    out = rep.radiance(points, dirs)
    torch.testing.assert_close(out.rgb, dirs[:, None].expand(2, 3, 4, 3))
    sp = torch.log1p(torch.exp(points[..., :1]))
    torch.testing.assert_close(out.alpha, 1 - torch.exp(-0.04 * sp))
    bg = rep.background_radiance(points[:, :, 0], dirs)
    torch.testing.assert_close(bg.rgb, dirs)
    assert bg.alpha is None
    assert len(calls) == 3  # each network call went through the timer

    wide = bench.BenchManifolds(scalar, _EchoRadiance(), torch.zeros(1, 9, 4, dtype=torch.float64),
                                torch.zeros(1, 9, 4, dtype=torch.float64), call, call)
    assert wide.levels.dtype == torch.float64  # the levels follow the FiLM parameters' dtype

    field = bench.BenchField(_EchoRadiance(), torch.zeros(1, 9, 4), torch.zeros(1, 9, 4), call)
    assert field.kind == "density" and field.bounds == 0.12
    q = field.query(points[:, :, 0], dirs)
    torch.testing.assert_close(q.sigma, points[:, :, 0, :1])
    torch.testing.assert_close(q.rgb, dirs)
    assert len(calls) == 4


class _Clock:
    now = 0.0

    def perf_counter(self):
        return self.now


def _stand_in_renderers(monkeypatch, schedule):
    """Renderers that spend ``schedule[k] = (overhead, network)`` clock seconds on their k-th render (k = 0 the
    warm-up), the network part inside the benchmark's networks; returns what each render was given and the scalar
    network's first weights at each call."""
    import zoo3d.render as render_pkg

    clock, seen = _Clock(), []
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    per_call, seen_weights = {}, []

    def scalar_forward(self, p):
        seen_weights.append(self.body[0].weight.clone())
        clock.now += per_call["dt"]
        return p[..., 0]

    def radiance_forward(self, p, dirs, freq, phase):
        clock.now += per_call["dt"]
        return torch.zeros_like(p), p[..., :1]

    monkeypatch.setattr(bench.ScalarMLP, "forward", scalar_forward)
    monkeypatch.setattr(bench.RadianceMLP, "forward", radiance_forward)

    class Renderer:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs, self.training = args, kwargs, False

        def train(self):
            self.training = True
            return self

        def render(self, rep, cams, size):
            overhead, network = schedule[len(seen)]
            seen.append((self, cams, size))
            clock.now += overhead
            if isinstance(rep, bench.BenchManifolds):
                per_call["dt"] = network / 2
                rep.scalar(torch.zeros(1, 2, 3))
                rep.radiance(torch.zeros(1, 2, 1, 3), torch.zeros(1, 1, 3))
            else:
                per_call["dt"] = network
                rep.query(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))

    monkeypatch.setattr(render_pkg, "ManifoldRenderer", Renderer)
    monkeypatch.setattr(render_pkg, "VolumeRenderer", Renderer)
    return seen, seen_weights


@pytest.mark.parametrize("renderer", ["manifold", "volume"])
def test_a_record_holds_the_medians_of_its_runs_after_an_untimed_warm_up(renderer, monkeypatch):
    """Runs (overhead, network) = (2, 2), (1, 9), (10, 10) after a (50, 50) warm-up at 16²: total 4, 10, 20 -> 10;
    network 2, 9, 10 -> 9; per-run overhead 0.5, 0.1, 0.5 -> 0.5 (not 1 - 9/10). Peak memory: the rise over the
    post-set-up peak."""
    seen, weights = _stand_in_renderers(monkeypatch, [(50.0, 50.0), (2.0, 2.0), (1.0, 9.0), (10.0, 10.0)])
    rss = iter([1000.0, 1250.5])
    monkeypatch.setattr(bench, "_peak_rss_mb", lambda: next(rss))
    torch.manual_seed(1234)  # a state other than seed 0's: measure must seed it
    rec = bench.measure(renderer, 64, "cpu", 3)
    assert rec == {"renderer": renderer, "resolution": 64, "device": "cpu", "batch": 1,
                   "total_s": 10.0, "network_s": 9.0, "overhead_fraction": 0.5, "peak_mem_mb": 250.5, "repeats": 3,
                   "samples": "64 search + 24 hits" if renderer == "manifold" else "24 + 24 importance",
                   "status": "ok"}
    assert [size for _, _, size in seen] == [(16, 16), (64, 64), (64, 64), (64, 64)]
    if renderer == "manifold":  # the networks are built after seeding 0
        torch.manual_seed(0)
        torch.testing.assert_close(weights[0], bench.ScalarMLP().body[0].weight)
    r, cams, _ = seen[0]
    if renderer == "manifold":
        assert r.args == (64, 0.88, 1.12) and not r.kwargs
    else:
        assert r.args == (24, 24, 0.88, 1.12) and r.kwargs == {"stratified": True, "density_activation": "softplus"}
        assert r.training  # stratified samples: the renderer's training mode
    angles = cams.to_angles()
    assert len(cams) == 1
    torch.testing.assert_close(angles["yaw"], torch.tensor([0.2]))
    torch.testing.assert_close(angles["pitch"], torch.tensor([0.05]))
    torch.testing.assert_close(angles["radius"], torch.tensor([1.0]))
    assert float(torch.as_tensor(angles["fov"]).flatten()[0]) == pytest.approx(12.0)


def test_the_warm_up_is_the_records_size_below_16_squared_on_a_cpu(monkeypatch):
    seen, _ = _stand_in_renderers(monkeypatch, [(1.0, 1.0), (1.0, 3.0)])
    rec = bench.measure("volume", 8, "cpu", 1)
    assert [size for _, _, size in seen] == [(8, 8), (8, 8)]
    assert rec["total_s"] == 4.0 and rec["network_s"] == 3.0 and rec["overhead_fraction"] == 0.25


def test_the_peak_memory_reading_is_the_processes_peak_resident_size():
    """ru_maxrss (KiB on Linux) in MiB: the kernel's VmHWM for this process."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    assert bench._peak_rss_mb() == pytest.approx(hwm, abs=2.0)


def test_the_suite_measures_both_renderers_at_each_size_and_the_manifold_speedup(monkeypatch, capsys):
    """docs/testing.md: 64², 128², 256² (quick: 64² and 128², one repeat); 3 repeats but one at 256² on a CPU; on a
    CPU each record in a fresh process; speedup_vs_naive on the manifold record = volume total / manifold
    total."""
    totals = {("manifold", 64): 2.0, ("volume", 64): 3.0, ("manifold", 128): 4.0, ("volume", 128): 10.0,
              ("manifold", 256): 8.0, ("volume", 256): 12.0}
    calls = []

    def fake(kind):
        def measure(name, res, device, repeats):
            calls.append((kind, name, res, device, repeats))
            return {"renderer": name, "resolution": res, "total_s": totals[name, res]}
        return measure

    monkeypatch.setattr(bench, "_measure_isolated", fake("isolated"))
    monkeypatch.setattr(bench, "measure", fake("in process"))
    records = bench.run("cpu", quick=True)
    assert calls == [("isolated", "manifold", 64, "cpu", 1), ("isolated", "volume", 64, "cpu", 1),
                     ("isolated", "manifold", 128, "cpu", 1), ("isolated", "volume", 128, "cpu", 1)]
    assert [(r["renderer"], r["resolution"]) for r in records] == [("manifold", 64), ("volume", 64),
                                                                    ("manifold", 128), ("volume", 128)]
    assert [r.get("speedup_vs_naive") for r in records] == [1.5, None, 2.5, None]
    assert capsys.readouterr().err.splitlines() == [  # each measurement said as it starts: the suite takes long
        "render: 1/4: the manifold renderer at 64x64, 1 render after a warm-up",
        "render: 2/4: the volume renderer at 64x64, 1 render after a warm-up",
        "render: 3/4: the manifold renderer at 128x128, 1 render after a warm-up",
        "render: 4/4: the volume renderer at 128x128, 1 render after a warm-up"]

    calls.clear()
    records = bench.run("cpu", quick=False)
    assert [(c[2], c[4]) for c in calls] == [(64, 3), (64, 3), (128, 3), (128, 3), (256, 1), (256, 1)]
    assert {c[0] for c in calls} == {"isolated"}
    assert records[4]["speedup_vs_naive"] == 1.5

    calls.clear()
    bench.run("cuda", quick=False)
    assert [c[0] for c in calls] == ["in process"] * 6
    assert [(c[1], c[2], c[3], c[4]) for c in calls[-2:]] == [("manifold", 256, "cuda", 3), ("volume", 256, "cuda", 3)]


def test_a_record_in_a_fresh_process_is_measures_record_and_a_failing_child_is_reported(monkeypatch):
    """The child runs ``measure`` with the record's arguments and prints its JSON; a child that fails gives a record
    of that status with the last line of its error (killed: OOM), where it raised and lost the suite's records."""
    seen = []

    def fake_measure(renderer, resolution, device, repeats, cap_gb=None):
        return {"renderer": renderer, "resolution": resolution, "device": device, "repeats": repeats, "cap": cap_gb}

    def fake_run(argv, **kwargs):
        seen.append(kwargs)
        assert argv[:2] == [sys.executable, "-c"]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            print("a warning the child printed first")
            print("and another")
            exec(argv[2], {})
        return subprocess.CompletedProcess(argv, 0, out.getvalue(), "")

    monkeypatch.setattr(bench, "measure", fake_measure)
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.delenv("ZOO3D_BENCH_CPU_MEM_GB", raising=False)
    assert bench._measure_isolated("volume", 128, "cpu", 3) == {"renderer": "volume", "resolution": 128,
                                                                 "device": "cpu", "repeats": 3, "cap": 12}
    assert seen == [{"capture_output": True, "text": True, "check": False}]
    monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", "0.5")  # the child reads the cap the suite runs under
    assert bench._measure_isolated("volume", 64, "cpu", 1)["cap"] == 0.5

    monkeypatch.setattr(bench.subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(
        argv, 1, "", "Traceback (most recent call last):\n  ...\nMemoryError: out of memory"))
    assert bench._measure_isolated("manifold", 64, "cpu", 3) == {
        "renderer": "manifold", "resolution": 64, "device": "cpu", "batch": 1, "total_s": None, "network_s": None,
        "overhead_fraction": None, "peak_mem_mb": None, "repeats": 3, "status": "error",
        "note": "exit 1: MemoryError: out of memory"}
    monkeypatch.setattr(bench.subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, -9, "", ""))
    failed = bench._measure_isolated("volume", 256, "cpu", 1)
    assert (failed["status"], failed["note"], failed["total_s"]) == ("OOM", "exit -9: no output", None)


def test_a_failed_record_leaves_the_others_and_no_speedup_at_its_size(monkeypatch, capsys):
    """The 128² manifold record's process failing and the 256² volume record's killed on a CPU: the suite goes on to
    the end, its records are all there, and neither size has a speedup_vs_naive (there is no time to divide)."""
    totals = {("manifold", 64): 2.0, ("volume", 64): 3.0, ("volume", 128): 10.0, ("manifold", 256): 8.0}

    def run(argv, **kwargs):
        name, res = argv[2].split("measure(")[1].split(", ")[:2]
        total = totals.get((name.strip("'"), int(res)))
        if total is None and name == "'manifold'":
            return subprocess.CompletedProcess(argv, 1, "", "RuntimeError: boom")
        if total is None:
            return subprocess.CompletedProcess(argv, -9, "", "")
        return subprocess.CompletedProcess(argv, 0, '{"total_s": %s, "status": "ok"}' % total, "")

    monkeypatch.setattr(bench.subprocess, "run", run)
    records = bench.run("cpu", quick=False)
    assert [(r["total_s"], r["status"]) for r in records] == [
        (2.0, "ok"), (3.0, "ok"), (None, "error"), (10.0, "ok"), (8.0, "ok"), (None, "OOM")]
    assert [r.get("speedup_vs_naive") for r in records] == [1.5, None, None, None, None, None]


def test_the_network_timer_adds_each_calls_clock_time_from_zero(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    timer = bench._Timer(torch.device("cpu"))
    assert timer.seconds == 0.0

    def net(x, scale=1.0):
        clock.now += 0.5
        return x * scale

    timed = timer(net)
    assert timed(3.0, scale=2.0) == 6.0 and timed(1.0) == 1.0
    assert timer.seconds == 1.0


@pytest.mark.parametrize("platform, expected", [("linux", 3 * 2**20 / 2**10), ("darwin", 3.0)])
def test_the_peak_resident_size_is_read_in_kib_on_linux_and_bytes_on_macos(platform, expected, monkeypatch):
    monkeypatch.setattr(bench.sys, "platform", platform)
    monkeypatch.setattr(bench.resource, "getrusage", lambda who: types.SimpleNamespace(ru_maxrss=3 * 2**20))
    assert bench._peak_rss_mb() == expected


def test_a_capped_record_caps_its_process_after_the_warm_up_and_a_refused_render_is_oom(monkeypatch):
    """On a CPU the cap is set once the warm-up has rendered (the set-up's memory is not counted); an allocation
    the cap refuses in a timed render makes a record of status OOM with the error's first line. Without cap_gb (a
    caller's own process) and on CUDA nothing is capped."""
    seen, _ = _stand_in_renderers(monkeypatch, [(1.0, 1.0), (1.0, 3.0)] * 2)
    caps = []
    monkeypatch.setattr(bench, "cap_address_space", lambda gb: caps.append((gb, len(seen))))
    rec = bench.measure("volume", 32, "cpu", 1, cap_gb=2.5)
    assert caps == [(2.5, 1)] and rec["status"] == "ok" and rec["total_s"] == 4.0  # after the warm-up's render
    bench.measure("volume", 32, "cpu", 1)
    assert caps == [(2.5, 1)]

    def refused(self, rep, cams, size):
        if size != (16, 16):  # the warm-up renders; the record's render is refused
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] err == 0. DefaultCPUAllocator: can't allocate "
                               "memory: you tried to allocate 5368709120 bytes.\nmore")

    import zoo3d.render as render_pkg

    monkeypatch.setattr(render_pkg.VolumeRenderer, "render", refused)
    assert bench.measure("volume", 64, "cpu", 3, cap_gb=1.0) == {
        "renderer": "volume", "resolution": 64, "device": "cpu", "batch": 1, "total_s": None, "network_s": None,
        "overhead_fraction": None, "peak_mem_mb": None, "repeats": 3, "status": "OOM",
        "note": "[enforce fail at alloc_cpu.cpp:117] err == 0. DefaultCPUAllocator: can't allocate memory: you tried "
                "to allocate 5368709120 bytes."}


def test_an_error_that_is_no_allocation_is_raised(monkeypatch):
    _stand_in_renderers(monkeypatch, [(1.0, 1.0)])
    monkeypatch.setattr(bench, "cap_address_space", lambda gb: None)
    import zoo3d.render as render_pkg

    def broken(self, rep, cams, size):
        if size != (16, 16):
            raise RuntimeError("shape mismatch")

    monkeypatch.setattr(render_pkg.ManifoldRenderer, "render", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        bench.measure("manifold", 64, "cpu", 1, cap_gb=1.0)


@pytest.mark.slow
def test_a_record_over_the_cap_is_reported_oom_by_its_own_process(monkeypatch):
    """End to end: a 64² volume render in a fresh process under a 10 MB cap (its rays alone take more)."""
    monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", "0.01")
    rec = bench._measure_isolated("volume", 64, "cpu", 1)
    assert rec["status"] == "OOM" and rec["total_s"] is None and "alloc" in rec["note"].lower()
