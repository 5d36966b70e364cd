"""Starting and resuming a training run: config, data check, run folder and its lock, then the engine.

Everything a user can get wrong (the model, the config, ``--steps``, the data) is checked before
the run folder or ``config.yaml`` exists. The run folder is then locked (:class:`zoo3d.runs.RunLock`)
for as long as the engine writes to it, so two runs can never share one folder.

One process or many: under torchrun (``torchrun --nproc-per-node N -m zoo3d train ...``, or
``zoo3d train ... --nproc N``, which starts the same torchrun agent from Python) every process
calls :func:`train_model`; rank 0 makes and locks the run folder for all, and the others follow it.
"""

from __future__ import annotations

import copy
import json
import operator
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo3d.errors import UserError, counted, shell_line, shell_word


@dataclass
class RunPlan:
    """What a ``zoo3d train`` call will do, decided before anything is built, locked or written."""

    spec: Any
    plugin: Any
    config: Any  # None for a resume: the config comes from the checkpoint (see :func:`_resume_point`)
    run_dir: Path | None  # None: a new run folder under the runs root
    resume: bool
    #: a resume's ``--set stages.NAME.steps=N`` items (see :func:`resumed_config`); a new run's are in ``config``
    stage_steps: tuple[str, ...] = ()


def plan_run(model: str, *, data: str | os.PathLike | None = None, preset: str | None = None,
             config_file: str | None = None, overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None,
             resume: bool = False, steps: int | None = None) -> RunPlan:
    """Resolve the model, a new run's config and the run folder; raises UserError for every user mistake.

    Reads only (the same answer in every process of a run); nothing is created.
    """
    from zoo3d.config import load_run_config
    from zoo3d.fileio import check_can_create
    from zoo3d.plugins import get_model_spec
    from zoo3d.runs import RunLock, find_runs, holds_run, run_contents, runs_root

    steps = whole_steps(steps)
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be at least 1 (got {steps}): such a run trains nothing.")
    if isinstance(overrides, str):  # iterated, its first character was refused as an override of its own ('t')
        raise UserError(f"overrides={overrides!r} is one text; give a list of key=value items, such as "
                        f"overrides=[{overrides!r}].")
    data = None if data is None else os.fspath(data)  # a pathlib.Path read as its text, as --data reads it
    # out="~/runs/x" from Python is the run in the home folder, as --out reads it and as load_model finds it, where a
    # folder named '~' was made in the working directory
    out = None if out is None else Path(out).expanduser()
    spec = get_model_spec(model)
    plugin = spec.load()
    if resume:
        if data or preset or config_file:
            raise UserError("--resume continues a run with its stored config; drop --data, --preset and --config "
                            "(or start a new run).")
        _refuse_resume_overrides(overrides)
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
        return RunPlan(spec, plugin, None, run_dir, resume=True, stage_steps=tuple(overrides))
    if data:
        _refuse_data_set_twice(data, overrides)
    given = {"data.spec": data} if data else None  # as written: a path is not YAML ("heads #2", "2024", emoji)
    config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset, config_file, list(overrides),
                             default_preset=spec.default_preset, values=given)
    refuse_unread_settings(config, overrides)
    _anchor_data_folder(config)
    if out is not None:
        run_dir = Path(out)
        if run_dir.exists() and not run_dir.is_dir():
            raise UserError(f"--out '{run_dir}' is a file, not a folder.")
        # said now, not as 'file exists' or 'not a directory' after the modules are built: a symbolic link leading
        # nowhere, a file on the way (--out notes.txt/run), a folder that cannot be written into
        check_can_create(run_dir, "run folder", folder=True)
        if holds_run(run_dir):  # checked again under the lock: this early check only spares work
            RunLock(run_dir).refuse_if_held()  # a run writing there now: "in use", not "add --resume"
            raise _holds_run_error(run_dir, run_contents(run_dir))
        others = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(".")) if run_dir.is_dir() else []
        if others:  # a dataset folder, say, which the run's samples would then join
            shown = ", ".join(others[:3]) + (f", … ({len(others)} entries)" if len(others) > 3 else "")
            raise UserError(f"--out '{run_dir}' holds files that are not a run ({shown}); a run gets a folder of "
                            f"its own: choose a new or empty --out.")
    return RunPlan(spec, plugin, config, Path(out) if out is not None else None, resume=False)


def whole_steps(steps: Any) -> int | None:
    """``steps`` given from Python as the int it means: ``1e4``, the float a notebook writes for ten thousand, is
    10000, where it reached the engine's slices and stopped in a TypeError; one that is no whole number (``2.5``, a
    text, a bool) is refused in one sentence."""
    if steps is None:
        return None
    if not isinstance(steps, bool):
        try:
            return operator.index(steps)  # int, numpy's integers
        except TypeError:
            if isinstance(steps, float) and steps.is_integer():
                return int(steps)
    raise UserError(f"steps={steps!r} is not a whole number of steps; give an integer, such as steps=1000.")


