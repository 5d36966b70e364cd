"""An image that poses.json or dataset.json lists under another name reaching the same file (in another case on the
case-insensitive disks of macOS and Windows, or by a link) is served, so it is no 'missing pose': the check compared
names only and reported it, and ``data check`` exited 1 on a dataset training read whole. The case itself needs a
case-insensitive disk; a link reaches a file by another name on any disk."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset


def _dataset(folder, index: str):
    """photos/0.png and photos/1.png, with images/0.png a link to photos/0.png; the index file names images/0.png
    and photos/1.png."""
    (folder / "photos").mkdir(parents=True)
    (folder / "images").mkdir()
    pixels = []
    for i in range(2):
        pixels.append(np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8))
        Image.fromarray(pixels[-1]).save(folder / "photos" / f"{i}.png")
    try:
        os.symlink(folder / "photos" / "0.png", folder / "images" / "0.png")
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links cannot be made here")
    names = ["images/0.png", "photos/1.png"]
    if index == "poses.json":
        frames = [{"file": n, "yaw": 0.1 * i, "pitch": 0.0} for i, n in enumerate(names)]
        (folder / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    else:
        cams = Camera.from_angles(torch.tensor([0.0, 0.1], dtype=torch.float64), 0.0, dtype=torch.float64).to_eg3d()
        (folder / "dataset.json").write_text(json.dumps({"labels": [[n, c.tolist()] for n, c in zip(names, cams)]}))
    return pixels


@pytest.mark.parametrize("index", ["poses.json", "dataset.json"])
def test_a_file_listed_under_a_name_that_links_to_it_is_not_a_missing_pose(tmp_path, index):
    pixels = _dataset(tmp_path, index)
    report = check_dataset(tmp_path, full=True)
    assert report.ok and report.usable_count == 2, report.summary()
    dataset = FolderDataset(tmp_path, 8)
    for i in range(2):  # photos/0.png is served, as images/0.png
        assert np.array_equal(np.rint((dataset[i]["image"].permute(1, 2, 0).numpy() + 1) * 127.5), pixels[i])


def test_a_copy_is_another_file_and_still_a_missing_pose(tmp_path):
    _dataset(tmp_path, "poses.json")
    (tmp_path / "photos" / "copy.png").write_bytes((tmp_path / "photos" / "1.png").read_bytes())
    report = check_dataset(tmp_path)
    assert [(p.file, p.problem) for p in report.problems] == [
        ("photos/copy.png", "missing pose (the image is not listed in poses.json)")]
