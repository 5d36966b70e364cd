"""A name in poses.json or dataset.json with white space at its ends (a '\\r' kept from the lines of a list of names
saved with Windows line endings, a space) names no file, and ``data check`` says which file it may mean, on both of
its problems. The report had printed the '\\r' itself, which sent the terminal's cursor back over the line (so the
line read ': missing image file01.png'), and said of the very file 'the image is not listed in poses.json'."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from zoo3d.data.check import check_dataset
from zoo3d.data.formats import Source
from zoo3d.train.data import check_folder_dataset


def _dataset(folder, listed: list[str], on_disk: list[str], index: str = "poses.json"):
    (folder / "images").mkdir(parents=True)
    for name in on_disk:
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(folder / name)
    if index == "poses.json":
        frames = [{"file": n, "yaw": 0.0, "pitch": 0.0} for n in listed]
        (folder / index).write_text(json.dumps({"version": 1, "frames": frames}))
    else:
        # a camera at +z facing -z (OpenCV columns right, down, forward), normalised focal 4.26
        cam = [1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 1, 0, 0, 0, 1, 4.26, 0, 0.5, 0, 4.26, 0.5, 0, 0, 1]
        (folder / index).write_text(json.dumps({"labels": [[n, cam] for n in listed]}))
    return folder


@pytest.mark.parametrize("index", ["poses.json", "dataset.json"])
def test_a_name_read_from_a_crlf_list_says_which_file_it_means_on_both_problems(tmp_path, index):
    folder = _dataset(tmp_path, ["images/0001.png\r", "images/0002.png"], ["images/0001.png", "images/0002.png"], index)
    report = check_dataset(folder)
    problems = {p.file: p.problem for p in report.problems}
    assert problems == {
        "images/0001.png\r": ("missing image file (the dataset holds 'images/0001.png', the name without the white "
                              "space '\\r' at its ends; strip the names, as lines read from a text file with Windows "
                              "line endings keep a '\\r')"),
        "images/0001.png": (f"missing pose (the image is not listed in {index}, which lists 'images/0001.png\\r', a "
                            f"name that differs in case or in white space at its ends)")}
    assert report.usable_count == 1  # images/0002.png


def test_a_space_at_the_end_of_a_name_is_said_without_line_endings(tmp_path):
    folder = _dataset(tmp_path, [" images/0001.png "], ["images/0001.png"])
    problems = {p.file: p.problem for p in check_dataset(folder).problems}
    assert problems[" images/0001.png "] == ("missing image file (the dataset holds 'images/0001.png', the name "
                                             "without the white space '  ' at its ends; strip the names)")


def test_the_reports_print_a_carriage_return_in_a_name_escaped(tmp_path):
    """The text report and training's start-up warnings print no character that moves the terminal's cursor."""
    folder = _dataset(tmp_path, ["images/0001.png\r", "images/0002.png"], ["images/0001.png", "images/0002.png"])
    summary = check_dataset(folder).summary()
    assert "\r" not in summary and "    images/0001.png\\r: missing image file (" in summary
    from zoo3d.config import DataConfig

    warnings = check_folder_dataset(DataConfig(spec=str(folder)))
    assert not any("\r" in w for w in warnings)
    assert any(w.startswith("images/0001.png\\r: missing image file (") for w in warnings)


def test_a_name_that_is_stored_with_white_space_is_read_as_it_is(tmp_path):
    """Linux keeps a space at the end of a file name: a name listed so, of a file named so, is that file."""
    folder = _dataset(tmp_path, ["images/0001.png "], [])
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(folder / "images" / "0001.png ", format="PNG")
    assert Source(folder).exists("images/0001.png ")
    report = check_dataset(folder)
    assert report.ok and report.usable_count == 1, report.summary()
