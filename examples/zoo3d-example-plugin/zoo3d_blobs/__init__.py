"""An example zoo3d plugin: the ``blobs`` model, the ``mirror_iou`` metric and the ``zoo3d blobs-info`` command.

This module is what the entry point names; it stays import-light (no torch), so ``zoo3d --help``
stays fast. The model and metric code is imported only when they are used.
"""

from pathlib import Path

import click

from zoo3d import hookimpl
from zoo3d.specs import MetricSpec, ModelSpec

__version__ = "0.1.0"
HERE = Path(__file__).resolve().parent


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(
        name="blobs",
        factory="zoo3d_blobs.model:BlobsModel",
        aliases=("gaussian_blobs",),
        kind="generator",
        summary="example plugin: a GAN of Gaussian-blob density fields on the shared volume renderer",
        presets_dir=HERE / "presets",
        card=HERE / "card.yaml",
    ))


@hookimpl
def zoo3d_register_metrics(register):
    register(MetricSpec(name="mirror_iou", factory="zoo3d_blobs.metric:MirrorIoU", higher_is_better=True,
                        summary="example plugin: silhouette IoU of mirrored yaws (+a against -a, flipped)"))


@click.command("blobs-info")
def blobs_info():
    """Describe the example blobs model."""
    click.echo("blobs: K Gaussian blobs per instance (centre, radius, density, colour) from a latent; "
               "rendered by zoo3d.render.VolumeRenderer.")


@hookimpl
def zoo3d_register_commands(cli):
    cli.add_command(blobs_info)