def refuse_set_twice(model: str, overrides) -> None:
    """What a command's ``--set`` items for a run of ``model`` refuse before anything is read:
    :func:`zoo3d.config.refuse_key_set_twice` over the model's config defaults, so a stage named by its index in one
    item and by its name in another (``stages.0.lr``, ``stages.gram.lr``) sets one key, as one spelling twice does."""
    from zoo3d.config import config_defaults, refuse_key_set_twice
    from zoo3d.plugins import get_model_spec

    refuse_key_set_twice(overrides)  # the same spelling twice: said before the model's plugin is imported
    if len(overrides) > 1:
        refuse_key_set_twice(overrides, config_defaults(get_model_spec(model).load().config_class))


def _refuse_data_set_twice(data: str, overrides) -> None:
    """ConfigError when a ``--set`` gives the dataset that ``--data`` gives too (``data.spec``, or a ``data`` map
    holding ``spec``): ``--data`` is applied last and would win without a word."""
    from zoo3d.config import parse_override
    from zoo3d.errors import ConfigError

    for item in overrides:
        path, value = parse_override(item)
        if path == ["data", "spec"] or (path == ["data"] and isinstance(value, dict) and "spec" in value):
            raise ConfigError(f"--data {data} and --set '{item}' both set the dataset; give it once.")


def refuse_unread_settings(config, overrides) -> None:
    """ConfigError naming the ``--set`` items that set a key ``config`` does not read (:meth:`RunConfig.unread_keys`),
    or a key under one, also inside a map they give (``discriminator={lowres_max_channels: 8}``); a stage may be
    named by its index too (``stages.0.steps``, named as :func:`zoo3d.config.item_key` names it)."""
    from zoo3d.config import item_key, parse_override, set_keys
    from zoo3d.errors import ConfigError

    unread = config.unread_keys()
    if not unread:
        return
    data = config.model_dump(mode="json")
    hits: dict[str, list[str]] = {}
    for item in overrides:
        path, value = parse_override(item)
        named = item_key(data, [part.strip() for part in path])
        why = next((why for key in set_keys(named, value) for prefix, why in unread.items()
                    if key == prefix or key.startswith(prefix + ".")), None)
        if why is not None:
            hits.setdefault(why, []).append(item)
    for why, items in hits.items():
        given = " and ".join(f"--set '{item}'" for item in items)
        one = len(items) == 1
        raise ConfigError(f"{given} {'sets a key' if one else 'set keys'} this run does not read, so drop "
                          f"{'it' if one else 'them'}: {why}.")


def _anchor_data_folder(config) -> None:
    """A new run's ``data.spec`` as :func:`zoo3d.data.dataset.anchored_spec` stores it; a spec that names nothing
    stays as written (the data check refuses it with its own sentence)."""
    from zoo3d.data.dataset import AmbiguousDataset, anchored_spec

    try:
        config.data.spec = anchored_spec(config.data.spec)
    except AmbiguousDataset:
        raise
    except UserError:
        pass


#: how many of a dataset folder's problems a new run prints at start-up (the others are counted in one more line)
SHOWN_DATASET_PROBLEMS = 5
#: set by ``zoo3d train --nproc`` for the processes it starts: the dataset it has checked and reported on
DATASET_CHECKED = "ZOO3D_DATASET_CHECKED"


