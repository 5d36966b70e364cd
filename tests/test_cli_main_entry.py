"""The ``zoo3d`` entry point (``zoo3d.cli.main.main``): a command's own exit status. Commands are added to the group
for one test, as a plugin's ``zoo3d_register_commands`` would add them."""

from __future__ import annotations

import click
import pytest

from zoo3d.cli import main as entry
from zoo3d.cli.main import cli


def _run(capsys, *args):
    try:
        entry.main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def command(monkeypatch):
    """``add(callback)``: a command ``probe`` whose callback is ``callback``, in the zoo3d group for this test."""

    def add(callback, name="probe"):
        monkeypatch.setitem(cli.commands, name, click.command(name)(click.pass_context(callback)))

    return add


def test_a_commands_own_exit_status_is_the_processes(command, capsys):
    """``ctx.exit(N)`` (click's way for a command to set its status) ended ``zoo3d`` with status 0: click returns
    the status when not standalone, and the entry point dropped it."""
    command(lambda ctx: (click.echo("checked"), ctx.exit(3)))
    assert _run(capsys, "probe") == (3, "checked\n", "")

    def raising(ctx):
        raise click.exceptions.Exit(4)

    command(raising)
    assert _run(capsys, "probe") == (4, "", "")
    command(lambda ctx: ctx.exit(0))
    assert _run(capsys, "probe")[0] == 0
