"""``zoo3d bench train``'s records (docs/testing.md: ms per training step of every model's ``tiny`` preset, stage by
stage) with a stand-in registry, trainer and clock: warm-up steps are not timed, the steps timed are ``timed`` rounded
up to a whole number of the stage's lazy period (the lcm of its phases' ``every``), ``ms_per_step`` = 1000 x seconds
per timed step and ``images_per_s`` = batch / seconds per step, computed here by hand; a model whose trainer cannot be
built is an ``error`` record and the suite goes on."""

from __future__ import annotations

import os
import types

import pydantic
import pytest
import torch

from zoo3d.benchmarks import train as bench


class _Train(pydantic.BaseModel):
    sample_every: int = 500
    checkpoint_every: int = 1000
    log_every: int = 50
    steps: int = 77


class _Run(pydantic.BaseModel):
    train: _Train = _Train()


def _stage(name, batch, resolution, everies):
    return types.SimpleNamespace(name=name, batch_size=batch, resolution=resolution,
                                 phases=[types.SimpleNamespace(every=e) for e in everies])


@pytest.fixture
def stand_ins(monkeypatch):
    """Two models: ``broken`` (its trainer refuses), then ``toy`` (stages g1: batch 4, phases every 1 and 4, 0.25 s
    a step; g2: batch 2, 0.5 s a step; every warm-up step 100 s); a clock only the steps advance."""
    import zoo3d.config
    import zoo3d.devices
    import zoo3d.train.engine

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    log = []
    specs = [types.SimpleNamespace(name=n, presets_dir=f"/presets/{n}") for n in ("broken", "toy")]
    plugins = [types.SimpleNamespace(config_class=_Run, name=n) for n in ("broken", "toy")]
    monkeypatch.setattr(bench, "trained_models", lambda: list(zip(specs, plugins)))

    def load_run_config(config_class, name, presets_dir, preset):
        log.append(("config", config_class, name, presets_dir, preset))
        return config_class()

    monkeypatch.setattr(zoo3d.config, "load_run_config", load_run_config)
    step_costs = {"g1": 0.25, "g2": 0.5}

    class Trainer:
        def __init__(self, plugin, config, out, model_name, device, progress):
            log.append(("trainer", plugin.name, config, model_name, device, progress, os.path.isdir(out)))
            self.out = out
            if plugin.name == "broken":
                raise ValueError("this model has nothing to train\nsee its card")
            self.stages = [_stage("g1", 4, 32, (1, 4)), _stage("g2", 2, 64, (1,))]
            self.steps = {}

        def enter_stage(self, stage):
            log.append(("enter", stage.name))

        def bench_step(self, stage):
            done = self.steps[stage.name] = self.steps.get(stage.name, 0) + 1
            log.append(("step", stage.name))
            clock.now += 100.0 if done <= clock.warmup else step_costs[stage.name]

    monkeypatch.setattr(zoo3d.train.engine, "Trainer", Trainer)
    monkeypatch.setattr(zoo3d.devices, "peak_memory_mb", lambda device: log.append(("peak", device)) or 12.5)
    return types.SimpleNamespace(clock=clock, log=log)


@pytest.mark.parametrize("quick, warmup, g1_steps, g2_steps", [(True, 1, 4, 2), (False, 2, 12, 10)])
def test_each_stage_is_a_record_of_its_timed_steps(stand_ins, quick, warmup, g1_steps, g2_steps, capsys):
    """quick: 1 warm-up, 2 timed (g1's period 4 -> 4 steps); otherwise 2 warm-up, 10 timed (g1 -> 12). A line on
    stderr as each stage starts."""
    stand_ins.clock.warmup = warmup
    records = bench.run("cpu", quick)
    warm = f"{warmup} warm-up step{'s' * (warmup != 1)}"
    assert capsys.readouterr().err.splitlines() == [f"train: toy, stage g1: {warm}, then {g1_steps} timed steps",
                                                    f"train: toy, stage g2: {warm}, then {g2_steps} timed steps"]
    common = {"model": "toy", "preset": "tiny", "device": "cpu", "peak_mem_mb": 12.5}
    assert records == [
        {"model": "broken", "device": "cpu", "error": "this model has nothing to train"},
        {**common, "stage": "g1", "batch": 4, "resolution": 32, "steps_timed": g1_steps,
         "ms_per_step": pytest.approx(250.0), "images_per_s": pytest.approx(4 / 0.25)},
        {**common, "stage": "g2", "batch": 2, "resolution": 64, "steps_timed": g2_steps,
         "ms_per_step": pytest.approx(500.0), "images_per_s": pytest.approx(2 / 0.5)},
    ]
    log = stand_ins.log
    assert [e for e in log if e[0] == "config"] == [("config", _Run, "broken", "/presets/broken", "tiny"),
                                                  ("config", _Run, "toy", "/presets/toy", "tiny")]
    trainers = [e for e in log if e[0] == "trainer"]
    assert [(e[1], e[3], e[4], e[5], e[6]) for e in trainers] == [
        ("broken", "broken", torch.device("cpu"), False, True), ("toy", "toy", torch.device("cpu"), False, True)]
    # no samples, no checkpoints, a log record every step; the rest of the preset as it is
    assert trainers[1][2].train == _Train(sample_every=0, checkpoint_every=0, log_every=1, steps=77)
    steps = [e[1] for e in log if e[0] == "step"]
    assert steps == ["g1"] * (warmup + g1_steps) + ["g2"] * (warmup + g2_steps)
    assert [e for e in log if e[0] in ("enter", "peak")] == [("enter", "g1"), ("peak", torch.device("cpu")),
                                                             ("enter", "g2"), ("peak", torch.device("cpu"))]


