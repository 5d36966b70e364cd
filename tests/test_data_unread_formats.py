"""Photos in a format zoo3d does not take as dataset images (an iPhone's HEIC, AVIF, GIF, camera raw): ``data check``
says how many it passed over and of which kinds, where a folder of iPhone photos was said to hold no images."""

from __future__ import annotations

import json

from PIL import Image

from conftest import run_in_process as zoo3d
from zoo3d.data.check import check_dataset


def test_a_folder_of_iphone_photos_is_told_why_it_has_no_images(tmp_path, capsys):
    for i in range(3):
        (tmp_path / f"IMG_000{i}.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    Image.new("RGB", (8, 8)).save(tmp_path / "wave.gif")
    (tmp_path / "notes.txt").write_text("not a photo")
    report = check_dataset(tmp_path)
    assert report.count == 0 and [p.problem for p in report.problems] == ["no images found (images format)"]
    assert report.notes == ["4 file(s) in a format that is not a dataset image are not read (.gif (1), .heic (3); "
                            "first: IMG_0000.HEIC): save them as PNG or JPEG"]
    code, out, _ = zoo3d(capsys, "data", "check", tmp_path)
    assert code == 1 and "note: 4 file(s) in a format that is not a dataset image" in out


def test_one_that_poses_json_lists_is_read_and_not_noted(tmp_path):
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "a.gif")
    Image.new("RGB", (8, 8)).save(tmp_path / "b.png")
    (tmp_path / "c.avif").write_bytes(b"\x00\x00\x00\x1cftypavif")
    frames = [{"file": n, "yaw": 0.0, "pitch": 0.0} for n in ("a.gif", "b.png")]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    report = check_dataset(tmp_path, full=True)
    assert report.ok and report.usable_count == 2, report.summary()
    assert report.notes == ["1 file(s) in a format that is not a dataset image are not read (.avif (1); first: "
                            "c.avif): save them as PNG or JPEG",
                            "1 grey or palette image(s) are converted to RGB (first: a.gif)"]   # the listed GIF
