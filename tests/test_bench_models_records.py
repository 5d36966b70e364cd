"""``zoo3d bench models``' records (docs/testing.md, benchmarks/RESULTS.md "GRAM vs GRAM-HD"): with a stand-in
generator and clock, a record is the median of its renders' times in seconds (rounded to 4 places), the peak memory
is the rise over the post-set-up peak, inference runs without a graph and ``graph`` with one, a failed allocation is
an ``OOM`` record and any other error is raised; the plan measures every model at 128² and 256² (quick: 128²) in both
modes, the models that build on another at 512² and 1024² only on CUDA or with ``ZOO3D_BENCH_CPU_HIGHRES=1``."""

from __future__ import annotations

import contextlib
import io
import resource
import subprocess
import sys
import types

import pytest
import torch

from zoo3d.benchmarks import models as bench


class _Clock:
    now = 0.0

    def perf_counter(self):
        return self.now


class _StandIn(torch.nn.Module):
    """A generator whose k-th forward takes ``durations[k]`` clock seconds (or raises ``fail``)."""

    def __init__(self, clock, durations, fail=None):
        super().__init__()
        self.clock, self.durations, self.fail, self.calls = clock, list(durations), fail, []

    def sample_z(self, n, generator=None, device=None):
        self.seeds = [generator.initial_seed()]
        return torch.randn(n, 4, generator=generator)

    def sample_cameras(self, n, generator=None, device=None):
        self.seeds.append(generator.initial_seed())
        return torch.rand(n, 2, generator=generator)

    def forward(self, z, cams, resolution=None):
        if self.fail is not None:
            raise self.fail
        self.calls.append({"z": z, "cams": cams, "resolution": resolution, "grad": torch.is_grad_enabled(),
                           "training": self.training})
        self.clock.now += self.durations[len(self.calls) - 1]
        return z


