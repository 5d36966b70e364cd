"""An empty file or folder value (``--out "$OUT"`` with ``OUT`` unset) is refused in one sentence, exit status 2,
before anything is written. Before, click read it as the working directory (``zoo3d train --out ""`` trained into it
and ``render --out ""`` wrote its frames there) or as no value (``train --config ""`` trained the default preset,
``compare --json ""`` wrote no report and said nothing)."""

from __future__ import annotations

import click
import pytest

from conftest import builtin_commands, one_line_error, run_in_process
from toy_model import use_toy

SAID = "the path is empty, as an unset shell variable leaves it; name a file or folder."


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    use_toy(monkeypatch, tmp_path / "runs")
    return work


@pytest.mark.parametrize("args, option", [
    (("train", "toy", "--steps", "1", "--quiet", "--out", ""), "--out"),
    (("train", "toy", "--steps", "1", "--quiet", "--config", ""), "--config"),
    (("render", "oracle", "--frames", "2", "--resolution", "8", "--out", ""), "--out"),
    (("sample", "oracle", "--seeds", "0", "--resolution", "8", "--out", ""), "--out"),
    (("data", "check", ""), "PATH"),
])
def test_an_empty_path_is_one_sentence_and_nothing_is_written(here, capsys, args, option):
    code, out, err = run_in_process(capsys, *args)
    assert code == 2, out + err
    command = " ".join(["zoo3d"] + [a for a in args[:2] if a in ("train", "render", "sample", "data", "check")])
    assert one_line_error(err) == f"Error: Invalid value for '{option}': {SAID} (see `{command} --help`)"
    assert list(here.iterdir()) == [] and not (here.parent / "runs").exists()


def test_every_file_or_folder_option_of_the_built_in_commands_refuses_an_empty_value():

    params = [(c, p) for c in builtin_commands() for p in c.params if isinstance(p.type, click.Path)]
    names = {(c.name, p.name) for c, p in params}
    assert {("train", "out"), ("train", "config_file"), ("compare", "json_out"), ("import", "out"),
            ("invert", "images"), ("demo", "out")} <= names
    for command, param in params:
        with pytest.raises(click.BadParameter, match="the path is empty"):
            param.type.convert("", param, click.Context(command))
        if not param.type.exists:  # a name is still taken as given
            assert param.type.convert("x", param, click.Context(command)) == "x"


def test_errors_md_quotes_the_sentence(here, capsys):
    from test_docs_errors import as_pattern, documented

    code, _, err = run_in_process(capsys, "train", "gram", "--out", "")
    assert code == 2 and as_pattern(documented('zoo3d train gram --out "$OUT"')).fullmatch(one_line_error(err))
