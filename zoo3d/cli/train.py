"""``zoo3d train MODEL``: train a registered model with the shared engine."""

from __future__ import annotations

import click


@click.command()
@click.argument("model")
@click.option("--data", help="Dataset: a registered name (synthetic:heads) or a folder.")
@click.option("--preset", help="A preset of the model (tiny, small, ffhq256, ...).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="A YAML config file instead of a preset.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default: runs/<model>-<timestamp>).")
@click.option("--steps", type=click.IntRange(min=0), help="Cap the run at N steps in total (smoke runs).")
@click.option("--device", help="cpu, cuda, cuda:N or auto (default: the config's train.device).")
@click.option("--resume", is_flag=True, help="Continue the run in --out (or the model's newest run).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(model, data, preset, config_file, overrides, out, steps, device, resume, quiet):
    """Train MODEL; SIGINT/SIGTERM save a checkpoint and stop (resume with --resume)."""
    import sys

    from zoo3d.train.launch import train_model

    result = train_model(model, data=data, preset=preset, config_file=config_file, overrides=list(overrides),
                         out=out, steps=steps, device=device, resume=resume, progress=not quiet)
    if result.status == "interrupted":
        click.echo(f"Stopped by {result.signal} at step {result.step}; checkpoint {result.checkpoint}. "
                   f"Continue with: zoo3d train {model} --out {result.run_dir} --resume", err=True)
        import signal

        sys.exit(128 + int(getattr(signal, result.signal)))
    click.echo(f"Trained {result.step} steps; run folder {result.run_dir}, checkpoint {result.checkpoint}.")
