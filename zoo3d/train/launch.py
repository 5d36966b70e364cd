"""Starting and resuming a training run: config, run folder, data check, then the engine.

One process or many: under torchrun (``torchrun --nproc-per-node N -m zoo3d train ...``, or
``zoo3d train ... --nproc N``, which starts the same torchrun agent from Python) every process
calls :func:`train_model`; rank 0 makes the run folder and the others follow it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo3d.errors import UserError


@dataclass
class RunPlan:
    """What a ``zoo3d train`` call will do, decided before anything is built or written."""

    spec: Any
    plugin: Any
    config: Any
    run_dir: Path | None  # None: a new run folder under the runs root
    resume_from: Path | None


def plan_run(model: str, *, data: str | None = None, preset: str | None = None, config_file: str | None = None,
             overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None,
             resume: bool = False) -> RunPlan:
    """Resolve the model, its config and the run folder; raises UserError for every user mistake.

    Reads only (the same answer in every process of a run); nothing is created.
    """
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec
    from zoo3d.runs import find_runs, runs_root
    from zoo3d.train.checkpoint import read_latest, read_metadata

    spec = get_model_spec(model)
    plugin = spec.load()
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
        return RunPlan(spec, plugin, config, run_dir, resume_from)
    extra = list(overrides)
    if data:
        extra.append(f"data.spec={data}")
    config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset, config_file, extra,
                             default_preset=spec.default_preset)
    if out is not None and _holds_run(Path(out)):
        raise UserError(f"'{out}' already holds a run; add --resume to continue it or choose another --out.")
    return RunPlan(spec, plugin, config, Path(out) if out is not None else None, None)


def _holds_run(run_dir: Path) -> bool:
    from zoo3d.train.checkpoint import read_latest

    return run_dir.exists() and read_latest(run_dir) is not None


def train_model(model: str, *, data: str | None = None, preset: str | None = None, config_file: str | None = None,
                overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None, steps: int | None = None,
                device: str | None = None, resume: bool = False, progress: bool = True):
    """What ``zoo3d train`` does; returns the engine's :class:`TrainResult`.

    A new run gets a fresh folder (``out`` or ``<runs root>/<model>-<timestamp>``) with its
    ``config.yaml``. ``resume=True`` continues the run in ``out`` (or the model's newest run)
    from its ``latest`` checkpoint with the config stored there; only ``steps`` and ``device``
    may change then (and the number of processes, see docs/training.md).
    """
    from zoo3d.train.data import check_folder_dataset
    from zoo3d.train.distributed import env_world, init_world, shutdown_world
    from zoo3d.train.engine import Trainer

    plan = plan_run(model, data=data, preset=preset, config_file=config_file, overrides=overrides, out=out,
                    resume=resume)
    spec, config = plan.spec, plan.config
    if plan.resume_from is None and env_world().is_main:
        for problem in check_folder_dataset(config.data)[:5]:  # before any folder is made
            print(f"warning: dataset problem: {problem}", file=sys.stderr)
    world, process_device = init_world(device if device is not None else config.train.device)
    try:
        trainer = Trainer(plan.plugin, config, plan.run_dir or ".", model_name=spec.name,
                          plugin_version=spec.version, device=process_device if world.is_distributed else device,
                          max_steps=steps, progress=progress, world=world)
        if plan.resume_from is None:
            trainer.run_dir = _make_run_dir(plan, world)
        return trainer.run(resume_from=plan.resume_from)
    finally:
        shutdown_world(world)


def _make_run_dir(plan: RunPlan, world) -> Path:
    """Rank 0 makes the new run folder and writes ``config.yaml``; every process gets its path (or the error)."""
    from zoo3d.config import dump_config
    from zoo3d.runs import CONFIG_FILE, new_run_dir

    made: tuple[str, str] = ("", "")
    if world.is_main:
        try:
            if plan.run_dir is not None:
                if _holds_run(plan.run_dir):  # checked again: another run may have started meanwhile
                    raise UserError(f"'{plan.run_dir}' already holds a run; add --resume to continue it or choose "
                                    f"another --out.")
                plan.run_dir.mkdir(parents=True, exist_ok=True)
                run_dir = plan.run_dir
            else:
                run_dir = new_run_dir(plan.spec.name)
            (run_dir / CONFIG_FILE).write_text(dump_config(plan.config))
            made = (str(run_dir), "")
        except UserError as exc:
            made = ("", str(exc))
    path, error = world.broadcast_from_main(made)
    if error:
        raise UserError(error)
    return Path(path)


# ---------------------------------------------------------------------- zoo3d train --nproc N

class LaunchFailed(UserError):
    """A process of a multi-process run failed; the message names it."""


def check_launch(nproc: int, model: str, *, device: str | None = None, steps: int | None = None, **plan_args) -> None:
    """Before ``--nproc`` starts any process: the user mistakes every worker would hit, reported once."""
    import torch

    from zoo3d.devices import resolve_device
    from zoo3d.train.distributed import World, process_batch
    from zoo3d.train.engine import split_steps

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise UserError("--nproc starts its own processes; under torchrun leave it out (torchrun's "
                        "--nproc-per-node sets the count).")
    plan = plan_run(model, **plan_args)
    config = plan.config
    world = World(size=nproc, local_size=nproc)
    if plan.resume_from is not None and config.train.batch_scope == "per_process":
        from zoo3d.train.checkpoint import read_metadata

        written_by = int(read_metadata(plan.resume_from).get("zoo3d.world_size", "1"))
        if written_by != nproc:
            raise UserError(f"'{plan.resume_from}' was written by {written_by} process(es) with "
                            f"train.batch_scope=per_process; resume it with --nproc {written_by} so the global "
                            f"batch stays the same.")
    stages = list(plan.plugin.stages(config))
    for stage, n in zip(stages, split_steps([s.steps for s in stages], steps)):
        if n:
            process_batch(stage.batch_size, world, config.train.batch_scope, f"Stage '{stage.name}'")
    dev = resolve_device(device if device is not None else config.train.device)
    if dev.type == "cuda":
        if dev.index is not None:
            raise UserError(f"With --nproc each process takes one GPU; give --device cuda, not {dev} "
                            f"(CUDA_VISIBLE_DEVICES chooses the GPUs).")
        if torch.cuda.device_count() < nproc:
            raise UserError(f"--nproc {nproc} needs {nproc} GPUs (one per process); this machine shows "
                            f"{torch.cuda.device_count()}.")


def launch_processes(nproc: int, args: list[str], *, script: str | None = None) -> int:
    """Run ``python -m zoo3d ARGS`` (or ``python SCRIPT ARGS``) in ``nproc`` processes on this machine under
    torchrun's elastic agent, as ``torchrun --standalone --nproc-per-node N -m zoo3d ARGS`` would, and wait.

    Returns 0, or 128 + signal when the processes stopped on SIGINT/SIGTERM after their checkpoint
    (they print how to resume). A process that fails makes the agent stop the others; that raises
    :class:`LaunchFailed` naming it.
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if "OMP_NUM_THREADS" not in os.environ:  # the CPU's threads shared out, instead of torchrun's banner and 1
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    target = [script] if script is not None else ["-m", "zoo3d"]
    argv = ["--standalone", "--nproc-per-node", str(nproc), "--max-restarts", "0", *target, *args]
    try:
        torchrun.run(torchrun.parse_args(argv))
    except SignalException as exc:  # this process was signalled; the agent passed it on to the workers
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        return _failed(exc, nproc)
    return 0


def _failed(exc, nproc: int) -> int:
    codes = {f.exitcode for f in exc.failures.values()}
    stopped = {128 + int(signal.SIGINT), 128 + int(signal.SIGTERM)}
    # Every process stopped on a signal after the run's checkpoint: the first to exit with 128 + signal
    # makes the agent send SIGTERM to the others, which may land while they are already exiting.
    if codes & stopped and codes <= stopped | {-int(signal.SIGINT), -int(signal.SIGTERM)}:
        return max(codes & stopped)
    rank, failure = exc.get_first_failure()
    if failure.exitcode == 2:  # a user error, which that process has already printed in one sentence
        return 2
    how = (f"was killed by {failure.signal_name()}" if failure.exitcode < 0
           else f"exited with status {failure.exitcode}")
    message = str(getattr(failure, "message", "") or "").strip()
    useful = failure.exitcode >= 0 and message and "<N/A>" not in message and "pytorch.org" not in message
    detail = f" ({message.splitlines()[0][:300]})" if useful else ""
    others = f"; the launcher stopped the other {nproc - 1}" if nproc > 1 else ""
    raise LaunchFailed(f"Training process rank {rank} (local rank {failure.local_rank}, pid {failure.pid}) "
                       f"{how}{detail}{others}.")
