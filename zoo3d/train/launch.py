"""Starting and resuming a training run: config, run folder, data check, then the engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from zoo3d.errors import UserError


def train_model(model: str, *, data: str | None = None, preset: str | None = None, config_file: str | None = None,
                overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None, steps: int | None = None,
                device: str | None = None, resume: bool = False, progress: bool = True):
    """What ``zoo3d train`` does; returns the engine's :class:`TrainResult`.

    A new run gets a fresh folder (``out`` or ``<runs root>/<model>-<timestamp>``) with its
    ``config.yaml``. ``resume=True`` continues the run in ``out`` (or the model's newest run)
    from its ``latest`` checkpoint with the config stored there; only ``steps`` and ``device``
    may change then.
    """
    from zoo3d.config import dump_config, load_run_config
    from zoo3d.plugins import get_model_spec
    from zoo3d.runs import CONFIG_FILE, find_runs, new_run_dir, runs_root
    from zoo3d.train.checkpoint import read_latest, read_metadata
    from zoo3d.train.data import check_folder_dataset
    from zoo3d.train.engine import Trainer

    spec = get_model_spec(model)
    plugin = spec.load()
    resume_from = None
    if resume:
        if data or preset or config_file or overrides:
            raise UserError("--resume continues a run with its stored config; drop --data, --preset, --config "
                            "and --set (or start a new run).")
        if out is not None:
            run_dir = Path(out)
        else:
            runs = find_runs(spec.name)
            if not runs:
                raise UserError(f"No run of model '{spec.name}' to resume under {runs_root()}/; start one with "
                                f"`zoo3d train {spec.name}`.")
            run_dir = runs[0]
        resume_from = read_latest(run_dir)
        if resume_from is None:
            raise UserError(f"Cannot resume '{run_dir}': it has no checkpoint (no valid 'latest' pointer).")
        meta = read_metadata(resume_from)
        if meta["zoo3d.model"] != spec.name:
            raise UserError(f"'{run_dir}' is a run of model '{meta['zoo3d.model']}', not '{spec.name}'.")
        config = plugin.config_class.model_validate(json.loads(meta["zoo3d.config"]))
        trainer = Trainer(plugin, config, run_dir, model_name=spec.name, plugin_version=spec.version,
                          device=device, max_steps=steps, progress=progress)
    else:
        extra = list(overrides)
        if data:
            extra.append(f"data.spec={data}")
        config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset, config_file, extra,
                                 default_preset=spec.default_preset)
        for problem in check_folder_dataset(config.data)[:5]:  # before any folder is made
            print(f"warning: dataset problem: {problem}", file=sys.stderr)
        trainer = Trainer(plugin, config, out or ".", model_name=spec.name, plugin_version=spec.version,
                          device=device, max_steps=steps, progress=progress)
        if out is not None:
            run_dir = Path(out)
            if run_dir.exists() and read_latest(run_dir) is not None:
                raise UserError(f"'{run_dir}' already holds a run; add --resume to continue it or choose another "
                                f"--out.")
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            run_dir = new_run_dir(spec.name)
        (run_dir / CONFIG_FILE).write_text(dump_config(config))
        trainer.run_dir = run_dir
    return trainer.run(resume_from=resume_from)
