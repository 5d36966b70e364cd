"""``ZOO3D_ZOO_RESUME=1`` without ``ZOO3D_ZOO_OUT``.

docs/zoo.md: ``ZOO3D_ZOO_RESUME=1`` continues "the run in ``ZOO3D_ZOO_OUT``", whose default, ``runs/zoo-<time>``, is a
new folder at every invocation. Without ``ZOO3D_ZOO_OUT`` there is no run to continue: the suite started a whole new
one in a fresh folder, hours of training, where the user meant to redo a comparison. It is refused before anything is
trained or made, like the suite's other mistyped settings.
"""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process
from test_bench_zoo_standins import _no_zoo_environment  # noqa: F401 (fixture)
from zoo3d.benchmarks import zoo
from zoo3d.errors import UserError

SENTENCE = ("ZOO3D_ZOO_RESUME=1 continues the run in ZOO3D_ZOO_OUT, which is unset (the default, runs/zoo-<time>, "
            "is a new folder each time); set ZOO3D_ZOO_OUT to the run's folder.")


def test_resume_without_an_output_folder_is_refused_before_anything_is_made(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "gram")
    monkeypatch.setenv("ZOO3D_ZOO_RESUME", "1")

    def no_child(*args, **kwargs):
        raise AssertionError("a child process was started")
    monkeypatch.setattr(zoo, "train_for_budget", no_child)   # the suite's trainings
    monkeypatch.setattr(zoo, "_run", no_child)               # its samples and comparison
    code, out, err = run_in_process(capsys, "bench", "zoo", "--quick", "--device", "cpu")
    assert code == 2 and out == ""
    assert one_line_error(err) == "Error: " + SENTENCE
    assert list(tmp_path.iterdir()) == []   # no runs/zoo-<time> folder, no training


@pytest.mark.parametrize("value", ["", "0"])
def test_an_unset_or_zero_resume_keeps_the_default_folder(value):
    env = {"ZOO3D_ZOO_MODELS": "gram", "ZOO3D_ZOO_RESUME": value}
    s = zoo.settings_from_env(True, env)
    assert not s.resume and s.out.parent.name == "runs" and s.out.name.startswith("zoo-")


def test_resume_with_an_output_folder_is_read_as_given(tmp_path):
    (tmp_path / "zoo").mkdir()
    s = zoo.settings_from_env(True, {"ZOO3D_ZOO_MODELS": "gram", "ZOO3D_ZOO_RESUME": "1",
                                     "ZOO3D_ZOO_OUT": str(tmp_path / "zoo")})
    assert s.resume and s.out == tmp_path / "zoo"
    with pytest.raises(UserError, match="ZOO3D_ZOO_OUT, which is unset"):
        zoo.settings_from_env(True, {"ZOO3D_ZOO_MODELS": "gram", "ZOO3D_ZOO_RESUME": "1", "ZOO3D_ZOO_OUT": ""})


def test_the_refusal_is_the_one_errors_md_quotes():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")
    assert f"`ZOO3D_ZOO_RESUME=1` without `ZOO3D_ZOO_OUT`: `{SENTENCE}`" in page


@pytest.mark.parametrize("made, which", [(None, "does not exist"), ("file", "is not a folder")])
def test_resume_into_a_folder_that_is_not_there_is_refused_naming_it(tmp_path, monkeypatch, capsys, made, which):
    """A mistyped ZOO3D_ZOO_OUT (zoo-2026120 for zoo-20261207): the suite made that folder and trained every model
    again in it, hours, without a word that there was nothing to continue."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "zoo-typo"
    if made == "file":
        out.write_text("")
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "gram")
    monkeypatch.setenv("ZOO3D_ZOO_RESUME", "1")
    monkeypatch.setenv("ZOO3D_ZOO_OUT", str(out))

    def no_child(*args, **kwargs):
        raise AssertionError("a child process was started")
    monkeypatch.setattr(zoo, "train_for_budget", no_child)
    monkeypatch.setattr(zoo, "_run", no_child)
    code, stdout, err = run_in_process(capsys, "bench", "zoo", "--quick", "--device", "cpu")
    assert code == 2 and stdout == ""
    assert one_line_error(err) == (f"Error: ZOO3D_ZOO_RESUME=1 continues the run in ZOO3D_ZOO_OUT '{out}', which "
                                   f"{which}; set ZOO3D_ZOO_OUT to the run's folder, or leave ZOO3D_ZOO_RESUME unset "
                                   f"to start a new run there.")
    assert [p.name for p in tmp_path.iterdir()] == ([] if made is None else ["zoo-typo"])  # nothing made
