"""``zoo3d import MODEL FILE --preset PRESET [--set key=value …] --out RUN_DIR``: an authors' released checkpoint
as a zoo3d run.

Nothing in the file is executed (see :mod:`zoo3d.upstream`); the run it writes is used like any
other: ``zoo3d sample RUN_DIR``, ``render``, ``export``, ``compare --ckpt NAME=RUN_DIR``, ``invert``.
"""

from __future__ import annotations


import click

from zoo3d.cli.paths import GIVEN, UserPath
from zoo3d.errors import shell_word


@click.command("import")
@click.argument("model")
@click.argument("file", type=UserPath(dir_okay=False))
@click.option("--preset", type=GIVEN, required=True, help="The preset matching the release (see docs/pretrained.md).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Change a key of the preset, as zoo3d train --set does (repeatable): the widths or settings the "
                   "file was trained with.")
@click.option("--out", required=True, type=UserPath(file_okay=False), help="The run folder to create.")
def import_command(model, file, preset, overrides, out):
    """Turn an authors' released checkpoint FILE of MODEL into a zoo3d run folder."""
    from zoo3d.upstream.importing import import_to_run

    result = import_to_run(model, file, preset, out, overrides)
    for note in result.imported.notes:
        click.echo(f"  {note}")
    run = shell_word(str(result.run_dir))
    click.echo(f"Wrote {result.run_dir} (checkpoint {result.checkpoint.name}); "
               f"try `zoo3d sample {run} --seeds 0-7 --out grid.png`.")
