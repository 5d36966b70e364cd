"""``zoo3d data check`` and the folder readers on datasets a careless user hands over."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.cli.main import cli
from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset
from zoo3d.data.formats import Source


def _camera(yaw=0.1):
    return Camera.from_angles(yaw, 0.0).to_eg3d()[0].double().tolist()


def _image(path, colour=(90, 120, 150)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path)


def _check(path):
    result = CliRunner().invoke(cli, ["data", "check", str(path), "--json"])
    return result.exit_code, json.loads(result.output)


def test_nothing_to_train_on_exits_non_zero_like_train_refuses_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, report = _check(empty)
    assert code == 1 and report["usable"] == 0
    assert [p["problem"] for p in report["problems"]] == ["no images found (images format)"]
    unposed = tmp_path / "unposed"
    for name in ("a.png", "b.png"):
        _image(unposed / name)
    code, report = _check(unposed)
    assert code == 1
    assert [(p["file"], p["problem"]) for p in report["problems"]] == [
        ("a.png", "missing pose (no dataset.json, poses.json or poses/ folder)"),
        ("b.png", "missing pose (no dataset.json, poses.json or poses/ folder)")]


@pytest.mark.parametrize("fmt", ["eg3d", "zoo3d"])
def test_an_image_missing_from_the_index_file_is_a_missing_pose_by_name(tmp_path, fmt):
    for name in ("a.png", "b.png", "sub/extra.png", "mask/a.png", "depth/a.png"):
        _image(tmp_path / name)
    if fmt == "eg3d":
        (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["a.png", _camera()], ["b.png", _camera()]]}))
        index = "dataset.json"
    else:
        frames = [{"file": "a.png", "camera": _camera(), "mask": "mask/a.png"}, {"file": "b.png", "yaw": 0.1,
                                                                                  "pitch": 0.0}]
        (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
        index = "poses.json"
    code, report = _check(tmp_path)
    assert code == 1 and report["usable"] == 2 and report["count"] == 3
    assert report["problems"] == [{"file": "sub/extra.png", "problem": f"missing pose (the image is not listed in "
                                                                       f"{index})"}]


@pytest.mark.parametrize("fmt", ["eg3d", "zoo3d"])
def test_file_names_that_escape_the_dataset_folder_are_refused(tmp_path, fmt):
    from zoo3d.config import DataConfig
    from zoo3d.data import build_dataset

    data = tmp_path / "data"
    _image(data / "ok.png")
    _image(tmp_path / "outside.png", (255, 0, 0))  # exists, so a reader that follows '..' would use it
    names = ["ok.png", "../outside.png", str(tmp_path / "outside.png")]
    if fmt == "eg3d":
        (data / "dataset.json").write_text(json.dumps({"labels": [[n, _camera()] for n in names]}))
    else:
        frames = [{"file": n, "camera": _camera()} for n in names]
        (data / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    report = check_dataset(data)
    assert report.usable_count == 1
    problems = {p.file: p.problem for p in report.problems}
    assert problems["../outside.png"].startswith("file name escapes the dataset folder ('..')")
    assert problems[str(tmp_path / "outside.png")].startswith("file name is an absolute path")
    dataset = build_dataset(DataConfig(spec=str(data), mirror=False), 16)
    assert len(dataset) == 1 and [r.name for r in dataset.records] == ["ok.png"]
    with pytest.raises(FileNotFoundError):
        Source(data).read("../outside.png")
    assert not Source(data).exists("../outside.png")


def test_a_gram_folder_serves_the_photo_not_the_mask_that_shares_its_name(tmp_path):
    """mask/0001.png sorts before train/0001.png: it was taken as the image and the photo as its duplicate."""
    _image(tmp_path / "train" / "0001.png", (255, 255, 255))
    _image(tmp_path / "mask" / "0001.png", (0, 0, 0))
    _image(tmp_path / "depth" / "0001.png", (0, 0, 0))
    (tmp_path / "poses").mkdir()
    np.save(tmp_path / "poses" / "0001_pose.npy", np.array([np.pi / 2 - 0.14, np.pi / 2]))
    code, report = _check(tmp_path)
    assert code == 0 and report["problems"] == [] and report["count"] == report["usable"] == 1
    dataset = FolderDataset(tmp_path, 16)
    assert [r.name for r in dataset.records] == ["train/0001.png"]
    assert bool((dataset[0]["image"] == 1.0).all())