def test_the_stage_timer_resets_peak_memory_after_the_warm_up_and_synchronises(monkeypatch):
    import zoo3d.devices

    events = []
    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    monkeypatch.setattr(zoo3d.devices, "reset_peak_memory", lambda d: events.append(("reset", d)))
    monkeypatch.setattr(zoo3d.devices, "synchronize", lambda d: events.append(("sync", d)))

    def step(stage):
        events.append("step")
        clock.now += 3.0

    trainer = types.SimpleNamespace(bench_step=step)
    seconds, steps = bench.time_stage(trainer, _stage("s", 1, 8, (2, 3)), 2, 7, "dev")
    assert steps == 12 and seconds == 3.0  # 7 rounded up to a multiple of lcm(2, 3) = 6
    assert events == ["step"] * 2 + [("sync", "dev"), ("reset", "dev")] + ["step"] * 12 + [("sync", "dev")]


@pytest.mark.parametrize("everies, period", [((1,), 1), ((1, 4), 4), ((2, 3), 6), ((4, 6), 12), ((16, 4, 1), 16)])
def test_the_lazy_period_is_the_least_common_multiple_of_the_phases_intervals(everies, period):
    assert bench.lazy_period(_stage("s", 1, 8, everies)) == period


def test_the_timed_models_have_a_tiny_preset_and_need_a_checkpoint(monkeypatch):
    """Only specs with a ``tiny`` preset are loaded; of those, the ones that train (``requires_checkpoint``)."""
    import zoo3d.plugins

    loaded = []

    def spec(name, presets, trains):
        def load():
            loaded.append(name)
            return types.SimpleNamespace(requires_checkpoint=trains)
        return types.SimpleNamespace(name=name, presets=lambda: presets, load=load)

    specs = [spec("a", ["tiny", "ffhq256"], True), spec("no_tiny", ["ffhq256"], True), spec("oracle", ["tiny"], False),
             spec("d", ["tiny"], True)]
    monkeypatch.setattr(zoo3d.plugins, "get_host", lambda: types.SimpleNamespace(models=specs))
    assert [s.name for s, _ in bench.trained_models()] == ["a", "d"]
    assert loaded == ["a", "oracle", "d"]


def test_a_stage_without_real_images_has_no_image_rate(monkeypatch):
    """StyleSDF's sphere initialisation (resolution None: it reads no real images) was reported at batch / seconds
    "images" a second, of images it never drew."""
    import zoo3d.config
    import zoo3d.devices
    import zoo3d.train.engine

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    spec = types.SimpleNamespace(name="sdf", presets_dir="/presets/sdf")
    monkeypatch.setattr(bench, "trained_models", lambda: [(spec, types.SimpleNamespace(config_class=_Run))])
    monkeypatch.setattr(zoo3d.config, "load_run_config", lambda *a: _Run())
    monkeypatch.setattr(zoo3d.devices, "peak_memory_mb", lambda device: 0.0)

    class Trainer:
        def __init__(self, *a, **k):
            self.stages = [_stage("sphere_init", 2, None, (1,)), _stage("volume", 2, 32, (1,))]

        def enter_stage(self, stage):
            pass

        def bench_step(self, stage):
            clock.now += 0.5

    monkeypatch.setattr(zoo3d.train.engine, "Trainer", Trainer)
    sphere, volume = bench.run("cpu", True)
    assert sphere["images_per_s"] is None and sphere["ms_per_step"] == pytest.approx(500.0)
    assert volume["images_per_s"] == pytest.approx(2 / 0.5)
