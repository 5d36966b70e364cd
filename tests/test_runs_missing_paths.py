"""RUN|CKPT|MODEL given as a path where nothing is: docs/errors.md's "does not exist" sentences, for the resolver and
for each command that loads through it (sample, render, export), while a bare word is still read as a model name."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process as zoo3d
from zoo3d.errors import UserError
from zoo3d.plugins import get_host
from zoo3d.runs import resolve_checkpoint

NEITHER = "is neither a run folder, a checkpoint file nor a registered model name."


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


def _refusal(ref: str) -> str:
    with pytest.raises(UserError) as err:
        resolve_checkpoint(ref)
    return str(err.value)


@pytest.mark.parametrize("ref", ["runs/gram-20260101-120000", "./gram", "runs/", "/no/such/folder/run"])
def test_a_path_with_a_separator_where_nothing_is_does_not_exist(cwd, ref):
    assert get_host().models.owner("gram") is not None  # './gram' names a path, not the registered model
    assert _refusal(ref) == f"Run folder or checkpoint '{ref}' does not exist."


@pytest.mark.parametrize("ref", ["step_000000006.safetensors", "runs/gram-1/checkpoints/step_9.safetensors",
                                 "weights.pt", "model.CKPT", "ffhq.pth", "net.pkl"])
def test_a_checkpoint_suffix_where_nothing_is_names_the_missing_checkpoint_file(cwd, ref):
    assert _refusal(ref) == f"Checkpoint file '{ref}' does not exist."


def test_the_word_without_a_separator_is_still_read_as_a_model_name(cwd):
    assert _refusal("./gram") == "Run folder or checkpoint './gram' does not exist."
    assert _refusal("gram") == (f"No run of model 'gram' found under {cwd / 'runs'}/; "
                                "train one with `zoo3d train gram`.")
    assert _refusal("./gramm") == "Run folder or checkpoint './gramm' does not exist."
    assert _refusal("gramm").startswith(f"'gramm' {NEITHER} Unknown model 'gramm'. Did you mean 'gram'?")
    assert _refusal("gram.yaml") == f"'gram.yaml' {NEITHER}"  # a suffix no checkpoint has: no model hint either


def test_only_a_missing_path_does_not_exist_an_empty_folder_there_is_a_run_folder_without_checkpoint(cwd):
    assert _refusal("runs/empty") == "Run folder or checkpoint 'runs/empty' does not exist."
    (cwd / "runs" / "empty").mkdir(parents=True)
    assert _refusal("runs/empty").startswith("Run folder 'runs/empty' has no checkpoint yet")


@pytest.mark.parametrize("command", [("sample", "--out", "g.png"), ("render", "--out", "a.gif"),
                                     ("export", "--out", "m.ply")])
def test_each_loading_command_says_the_path_does_not_exist(cwd, capsys, command):
    name, *options = command
    code, _, err = zoo3d(capsys, name, "runs/gram-1", *options)
    assert code == 2
    assert one_line_error(err) == "Error: Run folder or checkpoint 'runs/gram-1' does not exist."
    code, _, err = zoo3d(capsys, name, "best.safetensors", *options)
    assert code == 2
    assert one_line_error(err) == "Error: Checkpoint file 'best.safetensors' does not exist."
    assert not list(cwd.iterdir())  # nothing written
