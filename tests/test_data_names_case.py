"""A file that poses.json or dataset.json lists in another case than the file's own name (``IMG_0001.PNG`` listed,
``img_0001.png`` on disk: what Windows' and macOS's case-insensitive disks serve) is a missing image on Linux and in a
zip, and ``data check`` says which file in the dataset has that name in another case. It had said only 'missing image
file', beside 'missing pose' of the very file, which read as two unrelated problems."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from zoo3d.data.check import check_dataset

HINT = ("missing image file (the dataset holds {}, a name that differs in case: names are case-sensitive here, so "
        "list the file as it is named)")


def _dataset(folder, listed: list[str], on_disk: list[str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name in on_disk:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(folder / name)
    frames = [{"file": n, "yaw": 0.0, "pitch": 0.0} for n in listed]
    (folder / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    return folder


def _problems(report) -> dict[str, str]:
    return {p.file: p.problem for p in report.problems}


@pytest.mark.parametrize("zipped", [False, True])
def test_a_name_listed_in_another_case_says_which_file_it_may_mean(tmp_path, zipped):
    folder = _dataset(tmp_path / "heads", ["images/IMG_0001.PNG", "images/gone.png"],
                      ["images/img_0001.png", "images/other.png"])
    path = folder
    if zipped:
        path = tmp_path / "heads.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for f in ("poses.json", "images/img_0001.png", "images/other.png"):
                zf.write(folder / f, f)
    report = check_dataset(path)
    problems = _problems(report)
    assert problems["images/IMG_0001.PNG"] == HINT.format("'images/img_0001.png'")
    assert problems["images/gone.png"] == "missing image file"  # no file of that name in any case
    assert problems["images/img_0001.png"] == ("missing pose (the image is not listed in poses.json, which lists "
                                               "'images/IMG_0001.PNG', a name that differs in case or in white space "
                                               "at its ends)")
    assert problems["images/other.png"] == "missing pose (the image is not listed in poses.json)"
    assert report.usable_count == 0  # the name is not read in another case: two files may differ only by it


def test_every_file_of_the_name_in_another_case_is_named(tmp_path):
    folder = _dataset(tmp_path, ["A.PNG"], ["a.png", "A.png"])
    if len({p.name for p in tmp_path.iterdir()}) < 3:  # poses.json, a.png, A.png
        pytest.skip("this disk does not keep names that differ only in case apart")
    assert _problems(check_dataset(folder))["A.PNG"] == HINT.format("'A.png' and 'a.png'")


def test_a_gram_pose_file_named_in_another_case_is_named_on_the_missing_pose(tmp_path):
    """GRAM's own loader finds 'poses/IMG_0001_pose.npy' for 'img_0001.png' on a Windows disk; here it is no pose."""
    (tmp_path / "poses").mkdir()
    for stem in ("img_0001", "img_0002", "img_0003"):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / f"{stem}.png")
    np.save(tmp_path / "poses" / "IMG_0001_pose.npy", np.array([1.5, 1.6]))
    np.save(tmp_path / "poses" / "img_0002_pose.npy", np.array([1.5, 1.6]))
    report = check_dataset(tmp_path)
    stems = "no poses/{0}.mat, poses/{0}_pose.npy or poses/{0}_extrinsics.npy"
    assert _problems(report) == {
        "img_0001.png": (f"missing pose ({stems.format('img_0001')}; 'poses/IMG_0001_pose.npy' is there, a name that "
                         f"differs in case: names are case-sensitive here, so rename it)"),
        "img_0003.png": f"missing pose ({stems.format('img_0003')})"}
    assert report.usable_count == 1
