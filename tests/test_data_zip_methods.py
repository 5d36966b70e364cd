"""A zip dataset compressed with a method Python's zipfile cannot decompress (PPMd, which WinZip and 7-Zip offer) is
refused in one sentence naming the method, before anything is read: ``data check`` and ``train`` died on a
NotImplementedError traceback when they read its pose file. The methods zipfile reads are read as before."""

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


def _zip(path, method=zipfile.ZIP_STORED, relabel: int | None = None):
    """A zoo3d dataset zipped with ``method``; ``relabel``: each member's method number then set to that one (in the
    local headers and the central directory), the bytes left as they are."""
    with zipfile.ZipFile(path, "w", method) as zf:
        frames = []
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 60 * i, dtype=np.uint8)).save(path.parent / "tmp.png")
            zf.write(path.parent / "tmp.png", f"images/{i}.png")
            frames.append({"file": f"images/{i}.png", "yaw": 0.1 * i, "pitch": 0.0})
        zf.writestr("poses.json", json.dumps({"version": 1, "frames": frames}))
    if relabel is not None:
        data = bytearray(path.read_bytes())
        for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            at = data.find(signature)
            while at >= 0:
                struct.pack_into("<H", data, at + offset, relabel)
                at = data.find(signature, at + 4)
        path.write_bytes(bytes(data))
    return path


def _sentence(path) -> str:
    return (f"Dataset '{path}' compresses its files with PPMd (zip method 98, 'images/0.png'), which Python's zipfile "
            f"cannot decompress; zip the folder again with `zip -r` (deflate) or `zip -0`.")


def test_a_zip_of_a_method_zipfile_cannot_decompress_is_refused_naming_the_method(tmp_path, capsys, monkeypatch):
    path = _zip(tmp_path / "ppmd.zip", relabel=98)
    with zipfile.ZipFile(path) as zf, pytest.raises(NotImplementedError):
        zf.read("poses.json")
    with pytest.raises(UserError) as err:
        check_dataset(path)
    assert str(err.value) == _sentence(path)
    monkeypatch.chdir(tmp_path)
    for args in (["data", "check", "ppmd.zip"],
                 ["train", "gram", "--preset", "tiny", "--steps", "1", "--data", "ppmd.zip", "--out", "run",
                  "--quiet"]):
        code, _, err = run_in_process(capsys, *args)
        shown = "ppmd.zip" if args[0] == "data" else str(tmp_path / "ppmd.zip")  # a new run anchors the path
        assert code == 2 and err.strip() == f"Error: {_sentence(shown)}", args
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_the_methods_zipfile_reads_are_read(tmp_path, method):
    report = check_dataset(_zip(tmp_path / "ok.zip", method), full=True)
    assert report.ok and report.usable_count == 2, report.summary()


def test_a_method_number_the_zip_specification_lacks_is_refused_as_an_unknown_method(tmp_path):
    path = _zip(tmp_path / "odd.zip", relabel=77)  # no method of APPNOTE 4.4.5 has the number 77
    with pytest.raises(UserError) as err:
        check_dataset(path)
    assert str(err.value) == (f"Dataset '{path}' compresses its files with an unknown method (zip method 77, "
                              f"'images/0.png'), which Python's zipfile cannot decompress; zip the folder again with "
                              f"`zip -r` (deflate) or `zip -0`.")
