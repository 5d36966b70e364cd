"""The path type of every file and folder option: click's, with a leading ``~`` read as the home folder.

A shell expands ``~`` in ``--out ~/runs/x`` but not in ``--out=~/runs/x`` (no shell expands a ``~`` after
``--opt=``), nor where a script quotes it; without this the command made a folder literally named ``~`` in the
working directory.

An empty value (``--out "$OUT"`` with ``OUT`` unset) is refused: click took it as the working directory (``train``
trained into it, ``render`` wrote its frames there) or as no value at all (``train --config ""`` trained the default
preset, ``compare --json ""`` wrote no report).

A value that ends in a carriage return is refused too: a script saved with Windows line endings (CRLF) and run by
bash passes it at the end of every line's last word, invisibly. ``data check DIR`` said "Dataset path 'DIR' does not
exist" of a folder that does, ``--preset tiny`` was an unknown preset "Did you mean 'tiny'?", and ``--out DIR`` made
a run folder named ``DIR\r`` beside ``DIR``.

A value that ends in a slash (``--out grid.png/``) names a folder; an option that takes a file (``dir_okay=False``)
refuses it: ``Path`` drops the slash, and the file was written where the user had named a folder."""

from __future__ import annotations

import os

import click

from zoo3d.errors import CRLF  # said of a value that ends in '\r' (imported from here too)


def refuse_blank(kind: click.ParamType, value, noun: str, remedy: str, param, ctx) -> None:
    """Refuse a value as ``kind`` would (click's usage error): empty (an unset shell variable) or ending in a carriage
    return (a CRLF script); ``noun`` names it ('path', 'value'), ``remedy`` says what to give instead of nothing."""
    if value == "":
        kind.fail(f"the {noun} is empty, as an unset shell variable leaves it; {remedy}.", param, ctx)
    if isinstance(value, str) and value.endswith("\r"):
        kind.fail(f"the {noun} {CRLF}", param, ctx)


class UserPath(click.Path):
    """:class:`click.Path` that expands a leading ``~`` before its checks, in a value typed on the command line, read
    from an environment variable or given as the option's default (text or a ``pathlib.Path``)."""

    def convert(self, value, param, ctx):
        if isinstance(value, os.PathLike):  # a default of Path("~/x"): click hands it over as it is
            value = os.fspath(value)
        refuse_blank(self, value, "path", "name a file or folder", param, ctx)
        if isinstance(value, str) and not self.dir_okay and value.endswith(("/", os.sep)) and value.strip("/" + os.sep):
            # Path('g.png/') is 'g.png': the file was written where the user had named a folder
            self.fail(f"'{value}' ends in a slash, which names a folder, and this takes a file; drop the slash.",
                      param, ctx)
        if isinstance(value, str):
            value = os.path.expanduser(value)
        return super().convert(value, param, ctx)


class GivenText(click.ParamType):
    """Text that must not be empty: a name or spec (``--data``, ``--preset``, ``--device``, ``--model``, ``RUN``) given
    as ``"$DATA"`` with ``DATA`` unset was read as no value, so ``zoo3d train gram --data "$DATA"`` trained on the
    built-in synthetic heads and ``--device "$DEV"`` picked a device itself, without a word."""

    name = "text"

    def convert(self, value, param, ctx):
        refuse_blank(self, value, "value", "give one or leave the option out", param, ctx)
        return value


GIVEN = GivenText()
