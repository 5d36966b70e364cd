"""``train_model`` from Python takes its arguments as a notebook writes them.

``data`` may be a ``pathlib.Path``, read as its text is (``--data DIR``): one was refused as "Invalid value
PosixPath('...') for config key 'data.spec': input should be a valid string". ``overrides`` is a list of
``key=value`` items; one text given in its place was iterated, and its first character refused as an override of its
own (``Override 't' must look like key.sub=value.``): it is now refused as one text, naming the list to give.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo3d.errors import UserError
from zoo3d.launch import plan_run, train_model

pytestmark = pytest.mark.usefixtures("single_thread")


def test_a_data_folder_given_as_a_path_is_planned_as_its_text_is(toy):
    """What ``train_model`` plans before it checks the data and trains (:func:`zoo3d.launch.plan_run`)."""
    (toy / "faces").mkdir()
    for data in (Path(toy / "faces"), Path("faces")):  # a relative one is anchored as --data anchors it
        planned = plan_run("toy", data=data, steps=1, out=toy / "run")
        assert planned.config.data.spec == plan_run("toy", data=str(data), steps=1, out=toy / "run").config.data.spec
    assert planned.config.data.spec == str(toy / "faces")


def test_overrides_given_as_one_text_are_refused_naming_the_list(toy):
    with pytest.raises(UserError) as info:
        train_model("toy", overrides="train.seed=3", steps=1, out=toy / "run", progress=False)
    assert str(info.value) == ("overrides='train.seed=3' is one text; give a list of key=value items, such as "
                               "overrides=['train.seed=3'].")
    assert not (toy / "run").exists()


def test_an_out_in_the_home_folder_is_the_run_load_model_finds(toy, monkeypatch):
    """``out="~/runs/x"`` from Python made a folder named '~' in the working directory, where ``--out ~/runs/x``
    (expanded by the shell or by zoo3d) and ``load_model("~/runs/x")`` mean the home folder."""
    from zoo3d.runs import load_model

    monkeypatch.setenv("HOME", str(toy / "home"))
    result = train_model("toy", steps=1, out="~/runs/x", progress=False)
    assert result.run_dir == toy / "home" / "runs" / "x" and not (toy / "~").exists()
    assert load_model("~/runs/x", device="cpu").checkpoint == result.checkpoint
    assert train_model("toy", steps=2, out="~/runs/x", resume=True, progress=False).step == 2


def test_steps_written_as_a_whole_float_train_that_many(toy):
    """``steps=1e3`` is how a notebook writes a thousand: a whole float stopped in the engine's slices with
    "TypeError: slice indices must be integers"."""
    result = train_model("toy", steps=2.0, out=toy / "run", progress=False)
    assert (result.status, result.step, result.steps_cap) == ("done", 2, 2)
    assert type(result.steps_cap) is int


@pytest.mark.parametrize("steps", [2.5, "3", True, float("nan")], ids=["fraction", "text", "bool", "nan"])
def test_steps_that_are_no_whole_number_are_refused_before_a_run_folder_exists(toy, steps):
    with pytest.raises(UserError) as info:
        train_model("toy", steps=steps, out=toy / "run", progress=False)
    assert str(info.value) == f"steps={steps!r} is not a whole number of steps; give an integer, such as steps=1000."
    assert not (toy / "run").exists()
