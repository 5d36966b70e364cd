"""What a new run says at start-up about a dataset folder's problems: the first five, then how many more there are,
and, first of all, that its images are smaller than the model trains at. With more than five file problems (images
poses.json misses) the run printed five lines as if they were all, and the smaller-images warning, appended last,
was never shown (docs/data.md quotes it as what the start-up check prints)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from toy_model import one_thread, use_toy
from zoo3d.launch import train_model


class Stop(Exception):
    pass


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The toy model at 32x32, stopped where the process group would start: after the start-up check."""
    import zoo3d.train.distributed as distributed

    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)

    def init_world(device=None):
        raise Stop

    monkeypatch.setattr(distributed, "init_world", init_world)
    with one_thread():
        yield tmp_path


def _faces(folder, count: int, listed: int, side: int):
    """``count`` images of ``side`` pixels, the first ``listed`` of them in poses.json."""
    (folder / "images").mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((side, side, 3), i, dtype=np.uint8)).save(folder / "images" / f"{i:02d}.png")
    frames = [{"file": f"images/{i:02d}.png", "yaw": 0.0, "pitch": 0.0} for i in range(listed)]
    (folder / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    return folder


def _start(capsys, folder) -> list[str]:
    with pytest.raises(Stop):
        train_model("toy", data=str(folder), overrides=["toy.resolution=32"], progress=False)
    return capsys.readouterr().err.splitlines()


def _missing(i: int) -> str:
    return f"warning: dataset problem: images/{i:02d}.png: missing pose (the image is not listed in poses.json)"


def test_the_smaller_images_come_first_then_five_problems_and_the_count_of_the_rest(toy, capsys):
    folder = _faces(toy / "faces", count=12, listed=4, side=16)  # 8 images without a pose
    assert _start(capsys, folder) == [
        "warning: dataset problem: 4 images are smaller than the 32x32 the model trains at (16x16 (4)); they are "
        "upsampled, so the model learns their blur",
        *[_missing(i) for i in range(4, 8)],
        f"warning: 4 more dataset problems; `zoo3d data check {folder}` lists them all"]
    assert not (toy / "runs").exists()


def test_five_problems_are_all_said_and_no_count_follows(toy, capsys):
    folder = _faces(toy / "faces", count=9, listed=4, side=32)
    assert _start(capsys, folder) == [_missing(i) for i in range(4, 9)]


def test_six_problems_are_five_lines_and_one_more(toy, capsys):
    folder = _faces(toy / "faces", count=10, listed=4, side=32)
    assert _start(capsys, folder) == [*[_missing(i) for i in range(4, 9)],
                                      f"warning: 1 more dataset problem; `zoo3d data check {folder}` lists them all"]


def test_the_smaller_images_counted_are_those_training_serves_not_those_without_a_pose(toy, capsys):
    """Three 16-pixel thumbnails poses.json does not list are not read, so not upsampled: beside four served 16-pixel
    images only those four are counted, and beside 32-pixel ones no image is."""
    folder = toy / "faces"
    _faces(folder, count=4, listed=4, side=16)
    for i in range(3):
        Image.new("RGB", (16, 16), (i, i, i)).save(folder / f"thumb{i}.png")
    assert _start(capsys, folder)[0] == (
        "warning: dataset problem: 4 images are smaller than the 32x32 the model trains at (16x16 (4)); they are "
        "upsampled, so the model learns their blur")
    big = toy / "big"
    _faces(big, count=4, listed=4, side=32)
    for i in range(3):
        Image.new("RGB", (16, 16), (i, i, i)).save(big / f"thumb{i}.png")
    lines = _start(capsys, big)
    assert not any("images are smaller than" in line for line in lines), lines


def test_the_count_names_a_data_check_that_keeps_a_folder_with_spaces_whole(toy, capsys):
    import shlex

    folder = _faces(toy / "my faces", count=10, listed=4, side=32)
    last = _start(capsys, folder)[-1]
    assert shlex.split(last.split("`")[1]) == ["zoo3d", "data", "check", str(folder)]
