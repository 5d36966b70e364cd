"""``zoo3d bench train``: training speed of every registered model's ``tiny`` preset.

For each model and each stage of its recipe (entered as training would, with ``on_start``): run
warm-up steps, then time steps (device synchronised; the step counter advances, so lazy phases run on
their own steps and the count timed is a whole number of their period) and report ms per step,
images per second (none for a stage that reads no images) and peak GPU memory. Checkpoint-free models are skipped. Runs in a temporary folder;
a line on stderr as each stage starts.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time


def trained_models() -> list:
    """(spec, plugin) of every registered model with a ``tiny`` preset that trains: generators and inverters
    alike (the oracles train nothing)."""
    from zoo3d.plugins import get_host

    found = []
    for spec in get_host().models:
        if "tiny" not in spec.presets():
            continue
        plugin = spec.load()
        if plugin.requires_checkpoint:
            found.append((spec, plugin))
    return found


def run(device: str, quick: bool) -> list[dict]:
    import torch

    from zoo3d.config import load_run_config
    from zoo3d.devices import peak_memory_mb
    from zoo3d.errors import counted
    from zoo3d.train.engine import Trainer

    warmup, timed = (1, 2) if quick else (2, 10)
    dev = torch.device(device)
    records = []
    for spec, plugin in trained_models():
        config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny")
        config = config.model_copy(update={"train": config.train.model_copy(
            update={"sample_every": 0, "checkpoint_every": 0, "log_every": 1})})
        with tempfile.TemporaryDirectory() as tmp:
            try:
                trainer = Trainer(plugin, config, tmp, model_name=spec.name, device=dev, progress=False)
            except Exception as exc:  # a model with nothing to train, or a broken one: report, go on
                records.append({"model": spec.name, "device": device, "error": str(exc).splitlines()[0]})
                continue
            for stage in trainer.stages:
                # said as each starts: a CPU run passes minutes in every model's stages
                print(f"train: {spec.name}, stage {stage.name}: {counted(warmup, 'warm-up step')}, then "
                      f"{counted(timed_steps(stage, timed), 'timed step')}", file=sys.stderr, flush=True)
                trainer.enter_stage(stage)
                seconds, steps = time_stage(trainer, stage, warmup, timed, dev)
                records.append({"model": spec.name, "preset": "tiny", "stage": stage.name, "device": device,
                                "batch": stage.batch_size, "resolution": stage.resolution, "steps_timed": steps,
                                "ms_per_step": 1000 * seconds,
                                # a stage without real data (StyleSDF's sphere initialisation) draws no images
                                "images_per_s": stage.batch_size / seconds if stage.resolution is not None else None,
                                "peak_mem_mb": peak_memory_mb(dev)})
    return records


def lazy_period(stage) -> int:
    """The steps after which a stage's phases repeat: the least common multiple of their ``every``."""
    return math.lcm(*(phase.every for phase in stage.phases))


def timed_steps(stage, timed: int) -> int:
    """``timed`` rounded up to a whole number of the stage's :func:`lazy_period`."""
    period = lazy_period(stage)
    return -(-timed // period) * period


def time_stage(trainer, stage, warmup: int, timed: int, device) -> tuple[float, int]:
    """Seconds a step of ``stage`` (already entered) after ``warmup`` steps, and the steps timed: ``timed``
    rounded up to a whole number of :func:`lazy_period`, so a lazy phase counts at its own frequency. The
    device's peak memory is reset after the warm-up."""
    from zoo3d.devices import reset_peak_memory, synchronize

    steps = timed_steps(stage, timed)
    for _ in range(warmup):
        trainer.bench_step(stage)
    synchronize(device)
    reset_peak_memory(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.bench_step(stage)
    synchronize(device)
    return (time.perf_counter() - t0) / steps, steps
