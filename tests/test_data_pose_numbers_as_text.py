"""Numbers written as text in pose files: ``"yaw": "0.1"`` in a ``poses.json`` frame was a problem of its image,
but a ``"camera"`` of 25 strings, a ``dataset.json`` label of strings, a ``_pose.npy``, ``_extrinsics.npy`` or ``.mat``
``angle`` of strings (and booleans, read as 0 and 1) were read silently as numbers. docs/data.md states one rule for
every format: a pose number is a number of its kind (a JSON number; an integer or float array), anything else is a
missing pose. A JSON integer too large for a float crashed ``data check`` with an OverflowError; it is infinite."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from zoo3d.data.formats import Source, list_dataset

#: a camera two units behind the origin on -z, looking down +z (OpenCV: right, down, forward), focal 4 at the centre
CAMERA = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, -2.0, 0.0, 0.0, 0.0, 1.0,
          4.0, 0.0, 0.5, 0.0, 4.0, 0.5, 0.0, 0.0, 1.0]
NOT_25 = "missing pose ('camera' is not 25 numbers)"
NON_FINITE = "pose has NaN or infinite values"


def _images(folder, *stems):
    for stem in stems:
        Image.new("RGB", (8, 8)).save(folder / f"{stem}.png")


def _read(folder) -> tuple[dict, dict]:
    listing = list_dataset(Source(folder))
    return {r.name: r.camera for r in listing.records}, {p.file: p.problem for p in listing.problems}


def _poses_json(folder, bad_frame: dict) -> tuple[dict, dict]:
    _images(folder, "good", "bad")
    frames = [{"file": "good.png", "camera": CAMERA}, {"file": "bad.png", **bad_frame}]
    (folder / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    return _read(folder)


@pytest.mark.parametrize("frame, why", [
    ({"camera": [str(v) for v in CAMERA]}, NOT_25),  # the good frame's camera, written as text
    ({"camera": [True if v == 1.0 else v for v in CAMERA]}, NOT_25),  # true is not 1
    ({"camera": [*CAMERA[:24], None]}, NOT_25),
    ({"yaw": "0.1", "pitch": 0.0}, "missing pose ('yaw' is not a number)"),
    ({"yaw": 0.1, "pitch": 0.0, "fov": "12"}, "missing pose ('fov' is not a number)"),
    ({"yaw": 0.1, "pitch": 0.0, "radius": 10 ** 400}, NON_FINITE),  # an integer past float's range: infinite
    ({"camera": [*CAMERA[:11], -10 ** 400, *CAMERA[12:]]}, NON_FINITE),
])
def test_a_poses_json_frame_with_numbers_as_text_is_a_missing_pose(tmp_path, frame, why):
    cameras, problems = _poses_json(tmp_path, frame)
    assert problems == {"bad.png": why} and cameras["bad.png"] is None
    assert cameras["good.png"].tolist() == CAMERA  # the same camera as numbers is read as written


def test_a_dataset_json_label_of_text_is_a_missing_pose(tmp_path):
    _images(tmp_path, "good", "bad")
    labels = [["good.png", CAMERA], ["bad.png", [str(v) for v in CAMERA]]]
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    cameras, problems = _read(tmp_path)
    assert problems == {"bad.png": "missing pose (label is not 25 numbers)"} and cameras["bad.png"] is None
    assert cameras["good.png"].tolist() == CAMERA


@pytest.mark.parametrize("stem, save, why", [
    ("bad_pose.npy", lambda p: np.save(p, np.array(["1.0", "1.5"])),
     "missing pose (the _pose.npy file must hold 2 numbers)"),
    ("bad_pose.npy", lambda p: np.save(p, np.array([True, True])),
     "missing pose (the _pose.npy file must hold 2 numbers)"),
    ("bad_pose.npy", lambda p: np.save(p, np.array([1.0 + 0j, 1.5 + 0j])),
     "missing pose (the _pose.npy file must hold 2 numbers)"),
    ("bad_extrinsics.npy", lambda p: np.save(p, np.eye(4).astype(str)),
     "missing pose (the _extrinsics.npy file must hold numbers, not text)"),
    ("bad_extrinsics.npy", lambda p: np.save(p, np.eye(4, dtype=bool)),
     "missing pose (the _extrinsics.npy file must hold numbers, not true/false values)"),
    ("bad.mat", lambda p: savemat(p, {"angle": np.array(["0.1", "0.0", "0.0"])}),
     "missing pose ('angle' must hold 3 numbers)"),
])
def test_a_gram_pose_file_of_text_or_booleans_is_a_missing_pose(tmp_path, stem, save, why):
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "good", "bad")
    np.save(tmp_path / "poses" / "good_pose.npy", np.array([1, 2]))  # integers are numbers
    save(tmp_path / "poses" / stem)
    cameras, problems = _read(tmp_path)
    assert problems == {f"poses/{stem}": why} and cameras["bad.png"] is None
    assert cameras["good.png"] is not None
