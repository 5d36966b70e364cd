"""Hidden files in a dataset folder or zip (names or folders starting with '.'): not dataset images unless an index
file lists them, as ``ls``, file browsers and GRAM's own loader (a glob) pass over them; one note says how many."""

from __future__ import annotations

import json
import zipfile

import numpy as np
from PIL import Image

from conftest import run_in_process as zoo3d
from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset


def _png(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def _zoo3d_folder(folder, names):
    for i, name in enumerate(names):
        _png(folder / name, i)
    frames = [{"file": n, "yaw": 0.1 * i, "pitch": 0.0} for i, n in enumerate(names)]
    (folder / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))


def _hide_things(folder):
    """What a Mac, Jupyter and a thumbnailer leave beside the photos, and a hidden image of the user's."""
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "images" / "._0000.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    _png(folder / "images" / ".0000-edited.png", 10)
    _png(folder / ".ipynb_checkpoints" / "0000-checkpoint.png", 11)
    _png(folder / ".thumbnails" / "normal" / "0001.png", 12)


def test_hidden_images_in_a_posed_folder_are_not_read_and_one_note_says_so(tmp_path, capsys):
    names = ["images/0000.png", "images/0001.png", "images/.listed.png"]   # a hidden image the index lists is read
    _zoo3d_folder(tmp_path, names)
    _hide_things(tmp_path)
    report = check_dataset(tmp_path, full=True)
    assert report.ok and report.count == 3 and report.usable_count == 3, report.summary()
    assert report.notes == ["3 hidden image file(s) (a name or folder starting with '.') are not read: poses.json "
                            "does not list them (first: .ipynb_checkpoints/0000-checkpoint.png)"]
    assert [r.name for r in FolderDataset(tmp_path, 8).records] == names
    code, out, err = zoo3d(capsys, "data", "check", tmp_path)
    assert code == 0 and "no problems" in out, out + err


def test_a_hidden_image_in_a_gram_folder_is_not_an_image_without_pose(tmp_path):
    _png(tmp_path / "a.png", 0)
    _png(tmp_path / ".a-copy.png", 1)
    (tmp_path / "poses").mkdir()
    np.save(tmp_path / "poses" / "a_pose.npy", np.array([np.pi / 2, np.pi / 2]))
    report = check_dataset(tmp_path)
    assert report.ok and report.count == 1 and report.usable_count == 1, report.summary()
    assert report.notes == ["1 hidden image file(s) (a name or folder starting with '.') are not read "
                            "(first: .a-copy.png)"]


def test_a_zip_of_one_folder_reads_past_its_hidden_files(tmp_path):
    folder = tmp_path / "heads"
    _zoo3d_folder(folder, ["images/0000.png", "images/0001.png"])
    _hide_things(folder)
    path = tmp_path / "heads.zip"                               # as `zip -r heads.zip heads` makes it
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(folder.rglob("*")):
            zf.write(file, file.relative_to(tmp_path).as_posix())
    report = check_dataset(path, full=True)
    assert report.ok and report.usable_count == 2, report.summary()
    assert "3 hidden image file(s)" in report.notes[0] and "heads/" in report.notes[1]
    assert len(FolderDataset(path, 8)) == 2


def test_hidden_files_beside_the_one_folder_of_a_zip_do_not_hide_that_folder(tmp_path):
    """``zip -r heads.zip .`` in a folder holding ``heads/`` and a ``.DS_Store``: the zip's one folder holds the
    dataset, as without the hidden file (it was read from the zip's root, where no pose file is)."""
    folder = tmp_path / "heads"
    _zoo3d_folder(folder, ["images/0000.png", "images/0001.png"])
    path = tmp_path / "heads.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(".DS_Store", b"\x00\x00\x00\x01Bud1")
        zf.writestr(".hidden/notes.png", b"not an image of the dataset")
        for file in sorted(folder.rglob("*")):
            zf.write(file, file.relative_to(tmp_path).as_posix())
    report = check_dataset(path, full=True)
    assert report.format == "zoo3d" and report.ok and report.usable_count == 2, report.summary()
    assert [r.name for r in FolderDataset(path, 8).records] == ["images/0000.png", "images/0001.png"]


def test_a_zip_whose_names_start_with_dot_slash_is_not_hidden(tmp_path):
    """``tar -a -cf heads.zip -C heads .`` (bsdtar) names every member './...': '.' is the folder itself."""
    folder = tmp_path / "heads"
    _zoo3d_folder(folder, ["images/0000.png", "images/0001.png"])
    path = tmp_path / "heads.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("./"), b"")
        zf.writestr(zipfile.ZipInfo("./.DS_Store"), b"\x00\x00\x00\x01Bud1")
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            zf.writestr(zipfile.ZipInfo(f"./{file.relative_to(folder).as_posix()}"), file.read_bytes())
    report = check_dataset(path, full=True)
    assert report.format == "zoo3d" and report.ok and report.usable_count == 2, report.summary()


def test_a_zip_of_one_hidden_folder_is_read_from_that_folder(tmp_path):
    """``zip -r data.zip .heads``: the folder is hidden, the files in it are the dataset's."""
    folder = tmp_path / ".heads"
    _zoo3d_folder(folder, ["images/0000.png", "images/0001.png"])
    path = tmp_path / "heads.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(folder.rglob("*")):
            zf.write(file, file.relative_to(tmp_path).as_posix())
    report = check_dataset(path, full=True)
    assert report.format == "zoo3d" and report.ok and report.usable_count == 2, report.summary()


def test_images_in_a_hidden_folder_that_a_link_leads_to_are_read_by_the_links_name(tmp_path):
    """``images`` a link to ``.z/photos``: the folder is reached twice and listed once, by the name that is not
    hidden, whichever of the two the disk lists first."""
    import os

    import pytest

    _png(tmp_path / ".z" / "photos" / "0000.png", 0)
    (tmp_path / "poses").mkdir()
    np.save(tmp_path / "poses" / "0000_pose.npy", np.array([np.pi / 2, np.pi / 2]))
    try:
        os.symlink(tmp_path / ".z" / "photos", tmp_path / "images", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links cannot be made here")
    report = check_dataset(tmp_path)
    assert report.format == "gram" and report.ok and report.usable_count == 1 and not report.notes, report.summary()


def test_the_note_of_an_eg3d_folder_names_dataset_json_as_the_index_that_does_not_list_them(tmp_path):
    _png(tmp_path / "0000.png", 0)
    _png(tmp_path / ".0000-edited.png", 1)
    cam2world = np.diag([1.0, -1.0, -1.0, 1.0])
    cam2world[2, 3] = 2.7  # at (0, 0, 2.7), looking down -z at the origin
    label = [*cam2world.reshape(-1).tolist(), 4.2647, 0, 0.5, 0, 4.2647, 0.5, 0, 0, 1]
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["0000.png", label]]}))
    report = check_dataset(tmp_path)
    assert report.format == "eg3d" and report.ok, report.summary()
    assert report.notes == ["1 hidden image file(s) (a name or folder starting with '.') are not read: dataset.json "
                            "does not list them (first: .0000-edited.png)"]
