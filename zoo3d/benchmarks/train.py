"""``zoo3d bench train``: training speed of every registered model's ``tiny`` preset.

For each model and each stage of its recipe (entered as training would, with ``on_start``): run
warm-up steps, then time steps (device synchronised) and report ms per step, images per second
and peak GPU memory. Checkpoint-free models are skipped. Runs in a temporary folder.
"""

from __future__ import annotations

import tempfile
import time


def run(device: str, quick: bool) -> list[dict]:
    import torch

    from zoo3d.config import load_run_config
    from zoo3d.devices import peak_memory_mb, reset_peak_memory, synchronize
    from zoo3d.plugins import get_host
    from zoo3d.train.engine import Trainer

    warmup, timed = (1, 2) if quick else (2, 10)
    dev = torch.device(device)
    records = []
    for spec in get_host().models:
        if spec.kind != "generator" or "tiny" not in spec.presets():
            continue
        plugin = spec.load()
        if not plugin.requires_checkpoint:
            continue
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
                trainer._begin_stage(stage, fresh=True)
                for _ in range(warmup):
                    trainer._train_step(stage)
                synchronize(dev)
                reset_peak_memory(dev)
                t0 = time.perf_counter()
                for _ in range(timed):
                    trainer._train_step(stage)
                synchronize(dev)
                seconds = (time.perf_counter() - t0) / timed
                records.append({"model": spec.name, "preset": "tiny", "stage": stage.name, "device": device,
                                "batch": stage.batch_size, "resolution": stage.resolution, "steps_timed": timed,
                                "ms_per_step": 1000 * seconds, "images_per_s": stage.batch_size / seconds,
                                "peak_mem_mb": peak_memory_mb(dev)})
    return records
