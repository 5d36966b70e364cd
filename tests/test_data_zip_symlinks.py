"""A zip made with ``zip --symlinks`` stores each symbolic link as a member whose data is the path it leads to: it
is read as the file or folder it leads to inside the zip, as ``unzip`` makes it; a link out of the zip or a loop is a
problem of that file saying so (the link's text had been decoded as an image: 'cannot identify image file')."""

from __future__ import annotations

import json
import zipfile

import numpy as np
from PIL import Image

from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset


def _png_bytes(seed):
    import io

    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return pixels, buffer.getvalue()


def _link(zf, name, target):
    """A member as Info-ZIP's ``zip --symlinks`` writes a link: made on Unix, mode lrwxrwxrwx, data the target."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    zf.writestr(info, target)


def _poses(names):
    frames = [{"file": n, "yaw": 0.1 * i, "pitch": 0.0} for i, n in enumerate(names)]
    return json.dumps({"version": 1, "frames": frames})


def _levels(image):
    return np.rint((image.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)


def test_links_to_a_file_and_to_a_folder_inside_the_zip_read_what_they_lead_to(tmp_path):
    pixels = [_png_bytes(i) for i in range(2)]
    path = tmp_path / "linked.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i, (_, data) in enumerate(pixels):
            zf.writestr(f"photos/{i}.png", data)
        _link(zf, "images", "photos")                       # a folder link: images/1.png is photos/1.png
        _link(zf, "extra/again.png", "../photos/0.png")     # a file link, relative to its own folder
        zf.writestr("meta/poses.json", _poses(["images/1.png", "extra/again.png", "photos/0.png", "photos/1.png"]))
        _link(zf, "poses.json", "meta/poses.json")          # the index file itself behind a link
    report = check_dataset(path, full=True)
    assert report.format == "zoo3d" and report.ok and report.usable_count == 4, report.summary()
    dataset = FolderDataset(path, 8)
    served = [_levels(dataset[i]["image"]) for i in range(4)]
    for got, want in zip(served, [pixels[1][0], pixels[0][0], pixels[0][0], pixels[1][0]]):
        assert np.array_equal(got, want)


def test_a_link_out_of_the_zip_or_round_a_loop_is_a_problem_that_says_so(tmp_path):
    pixels, data = _png_bytes(0)
    outside = tmp_path / "photo.png"
    outside.write_bytes(data)                               # exists on this disk, but is not in the zip
    path = tmp_path / "out.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("0.png", data)
        _link(zf, "abs.png", str(outside))
        _link(zf, "up.png", "../photo.png")
        _link(zf, "a.png", "b.png")
        _link(zf, "b.png", "a.png")
        zf.writestr("poses.json", _poses(["0.png", "abs.png", "up.png", "a.png"]))
    report = check_dataset(path, full=True)
    problems = {p.file: p.problem for p in report.problems if p.problem.startswith("unreadable")}
    assert sorted(problems) == ["a.png", "abs.png", "b.png", "up.png"] and report.usable_count == 1, report.summary()
    assert problems["abs.png"] == ("unreadable image: OSError: a symbolic link out of the zip, which does not hold its "
                                   f"file (zip the folder without --symlinks): 'abs.png' -> '{outside}'"[:200])
    assert problems["up.png"].endswith("'up.png' -> '../photo.png'")
    assert "loop" in problems["a.png"] and "loop" in problems["b.png"]
    assert report.notes == ["4 symbolic link(s) of the zip lead out of it or round in a loop, and the files behind "
                            "them are not in it ('a.png' -> 'b.png' and 3 more): zip the folder without --symlinks"]
    dataset = FolderDataset(path, 8)
    assert np.array_equal(_levels(dataset[1]["image"]), pixels)  # the unreadable links are skipped: 0.png served
    assert set(dataset.skipped) == {"abs.png", "up.png", "a.png"}
    assert all("cannot identify" not in p.problem for p in report.problems)


def test_a_link_to_the_folder_around_the_zip_is_a_link_out_of_the_zip(tmp_path):
    # '..' from the zip's root is outside it exactly, with nothing after it
    _, data = _png_bytes(0)
    path = tmp_path / "parent.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("0.png", data)
        _link(zf, "parent.png", "..")
        zf.writestr("poses.json", _poses(["0.png", "parent.png"]))
    report = check_dataset(path, full=True)
    assert [(p.file, p.problem) for p in report.problems] == [
        ("parent.png", "unreadable image: OSError: a symbolic link out of the zip, which does not hold its file (zip "
                       "the folder without --symlinks): 'parent.png' -> '..'")], report.summary()


def test_images_listed_through_a_link_to_their_folder_are_not_also_unlisted_images(tmp_path):
    """``images`` linked to ``photos`` and poses.json listing images/*.png, zipped with ``zip -r --symlinks``: the
    files under photos/ are the listed images, as in the folder it was zipped from. Each had also been a missing pose
    of its own ('the image is not listed in poses.json'), and the check exited 1."""
    path = tmp_path / "linked.zip"
    with zipfile.ZipFile(path, "w") as zf:
        _link(zf, "images", "photos")
        zf.writestr("poses.json", _poses(["images/0.png", "images/1.png"]))
        for i in range(2):
            zf.writestr(f"photos/{i}.png", _png_bytes(i)[1])
        zf.writestr("photos/2.png", _png_bytes(2)[1])  # not listed by any name: still a missing pose
    report = check_dataset(path)
    assert [(p.file, p.problem) for p in report.problems] == [
        ("photos/2.png", "missing pose (the image is not listed in poses.json)")]
    assert report.usable_count == 2 and report.count == 3


def test_a_link_out_of_the_zip_to_the_images_folder_is_noted_beside_no_images_found(tmp_path):
    """A GRAM folder whose ``train`` links to the photos on another disk, zipped with ``zip -r --symlinks``: the zip
    holds the link and not the photos, and the check had said only 'no images found'."""
    import io

    path = tmp_path / "gram.zip"
    with zipfile.ZipFile(path, "w") as zf:
        _link(zf, "train", "/mnt/photos")
        buffer = io.BytesIO()
        np.save(buffer, np.array([1.6, 1.5]))
        zf.writestr("poses/0_pose.npy", buffer.getvalue())
    report = check_dataset(path)
    assert report.notes == ["1 symbolic link(s) of the zip lead out of it or round in a loop, and the files behind "
                            "them are not in it ('train' -> '/mnt/photos'): zip the folder without --symlinks"]
    assert [p.problem for p in report.problems] == ["no images found (gram format)"]