def train_model(model: str, *, data: str | os.PathLike | None = None, preset: str | None = None,
                config_file: str | None = None, overrides: list[str] | tuple[str, ...] = (),
                out: str | Path | None = None, steps: int | None = None, device: str | None = None,
                resume: bool = False, progress: bool = True, announce: bool = False):
    """What ``zoo3d train`` does; returns the engine's :class:`TrainResult`.

    A new run gets a fresh folder (``out`` or ``<runs root>/<model>-<timestamp>``) with its
    ``config.yaml``; an ``out`` that already holds a run (config, checkpoints, metrics, samples or
    ``latest``) is refused. ``resume=True`` continues the run in ``out`` (or the model's newest run)
    from its ``latest`` checkpoint (or, when that is missing, its newest loadable one) with the
    config stored there; only ``steps`` and ``device`` may change then (and the number of processes,
    see docs/training.md). ``announce``: the lead process says on stderr, once the folder is made and locked and
    before the first step, which run folder the run writes to (the default one is named only then).
    """
    import torch

    from zoo3d.devices import float32_default
    from zoo3d.fileio import WriteError, clean_stale_temps, storage_remedy
    from zoo3d.runs import RunLock
    from zoo3d.train.checkpoint import CHECKPOINT_DIR
    from zoo3d.train.data import check_stage_data
    from zoo3d.train.distributed import env_world, init_world, same_on_every_rank, shutdown_world
    from zoo3d.train.engine import Trainer

    steps = whole_steps(steps)  # the Trainer's cap, as the plan reads it
    with same_on_every_rank():
        plan = plan_run(model, data=data, preset=preset, config_file=config_file, overrides=overrides, out=out,
                        resume=resume, steps=steps)
    spec = plan.spec
    lead = env_world().is_main  # rank 0 holds the run folder's lock for every process
    lock = None
    meta: dict[str, str] = {}  # the resumed checkpoint's
    try:
        if plan.resume:
            lock = RunLock(plan.run_dir).acquire() if lead else None
            with same_on_every_rank():
                resume_from, config, meta = _resume_point(plan.plugin, spec.name, plan.run_dir, lead=lead,
                                                          stage_steps=plan.stage_steps)
        else:
            resume_from, config = None, plan.config
            # before any folder is made: a refused run leaves nothing behind (said by `--nproc`'s launcher, if any)
            if lead and os.environ.get(DATASET_CHECKED) != str(config.data.spec):
                _check_dataset(plan, config)
        world, process_device = init_world(device if device is not None else config.train.device)
        if lead and not plan.resume and (note := cpu_preset_note(plan, preset, config_file, process_device)):
            from zoo3d.errors import tell

            tell(note)
        # the trainer seeds and draws the process's random stream as its own: the caller's is given back after, as are
        # torch's default dtype, float32 while zoo3d trains, and its grad mode (a notebook's no_grad or inference_mode
        # around the call, or torch.set_grad_enabled(False) for its sampling, left no graph to train on)
        with torch.random.fork_rng(devices=[process_device] if process_device.type == "cuda" else []), \
                float32_default(), torch.inference_mode(False), torch.enable_grad():
            try:
                with same_on_every_rank():
                    trainer = Trainer(plan.plugin, config, plan.run_dir or ".", model_name=spec.name,
                                      plugin_version=spec.version,
                                      device=process_device if world.is_distributed else device,
                                      max_steps=steps, progress=progress, world=world,
                                      resume_at=_stage_position(meta))
                    if not plan.resume:
                        trainer.check_new_run()
                        check_stage_data(config, trainer.stages)
                        plan.plugin.check_new_run(config, trainer.modules)
                        trainer.run_dir, lock = _make_run_dir(plan, config, world)
                run_dir = trainer.run_dir
                if lead:
                    for folder in (run_dir, run_dir / CHECKPOINT_DIR, run_dir / "samples"):
                        clean_stale_temps(folder)  # left by a process that was killed mid-write
                    if announce:  # one line, whole however long (as the run's other lines), before the first step
                        said = (f"Resuming {spec.name} in run folder {run_dir} at step {_stage_position(meta)[1]}."
                                if plan.resume else f"Training {spec.name} in run folder {run_dir}.")
                        print(said, file=sys.stderr, flush=True)
                try:
                    return trainer.run(resume_from=resume_from)
                except WriteError as exc:
                    last = trainer.last_checkpoint
                    again = resume_command(spec.name, run_dir, world, steps, device)
                    # with no checkpoint --resume cannot continue the run, and a new run refuses its folder
                    kept = (f"the last checkpoint, '{last}', is intact; "
                            f"{_remedy(exc.reason, last, _final_grid(trainer, exc))} and continue with "
                            f"`{again}`" if last else f"no checkpoint had been written: {storage_remedy(exc.reason)}, "
                            f"then delete '{run_dir}' and start the run again")
                    what = str(exc).rstrip(".")
                    raise WriteError(f"Training stopped at step {trainer.step}: {what[:1].lower() + what[1:]} "
                                     f"({kept}).", exc.reason) from None
            finally:
                shutdown_world(world)
    finally:
        if lock is not None:
            lock.release()


def cpu_preset_note(plan: RunPlan, preset: str | None, config_file: str | None, device) -> str | None:
    """The note a new run on the CPU gets when its preset is not one sized for a CPU (the model's default preset,
    ``tiny…`` and ``demo``) and its first stage's step holds more image pixels than the default preset's: a paper
    preset (``ffhq256``), whose step on the CPU takes many times as long and as much memory. None otherwise, and for a
    ``--config`` file, whose size is its author's."""
    from zoo3d.config import load_run_config

    spec, name = plan.spec, preset or (None if config_file else plan.spec.default_preset)
    default = spec.default_preset
    if device.type != "cpu" or not name or name in (default, "demo") or name.startswith("tiny") or \
            default not in spec.presets():  # no CPU-sized preset to hold it against
        return None

    def first_stage(config):
        return next((s for s in plan.plugin.stages(config) if s.steps > 0), None)

    stage, small = first_stage(plan.config), first_stage(
        load_run_config(plan.plugin.config_class, spec.name, spec.presets_dir, default))
    if stage is None or small is None:
        return None
    pixels = lambda s: s.batch_size * (s.resolution or 1) ** 2
    if pixels(stage) <= pixels(small):
        return None
    images = lambda s: f"{s.batch_size} images" + (f" of {s.resolution}x{s.resolution}" if s.resolution else "")
    return (f"preset '{name}' is sized for GPUs: its first stage, '{stage.name}', trains on {images(stage)} a step "
            f"(--preset {default}: {images(small)}), so on the CPU each step takes many times as long and as much "
            f"memory; --preset {default} is sized for a CPU.")


def _stage_position(meta: dict[str, str]) -> tuple[int, int]:
    """(stage index, global step) of a checkpoint's metadata; (0, 0) for a run from the start (empty)."""
    return int(meta.get("zoo3d.stage_index", "0")), int(meta.get("zoo3d.step", "0"))


def _final_grid(trainer, exc) -> Path | None:
    """The run's final sample grid where it is the write ``exc`` failed: the grid of the run's last step, written
    after the checkpoint of that step, so the resume the stop points to trains nothing and draws only it. None for
    any other write (a grid due before the step's checkpoint is written again by a resume that trains that step)."""
    from zoo3d.train.checkpoint import checkpoint_name
    from zoo3d.train.engine import SAMPLES_DIR

    last = trainer.last_checkpoint
    done = trainer.step >= trainer.total_steps and last is not None and last.name == checkpoint_name(trainer.step)
    return exc.path if done and exc.path is not None and exc.path.parent.name == SAMPLES_DIR else None


