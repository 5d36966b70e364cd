"""An index file that lists its images without their extension ('./train/r_0' for train/r_0.png, as NeRF's
transforms.json names them in its file_path) is told so: each listed name is a missing image file naming the file
with its extension, and each image a missing pose naming the listed name. The check had said only 'missing image
file' and 'missing pose (the image is not listed in poses.json)' of every file."""

from __future__ import annotations

import json

from PIL import Image

from zoo3d.data.check import check_dataset


def test_names_listed_without_their_extension_say_which_file_they_mean(tmp_path):
    (tmp_path / "train").mkdir()
    for name in ("r_0.png", "r_1.JPG", "r_2.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / "train" / name)
    frames = [{"file": name, "yaw": 0.0, "pitch": 0.0} for name in ("./train/r_0", "train/r_1", "train/r_2.png")]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    report = check_dataset(tmp_path)
    assert [(p.file, p.problem) for p in report.problems] == [
        ("train/r_0", "missing image file (the dataset holds 'train/r_0.png', the name with its extension: list it as "
                      "'train/r_0.png')"),
        ("train/r_0.png", "missing pose (the image is not listed in poses.json, which lists 'train/r_0', the name "
                          "without its extension)"),
        ("train/r_1", "missing image file (the dataset holds 'train/r_1.JPG', the name with its extension: list it as "
                      "'train/r_1.JPG')"),
        ("train/r_1.JPG", "missing pose (the image is not listed in poses.json, which lists 'train/r_1', the name "
                          "without its extension)")]
    assert report.usable_count == 1


def test_a_listed_name_without_an_extension_that_names_a_file_is_read_as_it_is(tmp_path):
    """'r_0' is a file of its own (a PNG without an extension): r_0.png beside it is simply unlisted."""
    Image.new("RGB", (8, 8)).save(tmp_path / "r_0", format="PNG")
    Image.new("RGB", (8, 8)).save(tmp_path / "r_0.png")
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": [{"file": "r_0", "yaw": 0, "pitch": 0}]}))
    report = check_dataset(tmp_path)
    assert [(p.file, p.problem) for p in report.problems] == [
        ("r_0.png", "missing pose (the image is not listed in poses.json)")]
    assert report.usable_count == 1


def test_a_listed_name_is_not_offered_a_file_of_that_stem_that_is_no_image(tmp_path):
    """'r_0' beside r_0.txt (a note, not an image): the listed name is missing, with no file to list instead."""
    Image.new("RGB", (8, 8)).save(tmp_path / "r_1.png")
    (tmp_path / "r_0.txt").write_text("notes on r_0")
    frames = [{"file": name, "yaw": 0, "pitch": 0} for name in ("r_0", "r_1.png")]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    assert [(p.file, p.problem) for p in check_dataset(tmp_path).problems] == [("r_0", "missing image file")]
