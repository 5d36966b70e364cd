"""An empty name or spec (``--data "$DATA"`` with ``DATA`` unset; also ``--preset``, ``--device``, ``--model``,
``--ckpt`` and ``RUN``) is refused in one sentence, exit status 2, before any work. Before, click's empty string read
as no value: ``zoo3d train gram --data ""`` trained on the built-in synthetic heads, ``--preset ""`` the default
preset, ``--device ""`` on whatever device ``auto`` found, and ``zoo3d sample "" …`` looked for a run in the working
folder."""

from __future__ import annotations

import click
import pytest

from conftest import builtin_commands, one_line_error, run_in_process
from toy_model import use_toy

SAID = "the value is empty, as an unset shell variable leaves it; give one or leave the option out."


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    use_toy(monkeypatch, tmp_path / "runs")
    return work


@pytest.mark.parametrize("args, option, command", [
    (("train", "toy", "--steps", "1", "--quiet", "--out", "r", "--data", ""), "--data", "train"),
    (("train", "toy", "--steps", "1", "--quiet", "--out", "r", "--preset", ""), "--preset", "train"),
    (("train", "toy", "--steps", "1", "--quiet", "--out", "r", "--device", ""), "--device", "train"),
    (("sample", "", "--seeds", "0", "--resolution", "8", "--out", "g.png"), "[RUN]", "sample"),
    (("sample", "--model", "", "--seeds", "0", "--resolution", "8", "--out", "g.png"), "--model", "sample"),
    (("render", "--model", "oracle", "--device", "", "--frames", "1", "--resolution", "8", "--out", "t.gif"),
     "--device", "render"),
])
def test_an_empty_value_is_one_sentence_and_nothing_is_written(here, capsys, args, option, command):
    code, out, err = run_in_process(capsys, *args)
    assert code == 2, out + err
    assert one_line_error(err) == f"Error: Invalid value for '{option}': {SAID} (see `zoo3d {command} --help`)"
    assert list(here.iterdir()) == [] and not (here.parent / "runs").exists()


def test_every_name_option_of_the_built_in_commands_refuses_an_empty_value():
    from zoo3d.cli.paths import GivenText

    names = {"data", "preset", "device", "model", "ckpt", "run"}
    params = [(c, p) for c in builtin_commands() for p in c.params if p.name in names]
    # the MODEL argument of train and import is looked up as given: '' is an unknown model, said as such
    plain = [(c.name, p.name) for c, p in params if not isinstance(p.type, GivenText)
             and not (isinstance(p, click.Argument) and p.name == "model")]
    assert plain == []
    assert len(params) >= 15
    for command, param in params:
        if isinstance(param.type, GivenText):
            with pytest.raises(click.BadParameter, match="the value is empty"):
                param.type.convert("", param, click.Context(command))
            assert param.type.convert("cpu", param, click.Context(command)) == "cpu"


def test_errors_md_quotes_the_sentence(here, capsys):
    from test_docs_errors import as_pattern, documented

    code, _, err = run_in_process(capsys, "train", "gram", "--data", "")
    assert code == 2 and as_pattern(documented('zoo3d train gram --data "$DATA"')).fullmatch(one_line_error(err))
