"""A model name as RUN and a ``--model`` that names another model are refused as two names: the newest run of the
first was searched for, so ``zoo3d sample oracle --model oracle_inconsistent`` said ``No run of model 'oracle' found
…; train one with `zoo3d train oracle``` for a model that needs no run and has nothing to train. The sentence is
docs/errors.md's."""

from __future__ import annotations

import pytest

from conftest import run_in_process as zoo3d
from test_docs_errors import documented
from zoo3d.errors import UserError
from zoo3d.runs import load_model


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


def test_two_model_names_that_disagree_are_refused_with_the_pages_sentence(here, capsys):
    sentence = documented("zoo3d sample oracle --model oracle_inconsistent …")
    assert sentence == "'oracle' names model 'oracle', not 'oracle_inconsistent'; name the model once."
    code, out, err = zoo3d(capsys, "sample", "oracle", "--model", "oracle_inconsistent", "--seeds", "0", "--out",
                           "grid.png")
    assert (code, out, err.strip()) == (2, "", f"Error: {sentence}")
    assert list(here.iterdir()) == []


def test_the_names_are_compared_before_any_run_is_looked_for(here):
    with pytest.raises(UserError) as err:
        load_model("gram", model="pigan", device="cpu")  # no run of either under the runs root
    assert str(err.value) == "'gram' names model 'gram', not 'pigan'; name the model once."


def test_one_model_written_two_ways_is_one_name(here):
    assert load_model("oracle", model="ORACLE", device="cpu").spec.name == "oracle"  # model names ignore case
