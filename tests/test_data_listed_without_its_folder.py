"""An index file that lists its images without their folder ('0001.png' in poses.json beside images/0001.png), or
under another folder, is told so: each listed name is a missing image file naming the file of that name the dataset
holds and how to list it, and each image a missing pose naming the listed name. The check had said only 'missing
image file' and 'missing pose (the image is not listed in poses.json)' of every file, eight problems for four
images, with nothing to say the names were one folder short."""

from __future__ import annotations

import json

from PIL import Image

from zoo3d.data.check import check_dataset


def _dataset(folder, listed, stored):
    for name in stored:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(folder / name)
    frames = [{"file": n, "yaw": 0.0, "pitch": 0.0} for n in listed]
    (folder / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    return folder


def test_names_listed_without_their_folder_say_where_the_file_is(tmp_path):
    report = check_dataset(_dataset(tmp_path, ["0.png", "ok/1.png"], ["images/0.png", "ok/1.png"]))
    assert [(p.file, p.problem) for p in report.problems] == [
        ("0.png", "missing image file (the dataset holds 'images/0.png', the same file name in another folder: names "
                  "are paths from the dataset's folder, so list it as 'images/0.png')"),
        ("images/0.png", "missing pose (the image is not listed in poses.json, which lists '0.png', the same file "
                         "name in another folder)")]
    assert report.usable_count == 1


def test_two_files_of_the_name_are_both_named(tmp_path):
    report = check_dataset(_dataset(tmp_path, ["0.png"], ["train/0.png", "test/0.png"]))
    assert report.problems[0].problem == (
        "missing image file (the dataset holds 'test/0.png' and 'train/0.png', the same file name in another folder: "
        "names are paths from the dataset's folder, so list it as 'test/0.png')")


def test_a_listed_file_of_the_same_name_in_another_folder_is_no_hint(tmp_path):
    """images/0.png and old/0.png both exist and only the first is listed: the other is simply unlisted."""
    report = check_dataset(_dataset(tmp_path, ["images/0.png"], ["images/0.png", "old/0.png"]))
    assert [(p.file, p.problem) for p in report.problems] == [
        ("old/0.png", "missing pose (the image is not listed in poses.json)")]
