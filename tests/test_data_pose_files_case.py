"""A pose file named in another case than zoo3d looks for (``Poses.json``, ``Dataset.json``, a ``Poses/`` folder, as
a Windows or macOS disk, which finds them, lets them be named) is not read on Linux nor in a zip, and ``data check``
notes it by name. The report had said only 'missing pose (no dataset.json, poses.json or poses/ folder)' of every
image, beside the very file."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from zoo3d.data.check import check_dataset

SAID = ("{} not read: pose files are found by their names in lower case (dataset.json, poses.json, poses/), and "
        "names are case-sensitive here; rename {}")


def _images(folder, count=2):
    (folder / "images").mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / "images" / f"{i}.png")


def _poses(count=2) -> str:
    return json.dumps({"version": 1, "frames": [{"file": f"images/{i}.png", "yaw": 0.0, "pitch": 0.0}
                                                for i in range(count)]})


def _case_sensitive(folder) -> bool:
    (folder / "Probe").write_text("")
    sensitive = not (folder / "probe").exists()
    (folder / "Probe").unlink()
    return sensitive


def test_a_poses_json_named_in_another_case_is_noted_by_name(tmp_path):
    if not _case_sensitive(tmp_path):
        pytest.skip("this disk finds Poses.json as poses.json, which is read")
    _images(tmp_path)
    (tmp_path / "Poses.json").write_text(_poses())
    report = check_dataset(tmp_path)
    assert report.format == "images" and report.usable_count == 0
    assert SAID.format("Poses.json is", "it") in report.notes


def test_a_poses_folder_and_a_dataset_json_in_another_case_in_a_zip_are_noted(tmp_path):
    """A zip's names are case-sensitive on every system."""
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        zf.writestr("Dataset.json", json.dumps({"labels": []}))
        zf.writestr("POSES/0_pose.npy", b"")
        zf.writestr("0.png", b"")
    report = check_dataset(tmp_path / "d.zip")
    assert report.format == "images"
    assert SAID.format("Dataset.json and POSES/ are", "them") in report.notes


def test_pose_files_in_lower_case_get_no_such_note(tmp_path):
    _images(tmp_path)
    (tmp_path / "poses.json").write_text(_poses())
    (tmp_path / "Notes.json").write_text("{}")  # another file with capitals
    report = check_dataset(tmp_path)
    assert report.ok and report.notes == [], report.summary()
