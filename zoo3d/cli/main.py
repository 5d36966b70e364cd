"""The ``zoo3d`` command: a click group whose subcommands are imported only when used.

Built-in commands live in ``zoo3d/cli/<name>.py``; plugins add theirs through the
``zoo3d_register_commands(cli)`` hook. ``zoo3d --help`` imports neither torch nor any model.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import sys
import threading
from contextlib import contextmanager

import click

from zoo3d import __version__
from zoo3d.errors import UserError

#: command name -> "module:attribute"; a command whose module is absent is not listed.
BUILTIN_COMMANDS = {
    "train": "zoo3d.cli.train:train",
    "sample": "zoo3d.cli.sample:sample",
    "render": "zoo3d.cli.render:render",
    "invert": "zoo3d.cli.invert:invert",
    "compare": "zoo3d.cli.compare:compare",
    "data": "zoo3d.cli.data:data",
    "bench": "zoo3d.cli.bench:bench",
    "export": "zoo3d.cli.export:export",
    "view": "zoo3d.cli.view:view",
    "import": "zoo3d.cli.importing:import_command",
    "demo": "zoo3d.cli.demo:demo",
    "plugins": "zoo3d.cli.plugins:plugins",
    "models": "zoo3d.cli.plugins:models",
}


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class LazyGroup(click.Group):
    """A group that imports a built-in command's module only when that command runs."""

    #: built-in commands that are groups: a plugin may add subcommands to them, not replace theirs
    builtin_groups = ("data",)

    def list_commands(self, ctx):
        builtin = [n for n, target in BUILTIN_COMMANDS.items() if _module_exists(target.split(":")[0])]
        return sorted(set(builtin) | set(self.commands))

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        target = BUILTIN_COMMANDS.get(name)
        if target is None or not _module_exists(target.split(":")[0]):
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx):
        """Run the command; its ``ctx.exit(N)`` (click's way for a command to set its exit status) ends the process
        with status N. :func:`main` runs click without its standalone mode, in which click returns that status
        instead of exiting with it."""
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit as exc:
            if exc.exit_code:
                sys.exit(exc.exit_code)
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo3d")
def cli():
    """zoo3d: train, sample, invert and compare 3D-aware GANs (GRAM, GRAM-HD, GRAMInverter, baselines)."""


def _add_plugin_commands() -> None:
    from zoo3d.plugins import get_host

    get_host().add_commands(cli)


#: click >= 8.2 raises this (a UsageError) for a group called without a command; older clicks print the help
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _command_path(argv: list[str]) -> str:
    """The command the leading words of ``argv`` name (``zoo3d data check``), for a usage error click raises without
    a context (an option's missing value: ``zoo3d train gram --steps``)."""
    path, command = ["zoo3d"], cli
    for word in argv:
        sub = command.get_command(None, word) if isinstance(command, click.Group) and not word.startswith("-") else None
        if sub is None:
            break
        path.append(word)
        command = sub
    return " ".join(path)


def _crlf_hint(exc: click.UsageError, words: list[str]) -> str:
    """Where click refused a word that ends in a carriage return ('--resume\\r', 'none\\r': the last word of a line of
    a script saved with Windows line endings, run by bash), the clause that says where it comes from; else ''. Click
    had offered the same word back ("No such option '--fast\\r'. Did you mean '--fast'?")."""
    if "\\r'" not in exc.format_message() or not any(str(w).endswith("\r") for w in words):
        return ""
    from zoo3d.errors import CRLF_REMEDY

    return f" (the '\\r' at its end comes from a script saved with Windows line endings (CRLF); {CRLF_REMEDY})"


class Terminated(BaseException):
    """SIGTERM arrived while a command ran: raised in its main thread, as Ctrl-C raises KeyboardInterrupt, so that
    what the command holds is closed and its hidden temporary files are removed on the way out."""


#: the variable torchrun sets in every process it starts
_TORCHRUN_VARIABLE = "TORCHELASTIC_RUN_ID"


@contextmanager
def _sigterm_unwinds():
    """While the command runs, SIGTERM (a scheduler's, ``timeout``'s, ``kill``'s) raises :class:`Terminated` in the
    main thread; the previous handler is put back after. A second SIGTERM takes the default action at once.

    Left alone where SIGTERM is ignored (the process that started this one chose that), off the main thread, and in
    a process torchrun started: its agent's SIGTERM must end a process that waits in a collective on a peer at once,
    and the training loop takes the signal there itself (:class:`zoo3d.train.signals.StopRequest`). A process forked
    from this one (a data loader worker) that kept the handler takes the default action."""
    if (threading.current_thread() is not threading.main_thread() or _TORCHRUN_VARIABLE in os.environ
            or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN):
        yield
        return
    pid = os.getpid()

    def stop(signum, frame):
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
        if os.getpid() != pid:
            signal.raise_signal(signum)
            return
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes become one line on stderr and exit status 2; SIGINT ends a command with
    ``Aborted.`` and status 130, SIGTERM with ``Stopped by SIGTERM.`` and status 143 (after ``train`` and ``demo``
    have saved their checkpoint, in their own words)."""
    try:
        with _sigterm_unwinds():
            _main(argv)
    except Terminated:
        click.echo("Stopped by SIGTERM.", err=True)
        sys.exit(128 + signal.SIGTERM)


def _main(argv: list[str] | None) -> None:
    from zoo3d.host_memory import keep_freed_host_memory

    keep_freed_host_memory()
    _add_plugin_commands()
    try:
        cli.main(args=argv, prog_name="zoo3d", standalone_mode=False)
    except UserError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)
    except OSError as exc:
        from zoo3d.fileio import is_storage_error, storage_reason

        if not is_storage_error(exc):
            raise
        where = f" ('{exc.filename}')" if exc.filename else ""
        reason = storage_reason(exc)
        click.secho(f"Error: {reason[0].upper() + reason[1:]}{where}.", fg="red", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as exc:  # `zoo3d` or `zoo3d data` alone: the help, printed as help, not as an error
        click.echo(exc.ctx.get_help() if exc.ctx is not None else cli.get_help(click.Context(cli)))
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # one line too: the bad option or value, and where the help is
        words = sys.argv[1:] if argv is None else argv
        command = exc.ctx.command_path if exc.ctx is not None else _command_path(words)
        click.secho(f"Error: {exc.format_message()}{_crlf_hint(exc, words)} (see `{command} --help`)", fg="red",
                    err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
