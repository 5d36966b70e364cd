"""Dataset folders whose images or poses sit behind symbolic links (photos kept on another disk): listed as the
files they lead to, a link to a folder above listed once, a broken link not at all."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset
from zoo3d.data.formats import Source


def _link(target, link):
    try:
        os.symlink(target, link, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links cannot be made here")


def _photos(folder, count):
    folder.mkdir(parents=True)
    pixels = []
    for i in range(count):
        pixels.append(np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8))
        Image.fromarray(pixels[-1]).save(folder / f"{i:04d}.png")
    return pixels


def _levels(image):
    return np.rint((image.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)


def test_a_gram_folder_reads_the_images_and_poses_behind_linked_folders(tmp_path):
    pixels = _photos(tmp_path / "disk" / "photos", 3)
    (tmp_path / "disk" / "poses").mkdir()
    for i, yaw in enumerate([-0.2, 0.0, 0.3]):  # [pitch, yaw], pi/2-centred
        np.save(tmp_path / "disk" / "poses" / f"{i:04d}_pose.npy", np.array([np.pi / 2, np.pi / 2 + yaw]))
    data = tmp_path / "data"
    data.mkdir()
    _link(tmp_path / "disk" / "photos", data / "images")
    _link(tmp_path / "disk" / "poses", data / "poses")
    _link(data, tmp_path / "disk" / "photos" / "up")    # a loop: data/images/up is data
    _link(tmp_path, data / "above")                      # the folder around the dataset: not listed
    (tmp_path / "other.png").write_bytes(b"not part of the dataset")
    _link(tmp_path / "gone.png", data / "broken.png")  # leads nowhere: no file
    assert Source(data).files() == [*(f"images/{i:04d}.png" for i in range(3)),
                                    *(f"poses/{i:04d}_pose.npy" for i in range(3))]
    report = check_dataset(data, full=True)
    assert report.format == "gram" and report.ok and report.usable_count == 3, report.summary()
    dataset = FolderDataset(data, 8)
    assert [r.name for r in dataset.records] == ["images/0000.png", "images/0001.png", "images/0002.png"]
    for i in range(3):
        assert np.array_equal(_levels(dataset[i]["image"]), pixels[i])


def test_an_image_behind_a_linked_folder_that_poses_json_misses_is_a_missing_pose(tmp_path):
    _photos(tmp_path / "disk", 3)
    data = tmp_path / "data"
    data.mkdir()
    _link(tmp_path / "disk", data / "images")
    frames = [{"file": f"images/{i:04d}.png", "yaw": 0.1 * i, "pitch": 0.0} for i in range(2)]
    (data / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    report = check_dataset(data, full=True)
    assert [(p.file, p.problem) for p in report.problems] == [
        ("images/0002.png", "missing pose (the image is not listed in poses.json)")]
    assert report.usable_count == 2
    assert Source(data).files() == ["images/0000.png", "images/0001.png", "images/0002.png", "poses.json"]


def test_a_link_inside_the_images_to_their_own_folder_lists_each_image_once(tmp_path):
    # images/again leads back to images: not above the dataset folder, but a folder already listed (docs/data.md: "a
    # folder reached twice once"); followed, it listed images/again/again/... until the system's link limit
    _photos(tmp_path / "data" / "images", 2)
    _link(tmp_path / "data" / "images", tmp_path / "data" / "images" / "again")
    assert Source(tmp_path / "data").files() == ["images/0000.png", "images/0001.png"]
    report = check_dataset(tmp_path / "data", full=True)
    assert report.format == "images" and [p.file for p in report.problems] == ["images/0000.png", "images/0001.png"]