def _remedy(reason: str, last: Path, grid: Path | None = None) -> str:
    """What to do before continuing a run a failed write stopped (:func:`zoo3d.fileio.storage_remedy`); for a full
    disk, how much: the size of the run's last checkpoint (the next one is as large) and what its folder has free, or,
    where the write that failed is the run's final sample grid ``grid`` (the resume writes only that), room for it in
    its folder. Where a size or the free space cannot be read, the plain remedy."""
    import shutil

    from zoo3d.fileio import DISK_FULL, storage_remedy
    from zoo3d.limits import byte_size

    if reason != DISK_FULL:
        return storage_remedy(reason)
    try:
        if grid is not None:
            return (f"make room for the run's final sample grid in '{grid.parent}', which has "
                    f"{byte_size(shutil.disk_usage(grid.parent).free)} free,")
        size, free = last.stat().st_size, shutil.disk_usage(last.parent).free
    except OSError:
        return storage_remedy(reason)
    return f"make room for a checkpoint of {byte_size(size)} in '{last.parent}', which has {byte_size(free)} free,"


def resume_command(model: str, run_dir, world, steps: int | None, device: str | None) -> str:
    """The command that continues a stopped run as it was going: the same --steps (the same stage split),
    --device and processes (on one machine as --nproc, which starts them as torchrun there did)."""
    args = ["zoo3d", "train", model, "--out", str(run_dir), "--resume"]
    for flag, value in (("--steps", steps), ("--device", device)):
        if value is not None:
            args += [flag, str(value)]
    if world.size == 1:
        return shell_line(args)
    if world.local_size == world.size:
        return shell_line(args + ["--nproc", str(world.size)])
    return f"the same torchrun line on every node, with -m {shell_line(args)}"


def _make_run_dir(plan: RunPlan, config, world):
    """Rank 0 makes the new run folder, locks it and writes ``config.yaml``; every process gets its path
    (or the error). Returns (run folder, rank 0's lock or None)."""
    from zoo3d.config import dump_config
    from zoo3d.fileio import write_text_atomic
    from zoo3d.runs import CONFIG_FILE, RunLock, holds_run, new_run_dir, run_contents

    made, lock = ("", ""), None
    if world.is_main:
        try:
            run_dir = plan.run_dir if plan.run_dir is not None else new_run_dir(plan.spec.name)
            lock = RunLock(run_dir).acquire()
            if plan.run_dir is not None and holds_run(run_dir):  # another run may have started meanwhile
                raise _holds_run_error(run_dir, run_contents(run_dir))
            write_text_atomic(run_dir / CONFIG_FILE, dump_config(config), "run config")
            made = (str(run_dir), "")
        except UserError as exc:
            if lock is not None:
                lock.release()
                lock = None
            if not world.is_distributed:
                raise
            made = ("", str(exc))
    path, error = world.broadcast_from_main(made)
    if error:
        raise UserError(error)
    return Path(path), lock


def _holds_run_error(run_dir: Path, contents: list[str]) -> UserError:
    """A new run refused a folder holding one: sent to --resume only where that can continue it (a run whose process
    died before its first checkpoint holds its config and no checkpoint, and --resume refuses it)."""
    from zoo3d.train.checkpoint import CheckpointError, find_checkpoint

    try:
        resumable = find_checkpoint(run_dir)[0] is not None
    except CheckpointError:
        resumable = False
    if not resumable:
        return UserError(f"'{run_dir}' already holds a run ({', '.join(contents)}) with no loadable checkpoint, so "
                         f"--resume cannot continue it; choose another --out (or delete '{run_dir}' to start over "
                         f"in it).")
    return UserError(f"'{run_dir}' already holds a run ({', '.join(contents)}); add --resume to continue it or "
                     f"choose another --out.")


def _check_dataset(plan: RunPlan, config) -> None:
    """A new run's folder dataset, headers only: refused when no image is usable, its problems said as warnings."""
    from zoo3d.train.data import check_folder_dataset

    largest = max((s.resolution or 0 for s in plan.plugin.stages(config)), default=0) or None
    problems = check_folder_dataset(config.data, largest)
    for problem in problems[:SHOWN_DATASET_PROBLEMS]:
        print(f"warning: dataset problem: {problem}", file=sys.stderr)
    if len(problems) > SHOWN_DATASET_PROBLEMS:  # said, so that 5 lines do not read as all of them
        more = counted(len(problems) - SHOWN_DATASET_PROBLEMS, "more dataset problem")
        command = f"zoo3d data check {shell_word(str(config.data.spec))}"
        print(f"warning: {more}; `{command}` lists them all", file=sys.stderr)


