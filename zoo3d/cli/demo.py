"""``zoo3d demo``: train the demo model (GRAM-HD) on synthetic:heads with its demo preset, then show the result.

The demo model is the registered model with the role ``demo`` (:attr:`zoo3d.specs.ModelSpec.roles`). It
trains with its ``demo`` preset where it has one (a schedule sized so that ``make demo`` takes about a
quarter of an hour on 2 CPU cores), else with its default preset (``tiny``).
Writes the run to ``--out`` (default runs/demo-gram-hd), then ``turntable.gif`` (a yaw sweep of one
seed, truncation 0.7) and ``samples.png`` (8 seeds at yaw -0.3, 0, +0.3, with a lower-resolution render
alongside where the model makes one) into it and prints their paths. The grid is drawn without
truncation (psi = 1) so that it shows the variety the model learnt: truncation pulls every seed towards
the mean head and background, and at 0.7 a short run looks more alike than it is. Re-running continues
an interrupted demo run and re-renders a finished one.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from zoo3d.cli.paths import GIVEN, UserPath
from zoo3d.errors import counted, shell_line

DEMO_ROLE = "demo"
DEMO_PRESET = "demo"
TURNTABLE_PSI = 0.7
GRID_PSI = 1.0


@click.command()
@click.option("--out", type=UserPath(file_okay=False), default="runs/demo-gram-hd", show_default=True,
              help="Run folder of the demo.")
@click.option("--device", type=GIVEN, default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--steps", type=click.IntRange(min=1), help="Cap the training steps (default: the demo preset's).")
@click.option("--frames", type=click.IntRange(2, 10_000), default=24, show_default=True, help="Turntable frames.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True, help="The instance of the turntable.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key of the demo's config, as `zoo3d train --set` does (a new demo run only).")
def demo(out, device, steps, frames, seed, overrides):
    """Train the demo model, gram-hd (demo preset, synthetic heads), and render a turntable GIF and a sample grid."""
    from zoo3d.errors import UserError
    from zoo3d.launch import refuse_set_twice, train_model
    from zoo3d.plugins import model_with_role
    from zoo3d.plugins import model_key
    from zoo3d.runs import _run_model, holds_run

    spec = model_with_role(DEMO_ROLE, "zoo3d demo")
    refuse_set_twice(spec.name, overrides)  # the last would win without a word

    run_dir = Path(out)
    started = time.perf_counter()
    resume = run_dir.is_dir() and holds_run(run_dir)
    if resume:
        if overrides:
            raise UserError(f"--set configures a new demo run, but '{run_dir}' already holds one; delete it or "
                            f"choose another --out.")
        stored = _run_model(run_dir)  # refused here, before "Continuing" is said of another model's run
        if stored is not None and model_key(stored) != model_key(spec.name):
            raise UserError(f"'{run_dir}' is a run of model '{stored}', not '{spec.name}'.")
        click.echo(f"Continuing the demo run in {run_dir} (delete it to start over).")
    preset = None if resume else demo_preset(spec)
    result = train_model(spec.name, preset=preset, out=run_dir, steps=steps, device=device, resume=resume,
                         overrides=list(overrides))
    if result.status != "done":
        click.echo(f"Stopped by {result.signal}; run `{_continue_command(run_dir)}` again to continue.", err=True)
        raise SystemExit(result.exit_status)
    trained = time.perf_counter() - started
    gif, grid = render_demo(run_dir, device, frames, seed)
    ran = result.step - result.start_step
    if ran == 0:
        what = f"The run was already at step {result.step}: nothing to train"
    elif result.start_step:
        what = f"Trained to step {result.step} ({counted(ran, 'step')} in this run) in {trained / 60:.1f} min"
    else:
        what = f"Trained {counted(result.step, 'step')} in {trained / 60:.1f} min"
    click.echo(f"{what}; demo done in {(time.perf_counter() - started) / 60:.1f} min.")
    click.echo(f"Turntable: {gif}")
    click.echo(f"Samples:   {grid}")


def _continue_command(run_dir: Path) -> str:
    """The demo again, on ``run_dir``, with the options typed (the --steps cap splits the stages, so a
    continuation without it would train another recipe), quoted for a shell."""

    ctx = click.get_current_context()
    args = ["zoo3d", "demo", "--out", str(run_dir)]
    for name in ("steps", "device", "frames", "seed"):
        if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT):
            args += [f"--{name}", str(ctx.params[name])]
    return shell_line(args)


def demo_preset(spec) -> str:
    """The preset ``zoo3d demo`` trains ``spec`` with: its ``demo`` preset if it has one, else its default."""
    return DEMO_PRESET if DEMO_PRESET in spec.presets() else spec.default_preset


def render_demo(run_dir: Path, device: str, frames: int, seed: int) -> tuple[Path, Path]:
    """The demo's pictures from the run's EMA generator: a yaw-sweep GIF of ``seed`` and a sample grid."""
    import torch
    import torch.nn.functional as F

    from zoo3d.cameras import Camera, yaw_sweep
    from zoo3d.imageio import save_animation, save_grid
    from zoo3d.runs import load_model
    from zoo3d.train.sampling import render_views, seed_latents, yaw_rows

    gen = load_model(str(run_dir), device=device).generator
    prior = gen.camera_prior
    cams = yaw_sweep(frames, yaw_range=0.4, pitch=prior.centre_pitch, radius=prior.radius, fov=prior.fov,
                     yaw_center=prior.yaw_mean)
    z = seed_latents([seed], gen.z_dim, gen.device, gen.dtype).expand(frames, -1)
    turntable = render_views(gen, z, cams.to(gen.device), psi=TURNTABLE_PSI).rgb
    gif = save_animation(list(turntable), run_dir / "turntable.gif", fps=12)

    seeds = list(range(8))
    yaws = yaw_rows(prior)
    zs = seed_latents(seeds, gen.z_dim, gen.device, gen.dtype).repeat(len(yaws), 1)
    yaw = torch.tensor([y for y in yaws for _ in seeds], dtype=torch.float32)
    grid_cams = Camera.from_angles(yaw, prior.centre_pitch, prior.radius, prior.fov, device=gen.device)
    rows = []
    with torch.no_grad():
        for i in range(0, zs.shape[0], 8):
            out = gen(zs[i:i + 8], grid_cams[i:i + 8], psi=GRID_PSI)
            rows.append(out.rgb.float())
            if out.raw is not None:  # the LR render, upsampled (nearest) for comparison
                rows.append(F.interpolate(out.raw.rgb.float(), size=out.rgb.shape[-2:], mode="nearest"))
    grid = save_grid(torch.cat(rows), run_dir / "samples.png", nrow=len(seeds))
    return Path(gif), Path(grid)
