"""The path type of every file and folder option: click's, with a leading ``~`` read as the home folder.

A shell expands ``~`` in ``--out ~/runs/x`` but not in ``--out=~/runs/x`` (no shell expands a ``~`` after
``--opt=``), nor where a script quotes it; without this the command made a folder literally named ``~`` in the
working directory."""

from __future__ import annotations

import os

import click


class UserPath(click.Path):
    """:class:`click.Path` that expands a leading ``~`` before its checks."""

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            value = os.path.expanduser(value)
        return super().convert(value, param, ctx)
