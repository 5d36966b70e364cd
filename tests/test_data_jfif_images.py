"""JPEGs named ``.jfif`` (as Chrome and Edge on Windows save photos from the web) or ``.jpe`` are dataset images as
``.jpg`` ones are: found in a GRAM folder and served with their poses, missing a pose where poses.json does not list
them, and found by ``zoo3d invert`` in a folder."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from zoo3d.cli.invert import _images_in_folders
from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset


def _jpeg(path, colour):
    Image.new("RGB", (8, 8), colour).save(path, format="JPEG", quality=100)


def test_a_gram_folder_of_jfif_and_jpe_photos_serves_them_with_their_poses(tmp_path):
    _jpeg(tmp_path / "a.jfif", (250, 10, 10))
    _jpeg(tmp_path / "b.JPE", (10, 10, 250))
    (tmp_path / "poses").mkdir()
    for stem in ("a", "b"):
        np.save(tmp_path / "poses" / f"{stem}_pose.npy", np.array([np.pi / 2, np.pi / 2]))
    report = check_dataset(tmp_path, full=True)
    assert report.format == "gram" and report.ok and report.usable_count == 2, report.summary()
    dataset = FolderDataset(tmp_path, 8)
    assert [r.name for r in dataset.records] == ["a.jfif", "b.JPE"]
    red = (dataset[0]["image"][:, 4, 4] + 1) * 127.5
    assert red[0] > 240 and red[1] < 20 and red[2] < 20  # decoded as the JPEG it is


def test_a_jfif_photo_that_poses_json_misses_is_a_missing_pose(tmp_path):
    _jpeg(tmp_path / "listed.jpg", (10, 20, 30))
    _jpeg(tmp_path / "face.jfif", (10, 20, 30))
    frames = [{"file": "listed.jpg", "yaw": 0, "pitch": 0}]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    assert [(p.file, p.problem) for p in check_dataset(tmp_path).problems] == [
        ("face.jfif", "missing pose (the image is not listed in poses.json)")]


def test_invert_finds_jfif_photos_in_a_folder(tmp_path):
    _jpeg(tmp_path / "portrait.jfif", (10, 20, 30))
    assert _images_in_folders((str(tmp_path),)) == ((str(tmp_path / "portrait.jfif"),), [])