@pytest.fixture
def stand_in(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    caps, built = [], []
    monkeypatch.setattr(bench, "cap_address_space", caps.append)
    rss = iter([1000.0, 1250.56])
    monkeypatch.setattr(bench, "_peak_rss_mb", lambda: next(rss))

    def use(durations, fail=None):
        gen = _StandIn(clock, durations, fail)
        monkeypatch.setattr(bench, "build", lambda model, res: built.append((model, res, torch.initial_seed())) or gen)
        return gen

    return types.SimpleNamespace(use=use, caps=caps, built=built)


@pytest.mark.parametrize("mode", ["nograd", "graph"])
def test_a_record_is_the_median_render_time_and_the_memory_rise(stand_in, mode, monkeypatch):
    monkeypatch.delenv("ZOO3D_BENCH_CPU_MEM_GB", raising=False)
    gen = stand_in.use([0.5, 1.23456, 2.0])
    torch.manual_seed(1234)  # not 0, which an earlier test may have left: measure must seed it
    rec = bench.measure("gram", 128, "cpu", mode, 3)
    assert rec == {"model": "gram", "resolution": 128, "device": "cpu", "mode": mode, "time_s": 1.2346,
                   "peak_mem_mb": 250.6, "status": "ok", "note": "median of 3"}
    assert stand_in.built == [("gram", 128, 0)] and stand_in.caps == [12.0]  # built after seeding 0
    assert gen.seeds == [0, 1]
    assert [c["resolution"] for c in gen.calls] == [(128, 128)] * 3
    assert [c["grad"] for c in gen.calls] == [mode == "graph"] * 3
    assert not any(c["training"] for c in gen.calls)  # eval mode
    # batch 1: z from a generator seeded 0, the camera from one seeded 1
    torch.testing.assert_close(gen.calls[0]["z"], torch.randn(1, 4, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(gen.calls[0]["cams"], torch.rand(1, 2, generator=torch.Generator().manual_seed(1)))


def test_the_memory_cap_on_a_cpu_comes_from_the_environment(stand_in, monkeypatch):
    monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", "3.5")
    stand_in.use([1.0])
    assert bench.measure("gram_hd", 256, "cpu", "nograd", 1)["note"] == "median of 1"
    assert stand_in.caps == [3.5]


@pytest.mark.parametrize("error, oom", [
    (MemoryError("Cannot allocate memory\nsecond line"), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate " + "9" * 200), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
])
def test_a_failed_allocation_is_an_oom_record_and_other_errors_are_raised(stand_in, error, oom):
    """Which errors are an allocation that failed: test_bench_cpu_memory_cap.py."""
    stand_in.use([], fail=error)
    if not oom:
        with pytest.raises(RuntimeError, match="shapes"):
            bench.measure("gram", 128, "cpu", "graph", 1)
        return
    rec = bench.measure("gram", 128, "cpu", "graph", 1)
    first = str(error).strip().splitlines()[0]
    assert rec == {"model": "gram", "resolution": 128, "device": "cpu", "mode": "graph", "time_s": None,
                   "peak_mem_mb": None, "status": "OOM", "note": first[:160]}
    assert len(rec["note"]) <= 160


def test_the_peak_memory_reading_is_the_processes_peak_resident_size(monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    assert bench._peak_rss_mb() == pytest.approx(hwm, abs=2.0)
    monkeypatch.setattr(bench.resource, "getrusage", lambda who: types.SimpleNamespace(ru_maxrss=3 * 2**20))
    assert bench._peak_rss_mb() == 3072.0  # KiB on Linux


def test_the_cap_is_set_from_the_address_space_the_process_has(monkeypatch):
    """In this process, with setrlimit recorded instead of applied: (VmSize now + GB * 2**30) for soft and hard."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    limits = []
    monkeypatch.setattr(bench.resource, "setrlimit", lambda which, pair: limits.append((which, pair)))
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    bench.cap_address_space(2.5)
    ((which, (soft, hard)),) = limits
    assert which == resource.RLIMIT_AS and soft == hard
    assert abs(soft - (vm + int(2.5 * 2**30))) < 2**20  # VmSize is in KiB: a KiB of 1025 bytes is off by MiBs


def test_a_record_in_a_fresh_process_is_measures_record_and_a_dead_child_is_oom_or_an_error(monkeypatch):
    def fake_measure(model, resolution, device, mode, repeats):
        return {"model": model, "resolution": resolution, "device": device, "mode": mode, "repeats": repeats}

    def fake_run(argv, **kwargs):
        assert argv[:2] == [sys.executable, "-c"] and kwargs == {"capture_output": True, "text": True,
                                                                  "check": False}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            print("noise before the record")
            print("more noise")
            exec(argv[2], {})
        return subprocess.CompletedProcess(argv, 0, out.getvalue(), "")

    monkeypatch.setattr(bench, "measure", fake_measure)
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert bench._measure_isolated("gram_hd", 256, "cpu", "graph", 1) == {
        "model": "gram_hd", "resolution": 256, "device": "cpu", "mode": "graph", "repeats": 1}

    def dead(code, stderr):
        monkeypatch.setattr(bench.subprocess, "run",
                            lambda argv, **kw: subprocess.CompletedProcess(argv, code, "", stderr))
        return bench._measure_isolated("gram", 512, "cuda:0", "nograd", 5)

    base = {"model": "gram", "resolution": 512, "device": "cuda", "mode": "nograd", "time_s": None,
            "peak_mem_mb": None}
    assert dead(-9, "") == {**base, "status": "OOM", "note": "exit -9: no output"}
    assert dead(137, "x\nKilled") == {**base, "status": "OOM", "note": "exit 137: Killed"}
    assert dead(1, "Traceback\nValueError: " + "v" * 300) == {
        **base, "status": "error", "note": "exit 1: " + ("ValueError: " + "v" * 300)[:160]}


def test_the_plan_and_its_sizes(monkeypatch):
    monkeypatch.setattr(bench, "models", lambda: ["base", "hd"])
    monkeypatch.setattr(bench, "bases", lambda: {"hd": "base"})
    monkeypatch.delenv("ZOO3D_BENCH_CPU_HIGHRES", raising=False)
    both = ("nograd", "graph")
    assert bench.plan("cpu", quick=True) == [(m, 128, mode) for m in ("base", "hd") for mode in both]
    assert bench.plan("cpu", quick=False) == [(m, r, mode) for r in (128, 256) for m in ("base", "hd") for mode in both]
    high = [("hd", r, mode) for r in (512, 1024) for mode in both]
    assert bench.plan("cuda:0", quick=False)[8:] == high and len(bench.plan("cuda", quick=False)) == 12
    assert len(bench.plan("cuda", quick=True)) == 4
    monkeypatch.setenv("ZOO3D_BENCH_CPU_HIGHRES", "0")
    assert len(bench.plan("cpu", quick=False)) == 8
    monkeypatch.setenv("ZOO3D_BENCH_CPU_HIGHRES", "1")
    assert bench.plan("cpu", quick=False)[8:] == high and len(bench.plan("cpu", quick=True)) == 4


def test_ratios_pair_a_model_with_its_base_at_the_same_size_device_and_mode():
    def rec(model, res=128, mode="nograd", t=1.0, mem=10.0, status="ok", device="cpu"):
        return {"model": model, "resolution": res, "device": device, "mode": mode, "time_s": t,
                "peak_mem_mb": mem, "status": status}

    records = [rec("gram", t=3.0, mem=30.0), rec("hd", t=1.0, mem=20.0),  # a pair
               rec("gram", res=256, mode="graph", t=2.0, mem=0.0), rec("hd", res=256, mode="graph", t=3.0),  # base 0 MB
               rec("hd", res=512, t=1.0),  # no base at 512²
               rec("gram", res=1024, status="OOM", t=None, mem=None), rec("hd", res=1024),  # the base ran out
               rec("gram", res=2048), rec("hd", res=2048, status="OOM", t=None, mem=None),  # the model ran out
               rec("gram", device="cuda", t=1.0), rec("hd", device="cuda", t=0.5, mem=None)]
    rows = bench.ratios(records, {"hd": "gram"})
    assert rows == [
        {"model": "hd_vs_gram", "resolution": 128, "device": "cpu", "mode": "nograd", "time_saved": 0.667,
         "memory_saved": 0.333},
        {"model": "hd_vs_gram", "resolution": 256, "device": "cpu", "mode": "graph", "time_saved": -0.5},
        {"model": "hd_vs_gram", "resolution": 1024, "device": "cpu", "mode": "nograd", "note": "gram OOM"},
        {"model": "hd_vs_gram", "resolution": 128, "device": "cuda", "mode": "nograd", "time_saved": 0.5},
    ]


def test_the_suite_runs_each_planned_record_in_its_own_process_then_the_ratios(monkeypatch):
    plans = []
    monkeypatch.setattr(bench, "plan", lambda device, quick: plans.append((device, quick)) or [
        ("base", 128, "nograd"), ("hd", 128, "nograd")])
    monkeypatch.setattr(bench, "bases", lambda: {"hd": "base"})
    calls = []

    def isolated(model, res, device, mode, repeats):
        calls.append((model, res, device, mode, repeats))
        return {"model": model, "resolution": res, "device": device, "mode": mode, "status": "ok",
                "time_s": 2.0 if model == "base" else 1.0, "peak_mem_mb": None}

    monkeypatch.setattr(bench, "_measure_isolated", isolated)
    records = bench.run("cpu", quick=False)
    assert calls == [("base", 128, "cpu", "nograd", 1), ("hd", 128, "cpu", "nograd", 1)]
    assert records[2] == {"model": "hd_vs_base", "resolution": 128, "device": "cpu", "mode": "nograd",
                          "time_saved": 0.5} and len(records) == 3
    calls.clear()
    bench.run("cuda", quick=False)
    assert [c[-1] for c in calls] == [5, 5]  # five timed renders after a warm-up on a GPU
    calls.clear()
    bench.run("cuda", quick=True)
    assert [c[-1] for c in calls] == [1, 1]
    assert plans == [("cpu", False), ("cuda", False), ("cuda", True)]


def test_the_models_are_those_with_the_role_built_from_their_config_defaults(monkeypatch):
    assert bench.models() == ["gram", "gram_hd"]
    import zoo3d.plugins as plugins

    class Config:
        pass

    made = []
    plugin = types.SimpleNamespace(config_class=Config,
                                   benchmark_generator=lambda config, res: made.append((config, res)) or "generator")
    names = []
    monkeypatch.setattr(plugins, "get_model_spec", lambda name: names.append(name) or types.SimpleNamespace(
        load=lambda: plugin))
    assert bench.build("anything", 256) == "generator" and names == ["anything"]
    assert isinstance(made[0][0], Config) and made[0][1] == 256


def test_each_record_is_announced_on_stderr_as_it_starts(monkeypatch, capsys):
    """On a CPU the suite takes many minutes, a cold paper-size render each: a line as each record starts."""
    monkeypatch.setattr(bench, "plan", lambda device, quick: [("gram", 128, "nograd"), ("gram_hd", 256, "graph")])
    monkeypatch.setattr(bench, "bases", lambda: {})
    monkeypatch.setattr(bench, "_measure_isolated", lambda model, res, device, mode, repeats: (
        print("measured", file=sys.stderr), {"model": model, "resolution": res, "device": device, "mode": mode,
                                             "status": "ok"})[1])
    bench.run("cpu", quick=True)
    assert capsys.readouterr().err.splitlines() == [
        "models: 1/2: gram at 128x128, inference (nograd), 1 render", "measured",
        "models: 2/2: gram_hd at 256x256, with the training graph (graph), 1 render", "measured"]
    bench.run("cuda", quick=False)
    assert capsys.readouterr().err.splitlines()[0] == \
        "models: 1/2: gram at 128x128, inference (nograd), 5 renders after a warm-up"
