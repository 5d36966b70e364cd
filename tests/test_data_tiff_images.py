"""TIFF files are dataset images like PNG and JPEG ones: found in a GRAM folder, missing a pose when poses.json does
not list them, and a float TIFF said to be unreadable wherever it sits."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset
from zoo3d.data.images import FLOAT_PIXELS


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