def _resume_point(plugin, model_name: str, run_dir: Path, lead: bool = True,
                  stage_steps: tuple[str, ...] = ()):
    """The checkpoint to resume ``run_dir`` from (with a note when ``latest`` is unusable), the config to train on
    (its config, with the stage lengths :func:`resumed_config` takes) and its metadata.

    Only the lead process (rank 0) says the notes, repoints ``latest`` and rewrites ``config.yaml``; the others find
    the same file and config.
    """
    from zoo3d.errors import tell
    from zoo3d.runs import config_from_checkpoint, run_above, run_contents
    from zoo3d.train.checkpoint import CheckpointError, find_checkpoint, read_metadata, set_latest

    try:
        resume_from, note = find_checkpoint(run_dir)
    except CheckpointError as exc:  # the one checkpoint 'latest' names is cut off or corrupt, and there is no other
        raise CheckpointError(f"{str(exc).rstrip('.')}; the run has no other checkpoint to continue from, so start a "
                              f"new run in another folder.") from None
    if resume_from is None:
        if (run := run_above(run_dir)) is not None:  # the run's checkpoints/ or samples/, reached by tab completion
            raise UserError(f"Cannot resume '{run_dir}': it is the {Path(run_dir).name} folder of run '{run}'; give "
                            f"that run folder as --out.")
        what = ", ".join(run_contents(run_dir)) or "nothing"
        raise UserError(f"Cannot resume '{run_dir}': it has no loadable checkpoint (it holds: {what}); start a new "
                        f"run in another folder.")
    meta = read_metadata(resume_from)
    if meta["zoo3d.model"] != model_name:
        raise UserError(f"'{run_dir}' is a run of model '{meta['zoo3d.model']}', not '{model_name}'.")
    if note and lead:
        tell(f"{run_dir}: {note}")
        set_latest(run_dir, resume_from)
    config = config_from_checkpoint(plugin, model_name, meta, resume_from)
    return resume_from, resumed_config(plugin, model_name, run_dir, config, meta, stage_steps, lead), meta


def _stage_lengths(config) -> dict[str, str]:
    """The one kind of key a resume may change, a stage's length (``stages.gan.steps``,
    ``stages.gram_hd.stage2.steps``), for each stage of ``config``, with the stage's name."""
    return {f"stages.{stage.name}.steps": stage.name for stage in config.stages}


def _resume_set_refused(item: str) -> UserError:
    """The sentence refusing the ``--set`` item ``item`` on a resume."""
    return UserError(f"--resume continues a run with its stored config; of --set it takes only a stage's length "
                     f"(stages.NAME.steps=N, for a stage the run has not finished), not '{item}' (start a new run "
                     f"for that).")


def _refuse_resume_overrides(overrides) -> None:
    """UserError for a ``--set`` item a resume does not take, said before the run's config is read: all but one
    that ends in a stage's steps, which the stored config decides (the dataset, the rates, the model). One that
    sets another key ending in ``steps`` (``stages.gan.lr.steps``) is refused once the config is read
    (:func:`resumed_config`)."""
    from zoo3d.config import parse_override

    for item in overrides:
        path, _ = parse_override(item)
        if len(path) < 3 or path[0].strip() != "stages" or path[-1].strip() != "steps":
            raise _resume_set_refused(item)


def resumed_config(plugin, model_name: str, run_dir: Path, config, meta: dict[str, str],
                   stage_steps: tuple[str, ...] = (), lead: bool = True):
    """The config a resume of ``run_dir`` trains on: its checkpoint's ``config``, with the stage lengths the run
    folder's ``config.yaml`` gives (edited since the run began) and then ``--set stages.NAME.steps=N``: a run trained
    on past its recipe, or cut short, as the authors' code continues with a larger ``--kimg``. Only stages the
    checkpoint has not finished may change, and not to fewer steps than they have taken (:func:`_refuse_stages_behind`).

    Any other key ``config.yaml`` no longer holds as the checkpoint does is refused, naming up to three keys with both
    values: the resume would train on under the checkpoint's config, and the file would misdescribe the run. A comment
    or another YAML spelling of the same values is no edit; a file that cannot be read (not YAML, not a mapping,
    empty) is refused, saying that the resume reads it and how to put it right. A folder without the file passes (the
    checkpoint alone is the run), and the lead process writes it again from the config the run trains on. The lead
    process says what changed and, for ``--set``, writes the new config to ``config.yaml``."""
    from zoo3d.config import apply_overrides, dump_config, set_value
    from zoo3d.config_base import read_yaml, validate
    from zoo3d.errors import ConfigError, tell
    from zoo3d.fileio import write_text_atomic
    from zoo3d.runs import CONFIG_FILE

    stored = config.model_dump(mode="json")
    wanted = copy.deepcopy(stored)
    lengths = _stage_lengths(config)
    path = Path(run_dir) / CONFIG_FILE
    if path.is_file():
        way_back = ("--resume reads it for the stage lengths edited there (the rest of the run's config comes from its "
                    "checkpoint), so fix it, or delete it and --resume writes it again from the checkpoint's config.")
        try:
            written = read_yaml(path, "Run config", escapes_meant=True)  # as zoo3d wrote it
        except ConfigError as exc:
            raise ConfigError(f"{str(exc).rstrip('.')}; {way_back}") from None
        if not written:  # an editor's save cut short: no key of the run left to compare
            raise ConfigError(f"Run config '{path}' is empty; {way_back}")
        try:  # compared as the model reads it: an older shape, or a default left out, is no edit
            written = type(config).model_validate(plugin.config_class.upgrade_stored(written)).model_dump(mode="json")
        except Exception:  # noqa: BLE001 - a value the model refuses is an edit too, compared as written
            pass
        edited = differing_keys(stored, written)
        if others := [found for found in edited if found[0] not in lengths]:
            shown = "; ".join(f"{key}: {_shown(there)} in the checkpoint, {_shown(here)} in the file"
                              for key, there, here in others[:3])
            more = f"; {len(others) - 3} more" if len(others) > 3 else ""
            new = shell_line(["zoo3d", "train", model_name, "--config", str(path), "--out", "NEW_DIR"])
            raise UserError(f"'{path}' was changed after the run began ({shown}{more}); --resume trains on with the "
                            f"config in the run's checkpoint, where only a stage's steps may change, so put the file "
                            f"back as it was, or start a new run from it (`{new}`).")
        for key, _, steps in edited:
            set_value(wanted, ["stages", *lengths[key].split("."), "steps"], steps)
    for item in stage_steps:  # one at a time: a key ending in steps that is no stage's length names its item
        before = copy.deepcopy(wanted)
        if any(key not in lengths for key, _, _ in differing_keys(before, apply_overrides(wanted, [item]))):
            raise _resume_set_refused(item)
    # the run folder's record of its run, by which `zoo3d train MODEL --resume` and `zoo3d sample MODEL` find it
    missing = lead and not (path.exists() or path.is_symlink())
    changed = differing_keys(stored, wanted)
    if not changed:
        if missing:
            write_text_atomic(path, dump_config(config), "run config")
        return config
    resumed = validate(type(config), wanted)
    _refuse_stages_behind(plugin, config, resumed, meta, path)
    if lead:
        before, after = (sum(s.steps for s in plugin.stages(c)) for c in (config, resumed))
        said = ", ".join(f"{key} {there} -> {here}" for key, there, here in changed)
        tell(f"{run_dir}: the run trains on with {said} (its recipe: {before} -> {after} steps).")
        if stage_steps or missing:
            write_text_atomic(path, dump_config(resumed), "run config")
    return resumed


