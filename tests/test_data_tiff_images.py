"""TIFF files are dataset images like PNG and JPEG ones: found in a GRAM folder, missing a pose when poses.json does
not list them, turned upright by their orientation tag, and a float TIFF said to be unreadable wherever it sits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset
from zoo3d.data.images import FLOAT_PIXELS, served_size


def _levels(image):
    return np.rint((image.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.int64)


def test_a_gram_folder_of_tiff_photos_serves_them_with_their_poses(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    grey16 = np.random.default_rng(1).integers(0, 65536, (8, 8), dtype=np.uint16)
    Image.fromarray(rgb).save(tmp_path / "a.tif")
    Image.fromarray(grey16).save(tmp_path / "b.TIFF")
    (tmp_path / "poses").mkdir()
    for stem, yaw in (("a", -0.25), ("b", 0.25)):  # [pitch, yaw], pi/2-centred
        np.save(tmp_path / "poses" / f"{stem}_pose.npy", np.array([np.pi / 2, np.pi / 2 + yaw]))
    report = check_dataset(tmp_path, full=True)
    assert report.format == "gram" and report.ok and report.usable_count == 2, report.summary()
    dataset = FolderDataset(tmp_path, 8)
    assert [r.name for r in dataset.records] == ["a.tif", "b.TIFF"]
    assert np.array_equal(_levels(dataset[0]["image"]), rgb)
    grey = np.clip(np.floor(grey16 / 257 + 0.5), 0, 255)  # 16-bit grey scaled by its bit depth, as a 16-bit PNG
    assert np.array_equal(_levels(dataset[1]["image"]), np.repeat(grey[..., None], 3, -1))


def test_a_tiff_that_poses_json_misses_is_a_missing_pose_and_a_float_one_in_a_gram_folder_is_unreadable(tmp_path):
    listed, gram = tmp_path / "listed", tmp_path / "gram"
    for folder in (listed, gram):
        folder.mkdir()
        Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / "ok.png")
        Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32), mode="F").save(folder / "f.tif")
    (listed / "poses.json").write_text(json.dumps({"version": 1, "frames": [{"file": "ok.png", "yaw": 0, "pitch": 0}]}))
    report = check_dataset(listed)
    assert [(p.file, p.problem) for p in report.problems] == [
        ("f.tif", "missing pose (the image is not listed in poses.json)"),
        ("f.tif", f"unreadable image: {FLOAT_PIXELS}")]
    (gram / "poses").mkdir()
    for stem in ("ok", "f"):
        np.save(gram / "poses" / f"{stem}_pose.npy", np.array([np.pi / 2, np.pi / 2]))
    report = check_dataset(gram)
    assert [(p.file, p.problem) for p in report.problems] == [("f.tif", f"unreadable image: {FLOAT_PIXELS}")]
    assert report.usable_count == 1


def test_a_tiff_stored_sideways_has_the_camera_of_its_item_without_being_decoded(tmp_path):
    """A 24x16 TIFF whose orientation tag (6) turns it to 16x24, with one EG3D camera: the dataset's cameras(),
    made from the header alone, are those its item carries (the crop of its 16x24 upright image), and its size is
    the upright one. Its size had been turned twice (Pillow gives a TIFF's upright size at open), so cameras() had
    cropped it as a 24x16 image: a horizontal focal length 1.5 times its item's."""
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(tmp_path / "turned.tif", tiffinfo={274: 6})
    camera = Camera.from_angles(0.2, 0.1, 1.0, 12.0, dtype=torch.float64).to_eg3d()[0].tolist()
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["turned.tif", camera]]}))
    with open(tmp_path / "turned.tif", "rb") as fp:
        assert served_size(fp) == (16, 24)
    assert check_dataset(tmp_path).resolutions == {"24x16": 1}  # data check's sizes are the stored ones
    dataset = FolderDataset(tmp_path, 8)
    item = dataset[0]["camera"].double()
    assert torch.allclose(dataset.cameras().to_eg3d()[0].double(), item)
    k = item[16:].view(3, 3)
    assert k[0, 0].item() == pytest.approx(camera[16]) and k[1, 1].item() == pytest.approx(camera[20] * 24 / 16)
