"""A command a sentence prints for the user to run next reads back, through a shell's word splitting, as the command
meant: a run folder with a space in its name stays one argument."""

from __future__ import annotations

import re
import shlex
from types import SimpleNamespace

import pytest
import torch

from test_gram_inverter_model import micro_config

pytestmark = pytest.mark.usefixtures("single_thread")


def test_inverts_command_that_trains_the_run_on_keeps_a_folder_with_spaces_whole(tmp_path):
    """`invert`'s warning for a GRAMInverter run stopped in its first stage, before the encoder trains."""
    from zoo3d.cli.invert import untrained_inverter_note
    from zoo3d.train.checkpoint import checkpoint_name, write_safetensors

    plugin, cfg = micro_config()
    torch.manual_seed(0)
    modules = plugin.build(cfg)
    run = tmp_path / "my runs" / "gi 1"
    path = write_safetensors({"generator.w": torch.zeros(1)},
                             {"zoo3d.model": "gram_inverter", "zoo3d.step": "1", "zoo3d.stage_index": "0",
                              "zoo3d.stage_step": "1"}, run / "checkpoints" / checkpoint_name(1))
    loaded = SimpleNamespace(checkpoint=path, plugin=plugin, config=cfg, modules=modules,
                             spec=SimpleNamespace(name="gram_inverter"))
    note = untrained_inverter_note(loaded, plugin.build_inverter(cfg, modules), "the inversion")
    found = re.search(r"train the run on \(`(.*)`\)\.$", note or "")
    assert found, note
    assert shlex.split(found.group(1)) == ["zoo3d", "train", "gram_inverter", "--out", str(run), "--resume"]


def _command(sentence: str) -> list[str]:
    found = re.search(r"run `(zoo3d data check [^`]*)`", sentence)
    assert found, sentence
    return shlex.split(found.group(1))


def test_trains_refusal_of_a_folder_without_posed_images_names_a_data_check_that_keeps_it_whole(tmp_path, capsys):
    from PIL import Image

    from conftest import run_in_process

    faces = tmp_path / "my faces"
    faces.mkdir()
    Image.new("RGB", (8, 8)).save(faces / "a.png")  # no poses beside it
    code, _, err = run_in_process(capsys, "train", "gram", "--data", faces, "--out", tmp_path / "run", "--quiet")
    assert code == 2, err
    assert _command(err) == ["zoo3d", "data", "check", str(faces)]


def test_a_folder_whose_probed_images_do_not_decode_names_a_data_check_that_keeps_it_whole(tmp_path):
    from zoo3d.cameras import Camera
    from zoo3d.data.folder import FolderDataset, UnreadableDataError
    from zoo3d.data.formats import write_eg3d_labels

    faces = tmp_path / "my faces"
    faces.mkdir()
    (faces / "a.png").write_bytes(b"not an image")
    write_eg3d_labels(faces, ["a.png"], Camera.from_angles(torch.zeros(1), 0.0).to_eg3d().numpy())
    with pytest.raises(UnreadableDataError) as err:
        FolderDataset(faces, 8).check_readable()
    assert _command(str(err.value)) == ["zoo3d", "data", "check", str(faces)]


def test_the_command_a_busy_run_folder_names_its_holder_by_keeps_a_folder_with_spaces_whole(tmp_path, monkeypatch):
    import sys

    from zoo3d.runs import RunLock, RunLockedError

    run = tmp_path / "my runs" / "gram 1"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/zoo3d", "train", "gram", "--out", str(run)])
    lock = RunLock(run).acquire()
    try:
        with pytest.raises(RunLockedError) as refused:
            RunLock(run).acquire()
    finally:
        lock.release()
    found = re.search(r", `(.*)` since ", str(refused.value))
    assert found, refused.value
    assert shlex.split(found.group(1)) == ["zoo3d", "train", "gram", "--out", str(run)]


def test_a_dataset_built_on_a_folder_without_posed_images_names_a_data_check_that_keeps_it_whole(tmp_path):
    from PIL import Image

    from zoo3d.data.folder import FolderDataset
    from zoo3d.errors import UserError

    faces = tmp_path / "my faces"
    faces.mkdir()
    Image.new("RGB", (8, 8)).save(faces / "a.png")  # no poses beside it
    with pytest.raises(UserError) as err:
        FolderDataset(faces, 8)
    assert _command(str(err.value)) == ["zoo3d", "data", "check", str(faces)]