def _refuse_stages_behind(plugin, config, resumed, meta: dict[str, str], path: Path) -> None:
    """UserError where ``resumed`` changes the length of a stage the checkpoint (``meta``) finished, gives the stage
    it is in fewer steps than it has taken, or changes which stage that is (a model that leaves out a stage of no
    steps): a run never goes back to an earlier stage or undoes a step."""
    index, step = _stage_position(meta)
    was_stages, now_stages = list(plugin.stages(config)), list(plugin.stages(resumed))
    if [s.name for s in was_stages[:index + 1]] != [s.name for s in now_stages[:index + 1]]:
        raise UserError(f"The stage lengths given would change which stages the run went through before its "
                        f"checkpoint's step {step}; change only the stages after the one it is in.")
    where = f"'{path}' or --set" if path.is_file() else "--set"
    done = 0
    for i, (was, now) in enumerate(zip(was_stages, now_stages)):
        if i < index and now.steps != was.steps:
            raise UserError(f"Stage '{was.name}' was finished by the checkpoint's step {step}, so its length stays "
                            f"{was.steps}; {where} may change the stages the run has not finished.")
        taken = int(meta.get("zoo3d.stage_step", step - done))
        if i == index and now.steps < taken:
            key = f" (stages.{was.name}.steps={taken} ends it there)" if any(
                stage.name == was.name for stage in config.stages) else ""
            raise UserError(f"Stage '{was.name}' has taken {taken} steps by the checkpoint's step {step}; give it "
                            f"{taken} or more{key}.")
        done += was.steps


_MISSING = object()


