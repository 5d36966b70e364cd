"""A folder given as the dataset that sits inside one (``--data faces/images``, or a GRAM dataset's ``poses/``) names
the folder above, which holds the pose files, in its problems: in ``data check`` and in training's refusal."""

from __future__ import annotations

import json

from PIL import Image

from conftest import run_in_process
from zoo3d.data.check import check_dataset


def _faces(folder, index: str | None = "poses.json"):
    """``folder``/images/a.png and b.png, with ``index`` (a poses.json, a dataset.json or poses/) beside images/."""
    (folder / "images").mkdir(parents=True)
    for name in ("a", "b"):
        Image.new("RGB", (8, 8), (200, 40, 40)).save(folder / "images" / f"{name}.png")
    if index == "poses.json":
        frames = [{"file": f"images/{n}.png", "yaw": 0.0, "pitch": 0.0} for n in ("a", "b")]
        (folder / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    elif index == "dataset.json":
        (folder / "dataset.json").write_text(json.dumps({"labels": []}))
    elif index == "poses/":
        (folder / "poses").mkdir()
        (folder / "poses" / "a.mat").write_bytes(b"")
    return folder


def test_each_image_of_the_images_folder_names_the_dataset_folder_that_holds_its_poses(tmp_path):
    for index in ("poses.json", "dataset.json", "poses/"):
        faces = _faces(tmp_path / index.strip("/").replace(".", "_"), index)
        problems = {p.file: p.problem for p in check_dataset(faces / "images").problems}
        assert problems == {f"{n}.png": f"missing pose (no dataset.json, poses.json or poses/ folder; the folder above "
                                        f"holds {index}: give that folder, {str(faces)!r}, as the dataset)"
                            for n in "ab"}, index


def test_a_grams_poses_folder_given_as_the_dataset_names_the_folder_above(tmp_path):
    faces = _faces(tmp_path / "faces", "poses/")
    [problem] = check_dataset(faces / "poses").problems
    assert problem.problem == (f"no images found (images format); the folder above holds poses/: give that folder, "
                               f"{str(faces)!r}, as the dataset")


def test_a_folder_of_images_in_a_folder_without_pose_files_is_told_only_that_it_has_none(tmp_path):
    faces = _faces(tmp_path / "faces", index=None)
    problems = {p.problem for p in check_dataset(faces / "images").problems}
    assert problems == {"missing pose (no dataset.json, poses.json or poses/ folder)"}


def test_training_refuses_the_images_folder_naming_the_dataset_folder(tmp_path, capsys):
    faces = _faces(tmp_path / "faces")
    code, _, err = run_in_process(capsys, "train", "gram", "--preset", "tiny", "--steps", "1",
                                  "--data", str(faces / "images"), "--out", str(tmp_path / "run"))
    assert code == 2
    assert f"the folder above holds poses.json: give that folder, {str(faces)!r}, as the dataset" in err
    assert not (tmp_path / "run").exists()
