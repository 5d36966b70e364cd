"""Starting and resuming a training run: config, data check, run folder and its lock, then the engine.

Everything a user can get wrong (the model, the config, ``--steps``, the data) is checked before
the run folder or ``config.yaml`` exists. The run folder is then locked (:class:`zoo3d.runs.RunLock`)
for as long as the engine writes to it, so two runs can never share one folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from zoo3d.errors import UserError


def _is_lead_process() -> bool:
    """False on the non-zero ranks of a distributed launch: rank 0 holds the run folder's lock for all."""
    try:
        return int(os.environ.get("RANK", "0")) == 0
    except ValueError:
        return True


def train_model(model: str, *, data: str | None = None, preset: str | None = None, config_file: str | None = None,
                overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None, steps: int | None = None,
                device: str | None = None, resume: bool = False, progress: bool = True):
    """What ``zoo3d train`` does; returns the engine's :class:`TrainResult`.

    A new run gets a fresh folder (``out`` or ``<runs root>/<model>-<timestamp>``) with its
    ``config.yaml``; an ``out`` that already holds a run (config, checkpoints, metrics, samples or
    ``latest``) is refused. ``resume=True`` continues the run in ``out`` (or the model's newest run)
    from its ``latest`` checkpoint (or, when that is missing, its newest loadable one) with the
    config stored there; only ``steps`` and ``device`` may change then.
    """
    from zoo3d.config import dump_config, load_run_config
    from zoo3d.fileio import WriteError, clean_stale_temps, write_text_atomic
    from zoo3d.plugins import get_model_spec
    from zoo3d.runs import CONFIG_FILE, RunLock, find_runs, holds_run, new_run_dir, run_contents, runs_root
    from zoo3d.train.checkpoint import CHECKPOINT_DIR
    from zoo3d.train.data import check_folder_dataset, check_stage_data
    from zoo3d.train.engine import Trainer

    if steps is not None and steps < 1:
        raise UserError(f"--steps must be at least 1 (got {steps}): a run of 0 steps trains nothing.")
    spec = get_model_spec(model)
    plugin = spec.load()
    lead = _is_lead_process()
    lock = None
    if resume:
        if data or preset or config_file or overrides:
            raise UserError("--resume continues a run with its stored config; drop --data, --preset, --config "
                            "and --set (or start a new run).")
        if out is not None:
            run_dir = Path(out)
            if not run_dir.is_dir():
                raise UserError(f"Cannot resume '{run_dir}': there is no such run folder.")
        else:
            runs = find_runs(spec.name)
            if not runs:
                raise UserError(f"No run of model '{spec.name}' to resume under {runs_root()}/; start one with "
                                f"`zoo3d train {spec.name}`.")
            run_dir = runs[0]
        lock = RunLock(run_dir).acquire() if lead else None
        try:
            resume_from, config = _resume_point(plugin, spec.name, run_dir)
            trainer = Trainer(plugin, config, run_dir, model_name=spec.name, plugin_version=spec.version,
                              device=device, max_steps=steps, progress=progress)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
    else:
        extra = list(overrides)
        if data:
            extra.append(f"data.spec={data}")
        config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset, config_file, extra,
                                 default_preset=spec.default_preset)
        # Everything below runs before any folder is made: a refused run leaves nothing behind.
        for problem in check_folder_dataset(config.data)[:5]:
            print(f"warning: dataset problem: {problem}", file=sys.stderr)
        trainer = Trainer(plugin, config, out or ".", model_name=spec.name, plugin_version=spec.version,
                          device=device, max_steps=steps, progress=progress)
        check_stage_data(config, trainer.stages)
        if out is not None:
            run_dir = Path(out)
            if run_dir.exists() and not run_dir.is_dir():
                raise UserError(f"--out '{run_dir}' is a file, not a folder.")
            if holds_run(run_dir):  # checked again under the lock: this early check only spares work
                raise _holds_run_error(run_dir, run_contents(run_dir))
        else:
            run_dir = new_run_dir(spec.name)
        lock = RunLock(run_dir).acquire() if lead else None
        try:
            if out is not None and holds_run(run_dir):
                raise _holds_run_error(run_dir, run_contents(run_dir))
            write_text_atomic(run_dir / CONFIG_FILE, dump_config(config), "run config")
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        trainer.run_dir = run_dir
        resume_from = None
    try:
        for folder in (run_dir, run_dir / CHECKPOINT_DIR, run_dir / "samples"):
            clean_stale_temps(folder)  # left by a process that was killed mid-write
        try:
            return trainer.run(resume_from=resume_from)
        except WriteError as exc:
            last = trainer.last_checkpoint
            kept = (f"the last checkpoint, '{last}', is intact; free some space and continue with "
                    f"`zoo3d train {spec.name} --out {run_dir} --resume`" if last else "no checkpoint had been written")
            what = str(exc).rstrip(".")
            raise WriteError(f"Training stopped at step {trainer.step}: {what[:1].lower() + what[1:]} ({kept}).",
                             exc.reason) from None
    finally:
        if lock is not None:
            lock.release()


def _holds_run_error(run_dir: Path, contents: list[str]) -> UserError:
    return UserError(f"'{run_dir}' already holds a run ({', '.join(contents)}); add --resume to continue it or "
                     f"choose another --out.")


def _resume_point(plugin, model_name: str, run_dir: Path):
    """The checkpoint to resume ``run_dir`` from (with a note when ``latest`` is unusable) and its config."""
    from zoo3d.errors import tell
    from zoo3d.runs import config_from_checkpoint, run_contents
    from zoo3d.train.checkpoint import find_checkpoint, read_metadata, set_latest

    resume_from, note = find_checkpoint(run_dir)
    if resume_from is None:
        what = ", ".join(run_contents(run_dir)) or "nothing"
        raise UserError(f"Cannot resume '{run_dir}': it has no loadable checkpoint (it holds: {what}); start a new "
                        f"run in another folder.")
    meta = read_metadata(resume_from)
    if meta["zoo3d.model"] != model_name:
        raise UserError(f"'{run_dir}' is a run of model '{meta['zoo3d.model']}', not '{model_name}'.")
    if note:
        tell(f"{run_dir}: {note}")
        set_latest(run_dir, resume_from)
    config = config_from_checkpoint(plugin, model_name, meta, resume_from)
    return resume_from, config
