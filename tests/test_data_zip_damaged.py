"""A zip dataset that cannot be opened as a zip (a download or copy cut short, a damaged table of contents) is refused
in one sentence that says so, by ``data check``, ``train`` and ``compare --data``: it was a traceback when the
archive's end record was intact, and 'neither a folder nor a zip file' when it was cut off."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process
from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset
from zoo3d.errors import UserError

pytestmark = pytest.mark.usefixtures("single_thread")


def _dataset_zip(path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        frames = []
        for i in range(3):
            name = f"images/{i}.png"
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(path.parent / "tmp.png")
            zf.write(path.parent / "tmp.png", name)
            frames.append({"file": name, "yaw": 0.1 * i, "pitch": 0.0})
        zf.writestr("poses.json", json.dumps({"version": 1, "frames": frames}))
    return path.read_bytes()


def _damaged(tmp_path):
    """(name, bytes, what Python's zipfile says): cut off in the middle, and with its first central directory entry's
    signature spoiled (the end record, which zipfile.is_zipfile looks at, intact)."""
    whole = _dataset_zip(tmp_path / "whole.zip")
    spoiled = bytearray(whole)
    spoiled[whole.index(b"PK\x01\x02") + 2] = 0x09
    return [("cut.zip", whole[: len(whole) // 2], "File is not a zip file"),
            ("spoiled.zip", bytes(spoiled), "Bad magic number for central directory")]


def test_a_damaged_zip_is_refused_in_one_sentence_by_the_reader_and_the_check(tmp_path):
    for name, data, why in _damaged(tmp_path):
        path = tmp_path / name
        path.write_bytes(data)
        sentence = (f"Dataset '{path}' cannot be read as a zip file ({why}): it is damaged or was cut short; "
                    f"`unzip -t {path}` tests it.")
        for read in (check_dataset, lambda p: FolderDataset(p, 8)):
            with pytest.raises(UserError) as err:
                read(path)
            assert str(err.value) == sentence


def test_data_check_train_and_compare_exit_2_with_the_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, data, why in _damaged(tmp_path):
        (tmp_path / name).write_bytes(data)
        for args in (["data", "check", name], ["train", "gram", "--preset", "tiny", "--steps", "1", "--data", name,
                                               "--out", "run", "--quiet"],
                     ["compare", "--models", "oracle", "--metric", "swd", "--data", name]):
            code, _, err = run_in_process(capsys, *args)
            shown = name if args[0] != "train" else str(tmp_path / name)  # a new run anchors a relative path
            assert code == 2 and err.strip() == (f"Error: Dataset '{shown}' cannot be read as a zip file ({why}): "
                                                 f"it is damaged or was cut short; `unzip -t {shown}` tests it."), args
        assert not (tmp_path / "run").exists()
