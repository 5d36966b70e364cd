"""An image of 32-bit float pixels (mode F, a float TIFF) is refused by name, never read as black.

Converted to RGB as colours, float values in 0-1 clip to the darkest 8-bit level: ``zoo3d invert`` inverted such a
photo as a black square with exit status 0, and training would have trained on black images. Its range cannot be
known from the file, so it is a problem of that file, said by ``data check``, ``invert`` and training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process
from zoo3d.data.check import check_dataset
from zoo3d.data.images import FLOAT_PIXELS, decode_image

pytestmark = pytest.mark.usefixtures("single_thread")


def _float_tiff(path, size=16):
    ramp = np.linspace(0.0, 1.0, size * size, dtype=np.float32).reshape(size, size)
    Image.fromarray(ramp, mode="F").save(path)
    with Image.open(path) as img:
        assert img.mode == "F"  # the file really holds float pixels


def test_decoding_a_float_image_is_refused_with_the_reason(tmp_path):
    _float_tiff(tmp_path / "f.tif")
    with pytest.raises(ValueError) as caught:
        decode_image(tmp_path / "f.tif", 16)
    assert str(caught.value) == FLOAT_PIXELS and "32-bit floating-point" in FLOAT_PIXELS


def test_invert_names_the_file_and_the_reason_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _float_tiff(tmp_path / "f.tif")
    code, _, err = run_in_process(capsys, "invert", "f.tif", "--model", "oracle", "--pose", "0,0", "--steps", "0",
                                  "--out", "o")
    assert code == 2 and not (tmp_path / "o").exists()
    assert err.strip() == f"Error: Cannot read image 'f.tif' ({FLOAT_PIXELS})."


def test_data_check_lists_it_as_a_problem_and_does_not_count_it_usable(tmp_path):
    _float_tiff(tmp_path / "f.tif")
    Image.new("RGB", (16, 16), (200, 100, 50)).save(tmp_path / "ok.png")
    frames = [{"file": name, "yaw": 0.0, "pitch": 0.0} for name in ("f.tif", "ok.png")]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    for full in (False, True):
        report = check_dataset(tmp_path, full=full)
        assert [(p.file, p.problem) for p in report.problems] == [("f.tif", f"unreadable image: {FLOAT_PIXELS}")]
        assert report.usable_count == 1


def test_eight_and_sixteen_bit_grey_still_read(tmp_path):
    Image.new("L", (16, 16), 200).save(tmp_path / "g8.png")
    Image.fromarray(np.full((16, 16), 200 * 257, dtype=np.uint16)).save(tmp_path / "g16.png")
    for name in ("g8.png", "g16.png"):
        image = decode_image(tmp_path / name, 16)[0]
        assert np.allclose(image.numpy(), 200 / 127.5 - 1)
