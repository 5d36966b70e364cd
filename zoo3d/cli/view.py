"""``zoo3d view RUN|FILE.glb [--seed S]`` or ``zoo3d view --inversion DIR/<image name>``: a local browser viewer of
one instance's cached manifolds."""

from __future__ import annotations

import click

from zoo3d.cli.paths import UserPath
from zoo3d.cli.sample import PSI, load_for_cli, model_options, refuse_beside_inversion, typed_options
from zoo3d.errors import UserError
from zoo3d.limits import MAX_VIEWER_SEED


@click.command()
@model_options
@click.option("--seed", type=click.IntRange(0, MAX_VIEWER_SEED), default=0, show_default=True,
              help="The first instance shown (the page's seed box takes the same range).")
@click.option("--psi", type=PSI, default=0.7, show_default=True, help="Truncation.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--inversion", type=UserPath(exists=True),
              help="An image's folder that zoo3d invert wrote (DIR/<image name>): view that inverted image, with the "
                   "run it was inverted with, opening at its input view.")
def view(run, model, no_ema, device, seed, psi, port, inversion):
    """Serve a viewer of RUN's seed (or of a .glb written by zoo3d export, or of an inverted image) on 127.0.0.1 and
    print its URL.

    Drag (or use the arrow keys) to orbit within the camera prior's range; the seed box asks the
    server for another instance. Everything, three.js included, is served from the package.
    """
    from zoo3d.freeview import commands
    from zoo3d.freeview.server import make_server, url_of

    if inversion is not None:
        refuse_beside_inversion(run, "shows")
    given = typed_options("model", "seed", "psi", "no_ema")
    try:  # the port first: a busy one is refused before the model loads and the first scene is made
        server = make_server(None, port)
    except OSError as exc:
        raise UserError(f"Cannot listen on 127.0.0.1:{port} ({exc.strerror}); pass another --port, or 0.") from None
    try:  # SIGTERM (a service manager's, `timeout`'s) ends the command through zoo3d.cli.main: the socket closes here
        if inversion is not None:
            server.source = commands.inversion_source(inversion, device)
        else:
            def loaded():
                return load_for_cli(run, model, device, no_ema, inversion=True)

            server.source = commands.viewer_source(run, loaded, seed, psi, given)
        click.echo(f"zoo3d viewer at {url_of(server)} (Ctrl-C to stop)", nl=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("Stopped.")
    finally:
        server.server_close()
