"""A ``--data`` name that is both a registered dataset and a folder here is refused, not silently the registered one.

``heads`` is the alias of ``synthetic:heads``; a folder written by ``zoo3d data synth --out heads`` (or a folder of
photographs named so) read back with ``--data heads`` trained on the registered dataset without a word. The
sentence names both ways to say which is meant, and each of them is taken as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_in_process
from zoo3d.launch import plan_run

pytestmark = pytest.mark.usefixtures("single_thread")

SAYS = ("Error: Dataset 'heads' names both the registered dataset synthetic:heads and the folder or zip 'heads' here; "
        "write synthetic:heads for the registered one or ./heads for the folder.")


@pytest.fixture
def heads_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "heads").mkdir()
    return tmp_path


@pytest.mark.parametrize("command", [["train", "gram", "--out", "run", "--steps", "1"],
                                     ["compare", "--models", "oracle", "--metric", "swd"]])
def test_train_and_compare_refuse_the_name_in_one_sentence_before_anything_runs(heads_folder, capsys, command):
    code, out, err = run_in_process(capsys, *command, "--data", "heads")
    assert code == 2 and err.strip() == SAYS
    assert sorted(p.name for p in heads_folder.iterdir()) == ["heads"]  # nothing written: no run folder, no report


def test_either_written_form_is_taken_as_written(heads_folder):
    assert plan_run("gram", data="./heads").config.data.spec == str(heads_folder / "heads")  # the folder
    assert plan_run("gram", data="synthetic:heads").config.data.spec == "synthetic:heads"
    assert plan_run("gram", data="heads?count=10").config.data.spec == "heads?count=10"  # options: registered only


def test_the_alias_alone_is_the_registered_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not Path("heads").exists()  # no folder of that name here
    assert plan_run("gram", data="heads").config.data.spec == "heads"
