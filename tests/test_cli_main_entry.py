"""The ``zoo3d`` entry point (``zoo3d.cli.main.main``): the commands it lists and finds, and what each kind of
failure becomes -- the one ``Error: ...`` line and exit status of docs/errors.md, "Aborted." with 130, the help
for a group called alone, a command's own exit status. Commands that fail on purpose are added to the group for
one test, as a plugin's ``zoo3d_register_commands`` would add them."""

from __future__ import annotations

import errno

import click
import click.testing
import pytest

from zoo3d import __version__
from zoo3d.cli import main as entry
from zoo3d.cli.main import BUILTIN_COMMANDS, cli


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


def test_a_user_error_is_one_red_line_and_status_2(command, capsys):
    from zoo3d.errors import UserError

    def refuse(ctx):
        raise UserError("No run of model 'x' found.")

    command(refuse)
    assert _run(capsys, "probe") == (2, "", "Error: No run of model 'x' found.\n")


def _on_a_terminal(*args) -> str:
    """What ``zoo3d ARGS`` writes to a stderr that shows colours."""
    with click.testing.CliRunner().isolation(color=True) as (_, err, _output):
        with pytest.raises(SystemExit):
            entry.main(list(args))
        return err.getvalue().decode()


def test_every_error_line_is_red_on_a_terminal(command):
    from zoo3d.errors import UserError

    def refuse(ctx):
        raise UserError("No run of model 'x' found.")

    command(refuse)
    assert _on_a_terminal("probe") == "\x1b[31mError: No run of model 'x' found.\x1b[0m\n"

    def full(ctx):
        raise OSError(errno.ENOSPC, "No space left on device", "g.png")

    command(full)
    assert _on_a_terminal("probe") == "\x1b[31mError: The disk is full ('g.png').\x1b[0m\n"
    said = _on_a_terminal("sample", "--psi", "2")
    assert said.startswith("\x1b[31mError: Invalid value for '--psi'") and said.endswith("--help`)\x1b[0m\n")


@pytest.mark.parametrize("number, filename, said", [
    (errno.ENOSPC, "grid.png", "Error: The disk is full ('grid.png').\n"),
    (errno.EROFS, None, "Error: The file system is read-only.\n"),
    (errno.EACCES, "runs/x", "Error: Permission denied ('runs/x').\n"),
])
def test_a_storage_error_is_one_sentence_with_the_file(command, capsys, number, filename, said):
    def fail(ctx):
        raise OSError(number, "system words", filename)

    command(fail)
    assert _run(capsys, "probe") == (2, "", said)


def test_other_os_errors_are_not_passed_off_as_user_mistakes(command, capsys):
    def fail(ctx):
        raise OSError(errno.EIO, "Input/output error", "disk")

    command(fail)
    with pytest.raises(OSError) as caught:
        entry.main(["probe"])
    assert caught.value.errno == errno.EIO


def test_an_interrupted_command_says_aborted_with_status_130(command, capsys):
    def interrupt(ctx):
        raise KeyboardInterrupt

    command(interrupt)
    code, out, err = _run(capsys, "probe")
    assert (code, out) == (130, "") and err.strip().splitlines()[-1] == "Aborted."


def test_usage_mistakes_are_one_line_pointing_at_the_commands_help(command, capsys):
    code, out, err = _run(capsys, "sample", "--bogus")
    assert (code, out) == (2, "") and err.startswith("Error: No such option")
    assert err.endswith(" (see `zoo3d sample --help`)\n") and len(err.splitlines()) == 1
    assert _run(capsys, "smaple") == (
        2, "", "Error: No such command 'smaple'. (see `zoo3d --help`)\n")

    def refuse(ctx):
        raise click.UsageError("give one of --a or --b")

    command(refuse)
    assert _run(capsys, "probe") == (2, "", "Error: give one of --a or --b (see `zoo3d probe --help`)\n")


def test_other_click_errors_show_as_click_shows_them_with_their_status(command, capsys):
    class Conflict(click.ClickException):
        exit_code = 5

    def fail(ctx):
        raise Conflict("two runs claim one folder")

    command(fail)
    assert _run(capsys, "probe") == (5, "", "Error: two runs claim one folder\n")


@pytest.mark.parametrize("args", [(), ("data",)])
def test_a_group_alone_prints_its_help_on_stdout(capsys, args):
    code, out, err = _run(capsys, *args)
    assert code == 2 and err == ""
    assert out.startswith(f"Usage: zoo3d {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND [ARGS]...")


def test_help_and_version_name_the_program_zoo3d(capsys):
    code, out, _ = _run(capsys, "-h")
    assert code == 0 and out.startswith("Usage: zoo3d [OPTIONS] COMMAND [ARGS]...")
    code, out, _ = _run(capsys, "--version")
    assert (code, out) == (0, f"zoo3d, version {__version__}\n")


def test_every_builtin_command_and_each_plugin_command_is_listed_once_in_order(command):
    command(lambda ctx: None, name="aaa-probe")
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted({*BUILTIN_COMMANDS, "aaa-probe"})
    assert cli.get_command(ctx, "aaa-probe") is cli.commands["aaa-probe"]
    assert cli.get_command(ctx, "sample").name == "sample"
    assert cli.get_command(ctx, "import").name == "import"


def test_a_builtin_whose_module_is_missing_is_neither_listed_nor_found(monkeypatch, capsys):
    monkeypatch.setitem(BUILTIN_COMMANDS, "ghost", "zoo3d.cli.ghost:ghost")
    monkeypatch.setitem(BUILTIN_COMMANDS, "phantom", "zoo3d_no_such_package.cli:phantom")
    ctx = click.Context(cli)
    assert "ghost" not in cli.list_commands(ctx) and "phantom" not in cli.list_commands(ctx)
    assert cli.get_command(ctx, "ghost") is None and cli.get_command(ctx, "phantom") is None
    assert cli.get_command(ctx, "no-such-command") is None
    assert _run(capsys, "ghost")[2] == "Error: No such command 'ghost'. (see `zoo3d --help`)\n"


@pytest.mark.parametrize("name, found", [
    ("zoo3d.cli.sample", True), ("zoo3d.cli.ghost", False), ("zoo3d_no_such_package.cli", False), ("", False),
    (".relative", False),
])
def test_a_module_exists_only_when_it_can_be_imported(name, found):
    assert entry._module_exists(name) is found


def test_plugin_commands_are_added_before_the_command_line_is_read(monkeypatch, tmp_path, capsys):
    """A plugin's command runs through ``zoo3d NAME`` like a built-in (the host adds it when main starts)."""
    from zoo3d.plugins import reset_host

    (tmp_path / "probe_plugin.py").write_text(
        "import click\nfrom zoo3d import hookimpl\n\n@click.command('probe-plugin')\ndef probe():\n"
        "    click.echo('from the plugin')\n\n@hookimpl\ndef zoo3d_register_commands(cli):\n"
        "    cli.add_command(probe)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "probe_plugin")
    reset_host()
    monkeypatch.setattr(cli, "commands", dict(cli.commands))  # the plugin's command leaves with this test
    assert _run(capsys, "probe-plugin") == (0, "from the plugin\n", "")
