"""``zoo3d data check``'s report of a small broken dataset, folder or zip (docs/data.md): each problem against its file
in the documented words, what a headers-only check misses, the crop policy, the pose statistics (computed here
from the poses written) and the plain-text summary line by line."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.data.check import check_dataset, ensure_usable
from zoo3d.errors import UserError

RADIUS = 2.7  # not 1: the angles must come from the direction of the camera centre, not its coordinates
POSES = {"a.png": (0.2, 0.1), "b.png": (-0.4, -0.05), "c.png": (0.1, 0.0), "t.png": (0.5, 0.3)}


def _camera(yaw, pitch):
    return Camera.from_angles(yaw, pitch, RADIUS, 12.0, dtype=torch.float64).to_eg3d()[0].tolist()


def _noise(width, height, seed):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def _broken(folder):
    """a, b: good 16x16; a listed again; c: 24x16; t: cut off behind an intact header; missing: listed, absent;
    extra: on disk, not listed."""
    folder.mkdir(parents=True, exist_ok=True)
    _noise(16, 16, 0).save(folder / "a.png")
    _noise(16, 16, 1).save(folder / "b.png")
    _noise(24, 16, 2).save(folder / "c.png")
    _noise(16, 16, 3).save(folder / "extra.png")
    _noise(16, 16, 4).save(folder / "whole.png")
    (folder / "t.png").write_bytes((folder / "whole.png").read_bytes()[:-300])
    (folder / "whole.png").unlink()
    labels = [["a.png", _camera(*POSES["a.png"])], ["b.png", _camera(*POSES["b.png"])],
              ["a.png", _camera(0.0, 0.0)], ["c.png", _camera(*POSES["c.png"])],
              ["t.png", _camera(*POSES["t.png"])], ["missing.png", _camera(0.0, 0.0)]]
    (folder / "dataset.json").write_text(json.dumps({"labels": labels}))
    return folder


EXPECTED = [("a.png", "duplicate name: the file is listed more than once"),
            ("extra.png", "missing pose (the image is not listed in dataset.json)"),
            ("missing.png", "missing image file")]


#: c.png is served like the rest (cropped and resized to the training resolution): a note, not a problem
OTHER_SIZE = ("1 image(s) differ in size from most (16x16): training crops and resizes every image to its resolution, "
              "the camera with it, so they are used as the rest are (first: c.png, 24x16)")
CROPPED = "non-square images are centre-cropped to a square (data.crop = center)"


def _stat(names, which):
    values = np.array([POSES[n][which] for n in names])
    return {"mean": pytest.approx(values.mean(), abs=1e-9), "std": pytest.approx(values.std(), abs=1e-9)}


def _zip(folder, path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    return path


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_every_problem_is_reported_against_its_file_and_a_full_check_also_finds_the_truncated_one(tmp_path, kind):
    folder = _broken(tmp_path / "data")
    path = folder if kind == "folder" else _zip(folder, tmp_path / "data.zip")
    full = check_dataset(path, full=True)
    problems = [(p.file, p.problem) for p in full.problems]
    assert problems[:3] == EXPECTED and len(problems) == 4
    assert problems[3][0] == "t.png" and problems[3][1].startswith("truncated image: OSError: image file is truncated")
    # every file on disk is read, posed or not: a, b and extra are 16x16
    assert full.count == 7 and full.format == "eg3d" and full.resolutions == {"16x16": 3, "24x16": 1}
    assert full.usable_count == 3  # a (first pose), b, c; t does not decode
    assert full.yaw == _stat(["a.png", "b.png", "c.png"], 0) and full.pitch == _stat(["a.png", "b.png", "c.png"], 1)
    assert full.notes == [OTHER_SIZE, CROPPED]

    fast = check_dataset(path)  # headers only: t.png's header is intact
    assert [(p.file, p.problem) for p in fast.problems] == EXPECTED
    assert fast.usable_count == 4 and fast.resolutions == {"16x16": 4, "24x16": 1}
    assert fast.yaw == _stat(list(POSES), 0) and fast.pitch == _stat(list(POSES), 1)


def test_the_summary_lists_counts_resolutions_poses_notes_and_each_problem(tmp_path):
    folder = _broken(tmp_path / "data")
    report = check_dataset(folder, full=False)
    yaw, pitch = (np.array([POSES[n][i] for n in POSES]) for i in (0, 1))
    head = [f"{folder}: eg3d format, 7 images (4 usable)",
            "  resolutions: 16x16 (4), 24x16 (1)",
            f"  yaw:   mean {yaw.mean():+.3f} rad, std {yaw.std():.3f} rad",
            f"  pitch: mean {pitch.mean():+.3f} rad, std {pitch.std():.3f} rad",
            f"  note: {OTHER_SIZE}",
            f"  note: {CROPPED}",
            "  3 problem(s):"]
    assert report.summary().splitlines() == head + [f"    {f}: {p}" for f, p in EXPECTED]
    assert report.summary(max_problems=2).splitlines() == head + [f"    {f}: {p}" for f, p in EXPECTED[:2]] + [
        "    ... and 1 more (zoo3d data check --json lists all)"]
    assert report.summary(max_problems=3) == report.summary()
    doc = report.to_json()
    problems = [{"file": f, "problem": p} for f, p in EXPECTED]
    assert doc == {"count": 7, "format": "eg3d", "resolution": [16, 16], "resolutions": {"16x16": 4, "24x16": 1},
                   "yaw": _stat(list(POSES), 0), "pitch": _stat(list(POSES), 1), "problems": problems,
                   "notes": [OTHER_SIZE, CROPPED], "usable": 4,
                   "path": str(folder)}
    assert not report.ok and report.usable
    assert ensure_usable(folder).usable_count == 4  # training's start-up check reads headers only, like this one


def test_a_clean_dataset_says_no_problems_and_its_resolution_is_height_then_width(tmp_path):
    for name, (yaw, pitch) in (("p.png", (0.3, 0.2)), ("q.png", (-0.3, 0.0))):
        _noise(24, 16, 5).save(tmp_path / name)
    (tmp_path / "dataset.json").write_text(json.dumps(
        {"labels": [["p.png", _camera(0.3, 0.2)], ["q.png", _camera(-0.3, 0.0)]]}))
    report = check_dataset(tmp_path, full=True)
    assert report.ok and report.resolution == [16, 24] and report.usable_count == 2
    assert report.summary().splitlines()[-1] == "  no problems"
    assert report.yaw["mean"] == pytest.approx(0.0, abs=1e-9) and report.yaw["std"] == pytest.approx(0.3, abs=1e-9)
    assert report.pitch["mean"] == pytest.approx(0.1, abs=1e-9) and report.pitch["std"] == pytest.approx(0.1, abs=1e-9)
    assert ensure_usable(tmp_path).usable_count == 2


def test_the_most_common_size_comes_first_and_the_other_is_a_note_not_a_problem(tmp_path):
    """Training crops and resizes every image to its resolution, so an image of another size is used as the rest are:
    the check had reported it as a problem and exited 1 of a dataset training used whole."""
    _noise(24, 16, 8).save(tmp_path / "p.png")
    _noise(24, 16, 9).save(tmp_path / "q.png")
    _noise(16, 16, 10).save(tmp_path / "r.png")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [[n, _camera(0.0, 0.0)] for n in ("r.png", "p.png",
                                                                                                  "q.png")]}))
    report = check_dataset(tmp_path)
    assert report.summary().splitlines()[1] == "  resolutions: 24x16 (2), 16x16 (1)" and report.resolution == [16, 24]
    assert report.ok and report.usable_count == 3
    assert report.notes[0] == ("1 image(s) differ in size from most (24x16): training crops and resizes every image "
                               "to its resolution, the camera with it, so they are used as the rest are (first: r.png, "
                               "16x16)")


def test_with_crop_none_only_non_square_images_leave_nothing_usable_and_training_is_refused(tmp_path):
    for name in ("p.png", "q.png"):
        _noise(24, 16, 6).save(tmp_path / name)
    (tmp_path / "dataset.json").write_text(json.dumps(
        {"labels": [["p.png", _camera(0.3, 0.2)], ["q.png", _camera(-0.3, 0.0)], ["gone.png", _camera(0.0, 0.0)]]}))
    report = check_dataset(tmp_path, crop="none")
    words = "not square (24x16): data.crop = none needs square images (data.crop = center takes their centred square)"
    assert [(p.file, p.problem) for p in report.problems] == [("gone.png", "missing image file"), ("p.png", words),
                                                              ("q.png", words)]
    assert report.usable_count == 0 and not report.usable and report.notes == []
    assert report.yaw == report.pitch == {"mean": None, "std": None} and report.resolution == [16, 24]
    lines = report.summary().splitlines()
    assert lines[:4] == [f"{tmp_path}: eg3d format, 3 images (0 usable)", "  resolutions: 24x16 (2)",
                         "  yaw:   n/a", "  pitch: n/a"]
    assert check_dataset(tmp_path, crop="center").usable_count == 2


def test_an_empty_folder_or_zip_is_one_problem_and_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    for path in (tmp_path / "empty", tmp_path / "empty.zip"):
        report = check_dataset(path)
        assert [(p.file, p.problem) for p in report.problems] == [(str(path), "no images found (images format)")]
        assert report.resolution is None and report.count == 0
        assert report.summary().splitlines()[1] == "  resolutions: none"
        with pytest.raises(UserError) as err:
            ensure_usable(path)
        assert str(err.value) == (f"Dataset '{path}' cannot be used: it holds no usable posed image.\n"
                                  f"{report.summary()}")
    with pytest.raises(UserError) as err:
        check_dataset(tmp_path / "nowhere")
    assert str(err.value) == f"Dataset path '{tmp_path / 'nowhere'}' is neither a folder nor a zip file."


def test_an_unreadable_file_is_named_with_its_error_and_listing_it_twice_does_not_stop_the_check(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    _noise(16, 16, 7).save(tmp_path / "ok.png")
    labels = [["bad.png", _camera(0.1, 0.0)], ["ok.png", _camera(0.2, 0.0)], ["ok.png", _camera(0.2, 0.0)],
              ["late.png", _camera(0.0, 0.0)]]
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    report = check_dataset(tmp_path, full=True)
    problems = {p.file: p.problem for p in report.problems}
    assert problems["bad.png"].startswith("unreadable image: UnidentifiedImageError: cannot identify image file")
    assert problems["late.png"] == "missing image file"  # checked after the file listed twice
    assert problems["ok.png"] == "duplicate name: the file is listed more than once"
    assert report.usable_count == 1 and report.yaw == {"mean": pytest.approx(0.2, abs=1e-9), "std": 0.0}


def test_a_long_decoder_message_is_cut_to_two_hundred_characters(tmp_path):
    name = "x" * 150 + ".png"
    (tmp_path / name).write_bytes(b"not an image either")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [[name, _camera(0.0, 0.0)]]}))
    problem = check_dataset(tmp_path).problems[0].problem
    assert len(problem) == 200 and problem.startswith("unreadable image: UnidentifiedImageError: cannot identify")


def test_the_summary_shows_twenty_problems_and_counts_the_rest(tmp_path):
    for i in range(23):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i:02d}.png")
    report = check_dataset(tmp_path)  # no pose file: every image is a missing pose
    lines = report.summary().splitlines()
    assert lines[4] == "  23 problem(s):" and len(lines) == 5 + 20 + 1
    assert lines[5] == "    00.png: missing pose (no dataset.json, poses.json or poses/ folder)"
    assert lines[24].startswith("    19.png: ") and lines[25] == "    ... and 3 more (zoo3d data check --json lists all)"


def test_one_bit_and_sixteen_bit_grey_images_are_noted_as_converted(tmp_path):
    Image.new("1", (8, 8)).save(tmp_path / "bits.png")
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(tmp_path / "deep.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "rgb.png")
    Image.new("P", (8, 8)).save(tmp_path / "palette.png")  # no transparency: converted, no alpha to drop
    (tmp_path / "dataset.json").write_text(json.dumps(
        {"labels": [[n, _camera(0.0, 0.0)] for n in ("rgb.png", "bits.png", "deep.png", "palette.png")]}))
    assert check_dataset(tmp_path).notes == ["3 grey or palette image(s) are converted to RGB (first: bits.png)"]


def test_a_field_of_view_in_radians_or_a_focal_length_in_pixels_is_noted_not_a_problem(tmp_path):
    for i in range(3):
        _noise(16, 16, i).save(tmp_path / f"{i}.png")
    pixels = _camera(0.1, 0.0)
    pixels[16] *= 16  # fx and fy in pixels of the 16-pixel image, the principal point normalised
    pixels[20] *= 16
    frames = [{"file": "0.png", "yaw": 0.1, "pitch": 0.0, "fov": 0.69},  # NeRF's camera_angle_x, in radians
              {"file": "1.png", "camera": pixels}, {"file": "2.png", "yaw": 0.1, "pitch": 0.0, "fov": 12}]
    (tmp_path / "poses.json").write_text(json.dumps({"frames": frames}))
    report = check_dataset(tmp_path)
    assert report.ok and report.usable_count == 3
    assert report.notes == [
        "2 image(s) have a vertical field of view under 3 degrees (first: 0.png, 0.69 degrees): a frame's 'fov' is in "
        "degrees, not radians, and a camera's focal length is a fraction of the image size (fx/W, fy/H), not pixels"]
    frames[0]["fov"], frames[1]["camera"] = 39.5, _camera(0.1, 0.0)  # 0.69 radians in degrees; EG3D's 12 degrees
    frames[2]["fov"] = 3.4  # a 400 mm lens on a full-frame camera: narrow, and on purpose
    (tmp_path / "poses.json").write_text(json.dumps({"frames": frames}))
    assert check_dataset(tmp_path).notes == []
