"""A folder with more than one pose file (a poses.json added to an EG3D folder, a GRAM poses/ folder beside
poses.json) reads the first of dataset.json, poses.json and poses/, and ``data check`` says which it did not read: the
other's poses were dropped without a word."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_in_process
from zoo3d.cameras import Camera
from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset

pytestmark = pytest.mark.usefixtures("single_thread")


def _folder(tmp_path, dataset_json: bool, poses_json: bool, poses_dir: bool):
    """Two images; each pose file gives them its own yaw (dataset.json -0.3, poses.json 0.2, poses/ 0.1)."""
    Image.new("RGB", (8, 8), (90, 60, 30)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8), (30, 60, 90)).save(tmp_path / "b.png")
    if dataset_json:
        cam = Camera.from_angles(torch.tensor([-0.3], dtype=torch.float64), 0.0, dtype=torch.float64).to_eg3d()[0]
        (tmp_path / "dataset.json").write_text(json.dumps({"labels": [[n, cam.tolist()] for n in ("a.png", "b.png")]}))
    if poses_json:
        frames = [{"file": n, "yaw": 0.2, "pitch": 0.0} for n in ("a.png", "b.png")]
        (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    if poses_dir:
        (tmp_path / "poses").mkdir()
        for stem in ("a", "b"):  # GRAM's [pitch, yaw], pi/2-centred: yaw 0.1
            np.save(tmp_path / "poses" / f"{stem}_pose.npy", np.array([np.pi / 2 - 0.14, np.pi / 2 + 0.1]))
    return tmp_path


@pytest.mark.parametrize("present, fmt, yaw, note", [
    ((True, True, True), "eg3d", -0.3, "poses.json and poses/ are not read: the poses come from dataset.json, the "
                                       "first of dataset.json, poses.json and poses/ here"),
    ((True, False, True), "eg3d", -0.3, "poses/ is not read: the poses come from dataset.json, the first of "
                                        "dataset.json, poses.json and poses/ here"),
    ((False, True, True), "zoo3d", 0.2, "poses/ is not read: the poses come from poses.json, the first of "
                                        "dataset.json, poses.json and poses/ here"),
    ((True, True, False), "eg3d", -0.3, "poses.json is not read: the poses come from dataset.json, the first of "
                                        "dataset.json, poses.json and poses/ here")])
def test_the_first_pose_file_is_read_and_the_others_are_named_in_a_note(tmp_path, present, fmt, yaw, note):
    folder = _folder(tmp_path, *present)
    report = check_dataset(folder)
    assert report.format == fmt and report.ok and note in report.notes, report.summary()
    assert report.yaw["mean"] == pytest.approx(yaw, abs=1e-9)  # the poses come from that file
    cam = FolderDataset(folder, 8)[0]["camera"].double()
    assert -float(cam[3]) == pytest.approx(np.sin(yaw), abs=1e-6)  # camera centre x = -sin(yaw) at radius 1


@pytest.mark.parametrize("present", [(True, False, False), (False, True, False), (False, False, True)])
def test_one_pose_file_gets_no_note(tmp_path, present):
    assert not any("not read" in n for n in check_dataset(_folder(tmp_path, *present)).notes)


def test_data_check_prints_the_note_and_exits_0(tmp_path, capsys):
    code, out, _ = run_in_process(capsys, "data", "check", _folder(tmp_path, True, True, False))
    assert code == 0 and ("  note: poses.json is not read: the poses come from dataset.json, the first of "
                          "dataset.json, poses.json and poses/ here") in out.splitlines()


@pytest.mark.parametrize("present, fmt, note", [
    ((True, False, True), "eg3d", "poses/ is not read: the poses come from dataset.json, the first of dataset.json, "
                                  "poses.json and poses/ here"),
    ((False, True, True), "zoo3d", "poses/ is not read: the poses come from poses.json, the first of dataset.json, "
                                   "poses.json and poses/ here")])
def test_a_zip_with_a_poses_folder_beside_its_pose_file_names_it_in_a_note(tmp_path, present, fmt, note):
    # a zip has no folder to look at: its poses/ is found among its members
    import zipfile

    (tmp_path / "data").mkdir()
    folder = _folder(tmp_path / "data", *present)
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    report = check_dataset(tmp_path / "data.zip")
    assert report.format == fmt and report.ok and note in report.notes, report.summary()
