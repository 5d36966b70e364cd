"""``zoo3d train MODEL``: train a registered model with the shared engine."""

from __future__ import annotations

import click

from zoo3d.cli.paths import GIVEN, UserPath


@click.command()
@click.argument("model")
@click.option("--data", type=GIVEN, help="Dataset: a registered name (synthetic:heads) or a folder.")
@click.option("--preset", type=GIVEN,
              help="A preset of the model (tiny, ffhq256, ...: `zoo3d models` lists each model's).")
@click.option("--config", "config_file", type=UserPath(dir_okay=False), help="A YAML config file instead of a preset.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--out", type=UserPath(file_okay=False), help="Run folder (default: runs/<model>-<timestamp>).")
@click.option("--steps", type=int, metavar="N",
              help="Cap the run at N >= 1 steps in total, shared by the stages in proportion to their lengths (smoke runs).")
@click.option("--device", type=GIVEN, help="cpu, cuda, cuda:N or auto (default: the config's train.device).")
@click.option("--resume", is_flag=True, help="Continue the run in --out (or the model's newest run); with --set "
              "stages.NAME.steps=N, train a stage it has not finished on to N steps.")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train with N processes on this machine (torchrun's agent; one GPU each on CUDA).")
@click.option("--quiet", is_flag=True, help="No progress display (bar or, off a terminal, lines).")
@click.option("--seed", "seed", hidden=True)  # not an option: said to be the config key train.seed
def train(model, data, preset, config_file, overrides, out, steps, device, resume, nproc, quiet, seed):
    """Train MODEL; SIGINT/SIGTERM save a checkpoint and stop (resume with --resume)."""
    import sys

    from zoo3d.errors import UserError
    from zoo3d.launch import refuse_set_twice, resume_command, train_model
    from zoo3d.train.distributed import RankError, env_world

    if seed is not None:  # click would suggest --set or --steps; the seed is a config key, default 0
        raise UserError(f"zoo3d train has no --seed: the run's seed is the config key train.seed (0 unless set); "
                        f"give --set train.seed={seed}.")
    refuse_set_twice(model, overrides)  # the last would win without a word
    if nproc > 1:
        sys.exit(_launch(nproc, model, data, preset, config_file, overrides, out, steps, device, resume, quiet))
    world = env_world()
    try:
        result = train_model(model, data=data, preset=preset, config_file=config_file, overrides=list(overrides),
                             out=out, steps=steps, device=device, resume=resume, progress=not quiet,
                             announce=not quiet)
    except UserError as exc:
        if world.rank and not isinstance(exc, RankError):
            if getattr(exc, "every_rank", False):
                sys.exit(2)  # the same mistake stops every process; rank 0 says it once
            raise RankError(f"{world.describe()}: {exc}") from None  # this process's own: only it can say it
        raise
    if not world.is_main:
        if result.status == "interrupted":
            sys.exit(result.exit_status)
        return
    if result.status == "interrupted":
        if result.complete:  # stopped during the run's last step: a --resume would train nothing
            click.echo(f"Stopped by {result.signal} at step {result.step}, the end of the run; checkpoint "
                       f"{result.checkpoint}. Nothing is left to train.", err=True)
        else:
            click.echo(f"Stopped by {result.signal} at step {result.step}; checkpoint {result.checkpoint}. "
                       f"Continue with: {resume_command(model, result.run_dir, world, steps, device)}", err=True)
        sys.exit(result.exit_status)
    if result.step == result.start_step and resume:
        _say_nothing_to_train(result.step, steps, result.run_dir, result.checkpoint)
        return
    done = f" ({result.step - result.start_step} in this run)" if result.start_step else ""
    click.echo(f"Trained {result.step} step{'s' * (result.step != 1)}{done}{_where_and_cap(result)}; run folder "
               f"{result.run_dir}, checkpoint {result.checkpoint}.")


def _say_nothing_to_train(step: int, steps: int | None, run_dir, checkpoint) -> None:
    """What a resume at or past the end of its run (its checkpoint's ``step``, under ``--steps``) prints."""
    reach = f"at or past --steps {steps}" if steps else "the end of its recipe"
    click.echo(f"Nothing to train: the run is at step {step}, {reach}; run folder {run_dir}, checkpoint {checkpoint}.")


def _where_and_cap(result) -> str:
    """' on DEVICE' and, for a run --steps cut short of its recipe, the cap: what the checkpoints record
    (zoo3d.device, zoo3d.steps_cap) and a comparison of two runs needs."""
    where = f" on {result.device}" if result.device else ""
    cut = result.steps_cap is not None and result.steps_cap < result.recipe_steps
    return where + (f", cut at --steps {result.steps_cap} of the recipe's {result.recipe_steps}" if cut else "")


def _launch(nproc, model, data, preset, config_file, overrides, out, steps, device, resume, quiet) -> int:
    """``--nproc N``: check what every process would refuse, then run ``zoo3d train`` N times under torchrun."""
    import os

    from zoo3d.launch import NothingToTrain, check_launch, launch_processes, plan_run

    if resume and out is None:  # the newest run now, for every process: not each one's newest as it starts
        out = str(plan_run(model, overrides=list(overrides), resume=True, steps=steps,
                           data=data, preset=preset, config_file=config_file).run_dir)
    try:
        said = check_launch(nproc, model, device=device, steps=steps, data=data, preset=preset,
                            config_file=config_file, overrides=list(overrides), out=out, resume=resume) or {}
    except NothingToTrain as done:  # said as one process says it, without starting the processes
        _say_nothing_to_train(done.step, steps, done.run_dir, done.checkpoint)
        return 0
    args = ["train", model]
    for flag, value in (("--data", data), ("--preset", preset), ("--config", config_file), ("--out", out),
                        ("--steps", steps), ("--device", device)):
        if value is not None:
            args += [flag, str(value)]
    for item in overrides:
        args += ["--set", item]
    args += ["--resume"] * resume + ["--quiet"] * quiet
    kept = {name: os.environ.get(name) for name in said}
    os.environ.update(said)  # the processes inherit what the checks here have said
    try:
        return launch_processes(nproc, args)
    finally:
        for name, value in kept.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