def differing_keys(stored: Any, written: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, stored value, written value) wherever two plain config trees differ; a key only one holds has
    :data:`_MISSING` on the other side. Lists of named maps (``stages``) are matched by name."""
    def named(value):
        if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
            return {str(v["name"]): v for v in value}
        return None

    if named(stored) is not None and named(written) is not None:
        stored, written = named(stored), named(written)
    if isinstance(stored, dict) and isinstance(written, dict):
        return [found for key in [*stored, *(k for k in written if k not in stored)]
                for found in differing_keys(stored.get(key, _MISSING), written.get(key, _MISSING),
                                            f"{prefix}{key}.")]
    return [] if stored == written else [(prefix.rstrip("."), stored, written)]


def _shown(value: Any) -> str:
    return "absent" if value is _MISSING else json.dumps(value)


# ---------------------------------------------------------------------- zoo3d train --nproc N

class LaunchFailed(UserError):
    """A process of a multi-process run failed; the message names it."""


@dataclass
class NothingToTrain(Exception):
    """A resume whose checkpoint (at ``step``) is at or past the end of its run, under ``--steps`` or its recipe:
    ``zoo3d train --nproc`` says so, as one process does, without starting the processes."""

    step: int
    run_dir: Path
    checkpoint: Path


def check_launch(nproc: int, model: str, *, device: str | None = None, steps: int | None = None,
                 **plan_args) -> dict[str, str]:
    """Before ``--nproc`` starts any process: the user mistakes every worker would hit, reported once, and a resume
    that would train nothing (:class:`NothingToTrain`). Returns the environment variables the processes get, which
    tell them what was checked and said here."""
    import torch

    from zoo3d.devices import resolve_device
    from zoo3d.train.distributed import World, env_int, timeout_seconds
    from zoo3d.train.engine import check_batches_ahead
    from zoo3d.train.schedule import split_steps

    if env_int("WORLD_SIZE", 1) > 1:
        raise UserError("--nproc starts its own processes; under torchrun leave it out (torchrun's "
                        "--nproc-per-node sets the count).")
    timeout_seconds()  # every process reads $ZOO3D_DIST_TIMEOUT when it joins: a bad value is said here, once
    plan = plan_run(model, steps=steps, **plan_args)
    config = plan.config
    world = World(size=nproc, local_size=nproc)
    at, written_by = (0, 0), nproc  # (stage index, global step) the run continues from; the processes it had
    if plan.resume:
        from zoo3d.runs import RunLock

        RunLock(plan.run_dir).refuse_if_held()  # a run writing there now: said here, not after N processes start
        resume_from, config, meta = _resume_point(plan.plugin, plan.spec.name, plan.run_dir, lead=False,
                                                  stage_steps=plan.stage_steps)
        written_by = int(meta.get("zoo3d.world_size", "1"))
        at = _stage_position(meta)
        if config.train.batch_scope == "per_process" and written_by != nproc:
            from zoo3d.errors import counted

            raise UserError(f"'{resume_from}' was written by {counted(written_by, 'process', 'processes')} with "
                            f"train.batch_scope=per_process; resume it with --nproc {written_by} so the global "
                            f"batch stays the same.")
    stages = list(plan.plugin.stages(config))
    lengths = split_steps([s.steps for s in stages], steps)
    check_batches_ahead(stages, lengths, world, config.train.batch_scope, *at)
    if plan.resume:  # a train.micro_batch, or a share of one image, may break a minibatch-stddev group
        from zoo3d.train.batch_groups import check_resumed_micro_batch

        if (modules := _meta_modules(plan, config)) is not None:  # else the processes check it as they resume
            check_resumed_micro_batch(stages, lengths, modules, config, world, at, resume_from, written_by)
    dev = resolve_device(device if device is not None else config.train.device)
    if dev.type == "cuda":
        if dev.index is not None:
            raise UserError(f"With --nproc each process takes one GPU; give --device cuda, not {dev} "
                            f"(CUDA_VISIBLE_DEVICES chooses the GPUs).")
        if torch.cuda.device_count() < nproc:
            raise UserError(f"--nproc {nproc} needs {nproc} GPUs (one per process); this machine shows "
                            f"{torch.cuda.device_count()}.")
    if plan.resume:
        from zoo3d.train.schedule import stages_ahead

        if not stages_ahead(stages, lengths, *at):
            raise NothingToTrain(at[1], plan.run_dir, Path(resume_from))
        return {}
    _check_dataset(plan, config)
    _check_new_run_built(plan, config, stages, world, lengths)
    return {DATASET_CHECKED: str(config.data.spec)}  # rank 0 does not check (and warn of) the dataset again


def launch_processes(nproc: int, args: list[str], *, script: str | None = None) -> int:
    """Run ``python -m zoo3d ARGS`` (or ``python SCRIPT ARGS``) in ``nproc`` processes on this machine under
    torchrun's elastic agent, as ``torchrun --standalone --nproc-per-node N -m zoo3d ARGS`` would, and wait.

    Returns 0, or 128 + signal when the processes stopped on SIGINT/SIGTERM after their checkpoint
    (they print how to resume), or were killed by a second signal of the same kind (:class:`LauncherStop`, said
    here). A process that fails makes the agent stop the others; that raises :class:`LaunchFailed` naming it.
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    from zoo3d.plugins import PLUGIN_NOTES_SAID
    from zoo3d.train.signals import LauncherStop

    if "OMP_NUM_THREADS" not in os.environ:  # the CPU's threads shared out, instead of torchrun's banner and 1
        os.environ["OMP_NUM_THREADS"] = str(max(1, usable_cores() // nproc))
    os.environ[PLUGIN_NOTES_SAID] = "1"  # the workers inherit it: this process said the plugins' notes
    target = [script] if script is not None else ["-m", "zoo3d"]
    # SIGINT and SIGTERM are LauncherStop's; the agent passes on SIGQUIT, and SIGHUP unless this process was started
    # with it ignored (nohup), where a hang-up had ended the processes at once, without a checkpoint
    passed_on = "SIGQUIT" if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN else "SIGHUP,SIGQUIT"
    handled = ["--signals-to-handle", passed_on] if _agent_takes_signal_list() else []
    argv = ["--standalone", "--nproc-per-node", str(nproc), "--max-restarts", "0", *handled, *target, *args]
    stop = LauncherStop(lambda sig: SignalException(f"Process {os.getpid()} got signal: {sig}", sigval=sig))
    try:
        with stop:
            torchrun.run(torchrun.parse_args(argv))
    except SignalException as exc:  # this process was signalled; the agent passed it on to the workers
        name = signal.Signals(int(exc.sigval)).name
        if stop.killed:
            killed = counted(len(stop.killed), "training process", "training processes")
            print(f"Stopped by a second {name}: the launcher killed the {killed} at once; --resume continues from "
                  f"the run's newest whole checkpoint, if it has one.", file=sys.stderr, flush=True)
        elif (limit := _shutdown_timeout()) is not None and stop.waited() >= limit:  # the agent's SIGKILL
            print(f"Stopped by {name}: the training processes had not ended {limit} s after it "
                  f"(TORCH_ELASTIC_SHUTDOWN_TIMEOUT) and were killed; --resume continues from the run's newest whole "
                  f"checkpoint, if it has one (raise TORCH_ELASTIC_SHUTDOWN_TIMEOUT above a step and a checkpoint "
                  f"write).", file=sys.stderr, flush=True)
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        return _failed(exc, nproc)
    return 0


def _shutdown_timeout() -> int | None:
    """The seconds torchrun's agent gives its processes after passing a signal on, then SIGKILL (as torch reads
    ``TORCH_ELASTIC_SHUTDOWN_TIMEOUT``); None for a value it does not take as one."""
    try:
        return int(os.environ.get("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "30"))
    except ValueError:
        return None


def _agent_takes_signal_list() -> bool:
    """Whether this torch's torchrun takes ``--signals-to-handle``; an older one's agent handles SIGINT and SIGTERM
    itself once it starts the processes, in place of :class:`LauncherStop`."""
    import dataclasses

    from torch.distributed.launcher.api import LaunchConfig

    return any(field.name == "signals_to_handle" for field in dataclasses.fields(LaunchConfig))


def _check_new_run_built(plan: RunPlan, config, stages, world, lengths) -> None:
    """What every process refuses in a new run once it has built the modules, in the same order: a config the model
    cannot be built with, a build without a ``generator`` or with one that is no zoo3d.core.Generator, a
    ``module_lr`` path that is no module or that a stage freezes, a stage setting with nothing to act on, a
    ``train.micro_batch`` that splits a minibatch-stddev group of ``world``'s shares in a stage that trains
    (``lengths``: its steps), a dataset a stage cannot read, what the plugin checks outside the config (GRAM-HD's
    ``generator.lowres_run``). The modules are built on the meta device: shapes without weights, so a
    paper preset costs no memory (about 3 s on 2 CPU cores, most of it the import of torch._dynamo, which the meta
    build pulls in). What cannot be judged on the meta device is left to the processes' own checks."""
    from zoo3d.train.data import check_stage_data
    from zoo3d.train.engine import check_generator, check_new_run_modules

    modules = _meta_modules(plan, config)
    if modules is not None:
        check_generator(modules, plan.spec.name)
        check_new_run_modules(stages, modules, plan.spec.name, config, world, lengths)
    check_stage_data(config, stages)
    if modules is not None:
        try:
            plan.plugin.check_new_run(config, modules)
        except UserError:
            raise
        except Exception:  # noqa: BLE001 - a plugin's check that needs the weights: the processes make it
            pass


def _meta_modules(plan: RunPlan, config):
    """The model's modules built from ``config`` on the meta device (shapes without weights), or None for a model
    whose build needs real values; a UserError of the build is raised."""
    import torch

    from zoo3d.core.model import build_modules

    try:
        with torch.device("meta"):
            return build_modules(plan.plugin, config)
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - a build that needs real values: the processes check it as they build
        return None


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (taskset, a batch scheduler's allocation) where the
    system tells it, else every core of the machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def _failed(exc, nproc: int) -> int:
    codes = {f.exitcode for f in exc.failures.values()}
    stopped = {128 + int(signal.SIGINT), 128 + int(signal.SIGTERM)}
    # Every process stopped on a signal after the run's checkpoint: the first to exit with 128 + signal
    # makes the agent send SIGTERM to the others, which may land while they are already exiting.
    if codes & stopped and codes <= stopped | {-int(signal.SIGINT), -int(signal.SIGTERM)}:
        return max(codes & stopped)
    rank, failure = exc.get_first_failure()
    if failure.exitcode == 2:  # a user error, which that process has already printed in one sentence
        # ... or a process's note that a peer stopped answering: the peer, hung, ignored the agent's SIGTERM until
        # the agent killed it, and is named here, as that note says (a process still waiting on one that exited
        # with its own error, as NCCL may, is named too: what the sentence says of it is true either way)
        hung = [(f.timestamp, r, f) for r, f in exc.failures.items() if f.exitcode == -int(signal.SIGKILL)]
        if not hung:
            return 2
        _, rank, failure = min(hung)
        raise LaunchFailed(f"Training process rank {rank} (local rank {failure.local_rank}, pid {failure.pid}) "
                           f"did not end on the launcher's SIGTERM and was killed by SIGKILL.")
    how = (f"was killed by {failure.signal_name()}" if failure.exitcode < 0
           else f"exited with status {failure.exitcode}")
    message = str(getattr(failure, "message", "") or "").strip()
    useful = failure.exitcode >= 0 and message and "<N/A>" not in message and "pytorch.org" not in message
    detail = f" ({message.splitlines()[0][:300]})" if useful else ""
    others = f"; the launcher stopped the other {nproc - 1}" if nproc > 1 else ""
    raise LaunchFailed(f"Training process rank {rank} (local rank {failure.local_rank}, pid {failure.pid}) "
                       f"{how}{detail}{others}.")
