"""An accented file name has two Unicode spellings, one character ('é', NFC) or a letter and a combining accent
('e' + U+0301, NFD): macOS wrote names in the second, editors and scripts on Linux write the first, and Linux keeps
whichever bytes it was given. A name in poses.json or dataset.json names the file of either spelling, in a folder and
in a zip, and that file is not also an image the index file misses; a GRAM image finds its pose file in either
spelling."""

from __future__ import annotations

import json
import unicodedata
import zipfile

import numpy as np
import pytest
from PIL import Image

from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset

NAMES = ["images/José.png", "images/Zoë/Ångström.png"]


def _spelt(name: str, form: str) -> str:
    return unicodedata.normalize(form, name)


def _levels(image):
    return np.rint((image.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)


def _write(folder, stored: str, listed: str, archive: bool):
    """Images stored under one spelling, poses.json listing the other (and the ASCII 'plain.png')."""
    pixels, files = [], {}
    for i, name in enumerate([*NAMES, "plain.png"]):
        pixels.append(np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8))
        path = folder / "tmp.png"
        Image.fromarray(pixels[-1]).save(path)
        files[_spelt(name, stored)] = path.read_bytes()
    frames = [{"file": _spelt(n, listed), "yaw": 0.1 * i, "pitch": 0.0} for i, n in enumerate([*NAMES, "plain.png"])]
    files["poses.json"] = json.dumps({"version": 1, "frames": frames}).encode()
    if archive:
        target = folder / "data.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        target = folder / "data"
        for name, data in files.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
    assert _spelt(NAMES[0], stored) != _spelt(NAMES[0], listed)
    return target, pixels


@pytest.mark.parametrize("archive", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("stored, listed", [("NFD", "NFC"), ("NFC", "NFD")])
def test_a_listed_name_finds_its_file_in_the_other_spelling(tmp_path, stored, listed, archive):
    target, pixels = _write(tmp_path, stored, listed, archive)
    report = check_dataset(target, full=True)
    assert report.ok and report.usable_count == 3 and report.count == 3, report.summary()
    dataset = FolderDataset(target, 8)
    assert len(dataset) == 3
    for i in range(3):
        assert np.array_equal(_levels(dataset[i]["image"]), pixels[i])


def test_a_name_of_neither_spelling_is_still_a_missing_file(tmp_path):
    target, _ = _write(tmp_path, "NFD", "NFC", archive=False)
    doc = json.loads((target / "poses.json").read_text())
    doc["frames"][0]["file"] = "images/Josè.png"  # another accent: another name
    (target / "poses.json").write_text(json.dumps(doc))
    report = check_dataset(target)
    assert [(p.file, p.problem) for p in report.problems] == [
        (_spelt(NAMES[0], "NFD"), "missing pose (the image is not listed in poses.json)"),
        ("images/Josè.png", "missing image file")]


@pytest.mark.parametrize("archive", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("image_form, pose_form", [("NFC", "NFD"), ("NFD", "NFC")])
def test_a_gram_image_finds_its_pose_file_in_the_other_spelling(tmp_path, image_form, pose_form, archive):
    """Images named on Linux, poses written on macOS (or the other way round): the pose file had been 'a name that
    differs in case', of two names that look the same, and the image had no pose."""
    files = {}
    for i, stem in enumerate(("José", "plain")):
        path = tmp_path / "tmp.png"
        Image.new("RGB", (8, 8), (10 * i, 0, 0)).save(path)
        files[f"{_spelt(stem, image_form)}.png"] = path.read_bytes()
        np.save(path.with_suffix(".npy"), np.array([np.pi / 2, np.pi / 2 + 0.2 * i]))
        files[f"poses/{_spelt(stem, pose_form)}_pose.npy"] = path.with_suffix(".npy").read_bytes()
    target = tmp_path / ("data.zip" if archive else "data")
    if archive:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        for name, data in files.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
    report = check_dataset(target)
    assert report.ok and report.usable_count == 2 and report.notes == [], report.summary()
    assert report.yaw == {"mean": pytest.approx(0.1), "std": pytest.approx(0.1)}  # each image with its own pose
