"""``zoo3d train --resume --set stages.NAME.steps=N`` trains a run on past its recipe (or cuts a stage short), as the
authors' scripts go on with a larger ``--kimg``: the steps after the checkpoint are those of a run whose recipe had
the new length from the start, the run folder's ``config.yaml`` and later checkpoints say the new length, and a
stage the checkpoint finished, or fewer steps than a stage has taken, is refused. Any other ``--set`` is refused."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from conftest import run_in_process as zoo3d
from toy_model import one_thread, use_toy
from zoo3d.config_base import read_yaml
from zoo3d.errors import UserError
from zoo3d.launch import train_model
from zoo3d.train.checkpoint import read_metadata


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def _train(run, steps, *extra, cap=None, resume=False, toy_stages=1):
    given = [] if resume else [f"stages.main.steps={steps}", "train.log_every=1", f"toy.stages={toy_stages}",
                               "toy.r1_interval=2"]
    return train_model("toy", out=run, steps=cap, device="cpu", progress=False, resume=resume,
                       overrides=[*given, *extra])


def _final(run):
    return load_file(str(sorted((run / "checkpoints").glob("step_*.safetensors"))[-1]))


def test_a_finished_run_trained_on_is_the_run_of_the_longer_recipe(toy, capsys):
    straight = _train(toy / "straight", 6).run_dir
    run = _train(toy / "lengthened", 4).run_dir
    capsys.readouterr()
    result = _train(run, None, "stages.main.steps=6", resume=True)
    assert (result.status, result.start_step, result.step) == ("done", 4, 6)
    assert f"note: {run}: the run trains on with stages.main.steps 4 -> 6 (its recipe: 4 -> 6 steps)." in \
        capsys.readouterr().err
    assert read_yaml(run / "config.yaml")["stages"][0]["steps"] == 6
    meta = read_metadata(sorted((run / "checkpoints").glob("step_*.safetensors"))[-1])
    assert json.loads(meta["zoo3d.config"])["stages"][0]["steps"] == 6 and meta["zoo3d.step"] == "6"
    a, b = _final(straight), _final(run)
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].equal(b[key]), key
    lines = [line for line in (run / "metrics.jsonl").read_text().splitlines() if '"loss.' in line]
    assert len(lines) == 6  # steps 1..4 of the first run, 5..6 of the resumed one, each logged once


def test_a_stage_length_edited_in_config_yaml_is_taken_as_the_set_is(toy):
    run = _train(toy / "r", 4, cap=2).run_dir
    path = run / "config.yaml"
    path.write_text(path.read_text().replace("  steps: 4\n", "  steps: 3\n"))
    result = _train(run, None, resume=True)
    assert (result.start_step, result.step, result.recipe_steps) == (2, 3, 3)


def test_another_key_ending_in_steps_edited_in_config_yaml_is_refused(toy):
    run = _train(toy / "r", 4, cap=2).run_dir
    path = run / "config.yaml"
    path.write_text(path.read_text().replace("    D: 0.005\n", "    D: 0.005\n    steps: 3\n"))
    with pytest.raises(UserError) as caught:
        _train(run, None, resume=True)
    assert str(caught.value).startswith(f"'{path}' was changed after the run began (stages.main.lr.steps: absent in "
                                        f"the checkpoint, 3.0 in the file); ")


def test_a_stage_is_not_cut_below_the_steps_it_has_taken(toy, capsys):
    run = _train(toy / "r", 4, cap=3).run_dir
    code, _, err = zoo3d(capsys, "train", "toy", "--out", run, "--resume", "--quiet", "--set", "stages.main.steps=2")
    assert code == 2 and err.strip() == ("Error: Stage 'main' has taken 3 steps by the checkpoint's step 3; give it 3 "
                                         "or more (stages.main.steps=3 ends it there).")
    assert read_yaml(run / "config.yaml")["stages"][0]["steps"] == 4  # nothing written
    code, out, err = zoo3d(capsys, "train", "toy", "--out", run, "--resume", "--quiet", "--set", "stages.main.steps=3")
    assert code == 0 and out.startswith("Nothing to train: the run is at step 3"), (out, err)


def test_a_stage_the_checkpoint_finished_keeps_its_length(toy):
    run = _train(toy / "r", 4, cap=3, toy_stages=2).run_dir  # stages 'first' (steps 1-2) and 'second' (3-4)
    with pytest.raises(UserError) as caught:
        _train(run, None, "stages.main.steps=8", resume=True)  # 'first' would be 4 steps long
    assert str(caught.value) == ("Stage 'first' was finished by the checkpoint's step 3, so its length stays 2; "
                                 f"'{run / 'config.yaml'}' or --set may change the stages the run has not finished.")


@pytest.mark.parametrize("item", ["train.seed=3", "stages.main.lr.G=1e-3", "stages.main=4",
                                  "stages.main.lr.steps=3"])  # an optimiser's rate, named "steps"
def test_any_other_set_is_refused_on_resume(toy, item):
    run = _train(toy / "r", 2, cap=1).run_dir
    with pytest.raises(UserError) as caught:
        _train(run, None, item, resume=True)
    assert str(caught.value) == ("--resume continues a run with its stored config; of --set it takes only a stage's "
                                 f"length (stages.NAME.steps=N, for a stage the run has not finished), not '{item}' "
                                 f"(start a new run for that).")
