"""The command synopses at the top of docs/training.md and docs/metrics.md against the commands' options.

A synopsis is where a reader looks for what a command takes: every option a command shows in `--help` is in its
page's synopsis (`invert --keep-geometry`, `sample --no-ema` and `render --cached` were not), every option the
synopsis names is one the command takes, a number the synopsis gives as an option's value (`[--frames 60]`) is
the option's default, and an option of a few choices has them all listed (`--space auto|z|w|w+`).
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from zoo3d.cli.main import cli

DOCS = Path(__file__).resolve().parents[1] / "docs"


def synopsis(page: str) -> dict[str, str]:
    """The first fenced block of a page, as command name -> the text of its lines (continuations joined)."""
    block = (DOCS / page).read_text(encoding="utf-8").split("```", 2)[1]
    lines: list[str] = []
    for line in block.splitlines()[1:]:
        if line.startswith(" ") and lines:
            lines[-1] += " " + line.strip().rstrip("\\")
        elif line.startswith("zoo3d "):
            lines.append(line.rstrip("\\"))
    commands: dict[str, str] = {}
    for line in lines:
        name = line.split()[1]
        commands[name] = commands.get(name, "") + " " + line.split("#", 1)[0]
    return commands


def named_options(text: str) -> set[str]:
    """The long options a synopsis line names (`--cached`, `--rasterizer`), not words that merely hold a dash."""
    return set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", text))


def shown_options(name: str) -> dict[str, click.Parameter]:
    """The options `zoo3d NAME --help` lists, by their long name."""
    command = cli.get_command(click.Context(cli), name)
    return {opt: param for param in command.params if isinstance(param, click.Option) and not param.hidden
            for opt in param.opts if opt.startswith("--")}


PAGES = {"training.md": ["train", "sample", "render", "import", "demo", "invert"], "metrics.md": ["compare"]}
CASES = [(page, name) for page, names in PAGES.items() for name in names]


def test_the_synopses_are_read_whole():
    # export and view appear there for an inverted image only; their synopses are freeview.md's
    assert sorted(synopsis("training.md")) == sorted(PAGES["training.md"] + ["export", "view"])
    assert list(synopsis("metrics.md")) == ["compare"]
    # both render lines, the seed's and --inversion's, are read
    assert "--inversion" in synopsis("training.md")["render"] and "--trajectory" in synopsis("training.md")["render"]


@pytest.mark.parametrize("page,name", CASES, ids=[f"{p}:{n}" for p, n in CASES])
def test_the_synopsis_names_every_option_the_command_shows(page, name):
    assert sorted(set(shown_options(name)) - named_options(synopsis(page)[name]) - {"--help"}) == []


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_option_a_synopsis_names_is_one_its_command_takes(page):
    # the other way round: an option renamed or dropped since stays in the page as one the reader's shell refuses;
    # training.md's export and view lines (an inverted image's) are held to their commands here too
    stale = {name: sorted(named_options(text) - set(shown_options(name))) for name, text in synopsis(page).items()}
    assert {name: options for name, options in stale.items() if options} == {}


@pytest.mark.parametrize("page,name", CASES, ids=[f"{p}:{n}" for p, n in CASES])
def test_a_number_the_synopsis_gives_an_option_is_its_default(page, name):
    options = shown_options(name)
    for option, value in re.findall(r"\[(--[a-z][\w-]*) (-?[\d.]+)\]", synopsis(page)[name]):
        default = options[option].default
        assert float(value) == float(default), f"{name} {option}: the synopsis says {value}, the default is {default}"


@pytest.mark.parametrize("page,name", CASES, ids=[f"{p}:{n}" for p, n in CASES])
def test_an_option_of_a_few_choices_lists_them_all_in_the_synopsis(page, name):
    text = synopsis(page)[name]
    for option, param in shown_options(name).items():
        if isinstance(param.type, click.Choice):
            listed = re.findall(rf"{re.escape(option)} ([\w+-]+(?:\|[\w+-]+)+)", text)
            assert listed and all(choices.split("|") == list(param.type.choices) for choices in listed), (
                f"{name} {option}: the synopsis lists {listed}, the command takes {list(param.type.choices)}")
