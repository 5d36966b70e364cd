"""A zip dataset protected by a password (as some datasets are shared, ``zip -P``) is refused in one sentence that
says so, by ``data check``, ``train`` and ``compare --data``: reading its poses.json was a RuntimeError traceback."""

from __future__ import annotations

import json
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process
from zoo3d.data.check import check_dataset
from zoo3d.errors import UserError

pytestmark = pytest.mark.usefixtures("single_thread")


def _encrypted_zip(path):
    """A stored zip of a zoo3d dataset whose members carry the 'encrypted' flag (bit 0 of the general purpose flags,
    in each local header and central directory entry), which is what makes zipfile ask for a password."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        frames = []
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 50 * i, dtype=np.uint8)).save(path.parent / "tmp.png")
            zf.write(path.parent / "tmp.png", f"images/{i}.png")
            frames.append({"file": f"images/{i}.png", "yaw": 0.0, "pitch": 0.0})
        zf.writestr("poses.json", json.dumps({"version": 1, "frames": frames}))
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            flags = struct.unpack_from("<H", data, at + offset)[0]
            struct.pack_into("<H", data, at + offset, flags | 0x1)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as zf, pytest.raises(RuntimeError, match="password required"):
        zf.read("poses.json")
    return path


def _sentence(path) -> str:
    return (f"Dataset '{path}' is a zip protected by a password ('images/0.png' is encrypted), which zoo3d cannot "
            f"read; unzip it (`unzip {path}` asks for the password) and give the folder.")


def test_the_check_refuses_an_encrypted_zip_naming_its_first_member(tmp_path):
    path = _encrypted_zip(tmp_path / "locked.zip")
    with pytest.raises(UserError) as err:
        check_dataset(path)
    assert str(err.value) == _sentence(path)


def test_data_check_train_and_compare_exit_2_with_the_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _encrypted_zip(tmp_path / "locked.zip")
    for args in (["data", "check", "locked.zip"],
                 ["train", "gram", "--preset", "tiny", "--steps", "1", "--data", "locked.zip", "--out", "run",
                  "--quiet"],
                 ["compare", "--models", "oracle", "--metric", "swd", "--data", "locked.zip"]):
        code, _, err = run_in_process(capsys, *args)
        shown = "locked.zip" if args[0] != "train" else str(tmp_path / "locked.zip")  # a new run anchors the path
        assert code == 2 and err.strip() == f"Error: {_sentence(shown)}", args
    assert not (tmp_path / "run").exists()
