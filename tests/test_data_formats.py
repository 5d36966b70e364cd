"""Dataset sources and labels: zips read by DataLoader workers, zips made with ``zip -r``, EG3D intrinsics."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.data.folder import FolderDataset
from zoo3d.data.formats import Source, camera_problem, list_dataset, write_eg3d_labels
from zoo3d.train.data import BatchStream


def _noise_dataset(folder, count, size=16, seed=0):
    """``count`` distinct noise PNGs with EG3D labels (a mixed-up read shows as a different image)."""
    rng = np.random.default_rng(seed)
    (folder / "img").mkdir(parents=True)
    files = []
    for i in range(count):
        name = f"img/{i:04d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / name)
        files.append(name)
    cams = Camera.from_angles(torch.linspace(-0.5, 0.5, count, dtype=torch.float64), 0.0,
                              dtype=torch.float64).to_eg3d().numpy()
    write_eg3d_labels(folder, files, cams)
    return [*files, "dataset.json"]


def _zip(folder, files, path, prefix=""):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for f in files:
            zf.write(folder / f, prefix + f)
    return path


def _all_items(dataset, num_workers, batch=10, epochs=12):
    stream = BatchStream(dataset, batch, seed=3, num_workers=num_workers)
    images, indices = [], []
    for _ in range(epochs * len(dataset) // batch):  # the workers, forked once, read every epoch
        b = stream.next(torch.device("cpu"))
        images.append(b.images)
        indices.append(b.extras["index"])
    return torch.cat(images), torch.cat(indices)


def test_stored_zip_read_by_two_workers_gives_the_items_one_process_reads(tmp_path):
    # Forked workers inherit the parent's open zip: sharing its file position, their seeks and reads
    # interleaved and served other images' bytes (or CRC errors, which the skip logic then hid).
    folder = tmp_path / "data"
    path = _zip(folder, _noise_dataset(folder, 120), tmp_path / "data.zip")
    dataset = FolderDataset(path, 16)
    dataset.check_readable()  # the main process reads through the zip before the workers start
    serial_images, serial_index = _all_items(dataset, 0)
    worker_images, worker_index = _all_items(dataset, 2)
    assert torch.equal(worker_index, serial_index)
    differ = (worker_images != serial_images).flatten(1).any(1)
    assert not differ.any(), f"{int(differ.sum())} of {len(differ)} items differ"
    assert not dataset.skipped


def test_a_zip_source_reads_through_its_own_handle_after_a_fork_or_a_pickle(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    files = _noise_dataset(folder, 2)
    source = Source(_zip(folder, files, tmp_path / "data.zip"))
    expected = source.read(files[0])
    parent = source._archive()
    import zoo3d.data.formats as formats

    monkeypatch.setattr(formats.os, "getpid", lambda: -1)  # as a forked DataLoader worker sees it
    assert source.read(files[0]) == expected and source._archive() is not parent
    monkeypatch.undo()
    copy = pickle.loads(pickle.dumps(source))  # spawned workers get a pickled copy
    assert copy.is_zip and copy.files() == source.files() and copy.read(files[1]) == source.read(files[1])


def test_zip_of_a_folder_is_read_from_that_folder(tmp_path):
    # ``zip -r data.zip data`` puts every file under data/: dataset.json is then one folder down.
    folder = tmp_path / "data"
    files = _noise_dataset(folder, 3)
    nested = _zip(folder, files, tmp_path / "nested.zip", prefix="data/")
    listing = list_dataset(Source(nested))
    assert listing.format == "eg3d" and not listing.problems
    assert sorted(r.name for r in listing.records) == files[:3]
    assert any("data/" in n for n in listing.notes)
    flat = FolderDataset(_zip(folder, files, tmp_path / "flat.zip"), 16)
    assert torch.equal(FolderDataset(nested, 16)[2]["image"], flat[2]["image"])


def test_zip_with_images_in_one_folder_and_no_pose_file_says_where_pose_files_belong(tmp_path):
    folder = tmp_path / "data"
    files = _noise_dataset(folder, 2)[:2]
    listing = list_dataset(Source(_zip(folder, files, tmp_path / "plain.zip", prefix="data/")))
    assert listing.format == "images"
    assert [r.name for r in listing.records] == [f"data/{f}" for f in files]
    assert all("root" in p.problem for p in listing.problems)


def _skewed(skew):
    vec = Camera.from_angles(0.1, 0.0, dtype=torch.float64).to_eg3d()[0].numpy()
    vec[17] = skew  # k[0, 1]
    return vec


def test_eg3d_intrinsics_with_a_skew_are_a_problem_of_that_image(tmp_path):
    assert camera_problem(_skewed(0.0)) is None and camera_problem(_skewed(1e-7)) is None
    assert "skew" in camera_problem(_skewed(0.01))
    for name in ("a.png", "b.png"):
        Image.new("RGB", (16, 16)).save(tmp_path / name)
    labels = [["a.png", _skewed(0.0).tolist()], ["b.png", _skewed(-0.05).tolist()]]
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    listing = list_dataset(Source(tmp_path))
    assert [(p.file, "skew" in p.problem) for p in listing.problems] == [("b.png", True)]
    assert [r.name for r in FolderDataset(tmp_path, 16).records] == ["a.png"]
    frames = [{"file": "a.png", "camera": _skewed(0.02).tolist()}, {"file": "b.png", "yaw": 0.0, "pitch": 0.0}]
    (tmp_path / "dataset.json").unlink()
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    assert [p.file for p in list_dataset(Source(tmp_path)).problems] == ["a.png"]


def _relabel(folder, rename):
    """Rewrite dataset.json's file names with ``rename``."""
    doc = json.loads((folder / "dataset.json").read_text())
    doc["labels"] = [[rename(name), vec] for name, vec in doc["labels"]]
    (folder / "dataset.json").write_text(json.dumps(doc))


def test_index_names_written_with_dot_slash_name_the_same_files_in_a_folder_and_a_zip(tmp_path):
    folder = tmp_path / "data"
    files = _noise_dataset(folder, 3)
    _relabel(folder, lambda n: "./" + n.replace("/", "//"))
    for source in (Source(folder), Source(_zip(folder, files, tmp_path / "d.zip"))):
        listing = list_dataset(source)
        assert not listing.problems, listing.problems
        assert sorted(r.name for r in listing.records) == files[:3] and all(r.camera is not None for r in listing.records)


def test_a_zip_made_by_macos_finder_is_read_past_its_resource_forks(tmp_path):
    folder = tmp_path / "data"
    files = _noise_dataset(folder, 3)
    path = _zip(folder, files, tmp_path / "mac.zip", prefix="data/")
    with zipfile.ZipFile(path, "a") as zf:
        for f in files:
            zf.writestr(f"__MACOSX/data/._{f.split('/')[-1]}", b"\x00\x05\x16\x07 resource fork")
        zf.writestr("data/img/._0000.png", b"\x00\x05\x16\x07")
    listing = list_dataset(Source(path))
    assert listing.format == "eg3d" and not listing.problems, listing.problems
    assert sorted(r.name for r in listing.records) == files[:3]


def test_a_folder_unzipped_from_a_macos_zip_is_read_past_its_resource_forks(tmp_path):
    """A zip ignored its ``._*`` files; the folder it unzips to reported each as an image without a pose."""
    files = _noise_dataset(tmp_path, 3)
    (tmp_path / "__MACOSX" / "img").mkdir(parents=True)
    for f in files[:3]:
        (tmp_path / "__MACOSX" / "img" / f"._{f.split('/')[-1]}").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (tmp_path / "img" / "._0000.png").write_bytes(b"\x00\x05\x16\x07")
    listing = list_dataset(Source(tmp_path))
    assert listing.format == "eg3d" and not listing.problems, listing.problems
    assert sorted(r.name for r in listing.records) == files[:3]


def test_a_damaged_index_file_in_a_zip_is_a_problem_not_a_crash(tmp_path):
    folder = tmp_path / "data"
    path = _zip(folder, _noise_dataset(folder, 3), tmp_path / "crc.zip")
    data = bytearray(path.read_bytes())
    data[data.find(b'{"labels"') + 20] ^= 0x01  # one bit of the stored dataset.json: a CRC error on reading
    path.write_bytes(bytes(data))
    listing = list_dataset(Source(path))
    assert [p.file for p in listing.problems if "unreadable JSON" in p.problem] == ["dataset.json"]


def test_masks_and_depth_are_not_dataset_images_in_a_folder_without_poses(tmp_path):
    """With labels, poses.json or poses/, the images under mask/, masks/ and depth/ were already left out; an EG3D
    folder without labels and a plain image folder listed them as images without poses."""
    import json

    from PIL import Image

    from zoo3d.data.formats import Source, list_dataset

    for sub in ("mask", "masks", "depth"):
        (tmp_path / sub).mkdir()
        Image.new("L", (8, 8)).save(tmp_path / sub / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "maskless").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "maskless" / "b.png")  # a folder merely starting with 'mask' counts
    images = list_dataset(Source(tmp_path))
    assert images.format == "images" and [r.name for r in images.records] == ["a.png", "maskless/b.png"]
    (tmp_path / "dataset.json").write_text(json.dumps({}))
    unlabelled = list_dataset(Source(tmp_path))
    assert unlabelled.format == "eg3d" and [r.name for r in unlabelled.records] == ["a.png", "maskless/b.png"]
    assert [p.problem for p in unlabelled.problems] == ["missing pose (dataset.json has no labels)"] * 2


def test_a_zip_of_two_dataset_folders_is_read_from_its_root_not_from_either_folder(tmp_path):
    # docs/data.md: a zip of *one* folder holding the pose files is read from that folder; with two, neither is
    # the dataset, and the zip's root (holding no pose file) is read: two folders' images, none with a pose
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as zf:
        for top in ("a", "b"):
            zf.writestr(f"{top}/dataset.json", json.dumps({"labels": []}))
            buf = io.BytesIO()
            Image.new("RGB", (8, 8)).save(buf, format="PNG")
            zf.writestr(f"{top}/img.png", buf.getvalue())
    source = Source(tmp_path / "two.zip")
    assert source.root == ""
    listing = list_dataset(source)
    assert listing.format == "images" and [r.name for r in listing.records] == ["a/img.png", "b/img.png"]


def test_a_readme_beside_a_zips_one_folder_does_not_hide_the_dataset_in_it(tmp_path):
    """``zip -r faces.zip faces README.txt``: the README had made the zip's root the dataset's, a folder of images
    without poses (each a missing pose, exit 1)."""
    folder = tmp_path / "data"
    files = _noise_dataset(folder, 2)
    path = _zip(folder, files, tmp_path / "faces.zip", prefix="faces/")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("README.txt", "FFHQ crops, 2 images\n")
        zf.writestr("LICENSE", "CC BY-NC-SA 4.0\n")
    source = Source(path)
    assert (source.root, source.beside) == ("faces/", ["LICENSE", "README.txt"])
    listing = list_dataset(source)
    assert listing.format == "eg3d" and not listing.problems and [r.name for r in listing.records] == files[:2]
    assert listing.notes == ["the zip holds the dataset in its folder 'faces/': it is read from there (LICENSE, "
                             "README.txt beside it are not read)"]


def test_an_image_beside_a_zips_one_folder_keeps_the_root_the_datasets(tmp_path):
    folder = tmp_path / "data"
    files = _noise_dataset(folder, 2)
    path = _zip(folder, files, tmp_path / "faces.zip", prefix="faces/")
    with zipfile.ZipFile(path, "a") as zf:
        zf.write(folder / files[0], "cover.png")
    assert Source(path).root == ""


def test_a_folder_unzipped_one_level_too_deep_is_read_from_its_one_folder(tmp_path):
    """``unzip faces.zip -d faces`` makes faces/faces/dataset.json: the outer folder had been read as a folder of
    images without poses, and training refused it ('no usable posed image')."""
    outer = tmp_path / "faces"
    files = _noise_dataset(outer / "faces", 3)
    (outer / "README.md").write_text("crops\n")
    (outer / ".DS_Store").write_bytes(b"\0")
    source = Source(outer)
    assert (source.root, source.beside) == ("faces/", ["README.md"])
    listing = list_dataset(source)
    assert listing.format == "eg3d" and not listing.problems and [r.name for r in listing.records] == files[:3]
    assert listing.notes == ["the folder holds the dataset in its folder 'faces/': it is read from there (README.md "
                             "beside it is not read)"]
    assert torch.equal(FolderDataset(outer, 16)[1]["image"], FolderDataset(outer / "faces", 16)[1]["image"])
    assert source.identity(files[0]) == Source(outer / "faces").identity(files[0]) is not None


def test_macos_litter_beside_a_folder_unzipped_one_level_too_deep_does_not_count(tmp_path):
    """Finder's zip unzipped with ``unzip`` brings ``__MACOSX/`` beside the dataset's folder."""
    outer = tmp_path / "faces"
    _noise_dataset(outer / "faces", 2)
    (outer / "__MACOSX" / "faces").mkdir(parents=True)
    (outer / "__MACOSX" / "faces" / "._dataset.json").write_bytes(b"\0")
    assert (Source(outer).root, Source(outer).beside) == ("faces/", [])


def test_a_pose_file_beside_the_one_folder_keeps_the_top_the_datasets(tmp_path):
    """poses.json at the top lists the images in the folder by their path from the top: it is the dataset's."""
    files = _noise_dataset(tmp_path / "d" / "faces", 2)[:2]
    frames = [{"file": f"faces/{f}", "yaw": 0.0, "pitch": 0.0} for f in files]
    (tmp_path / "d" / "poses.json").write_text(json.dumps({"frames": frames}))
    source = Source(tmp_path / "d")
    assert (source.root, source.beside) == ("", [])
    listing = list_dataset(source)
    assert listing.format == "zoo3d" and [r.name for r in listing.records] == [f"faces/{f}" for f in files]


def test_a_folder_with_one_subfolder_of_images_and_no_pose_file_is_read_from_its_top(tmp_path):
    files = _noise_dataset(tmp_path / "d", 2)[:2]
    (tmp_path / "d" / "dataset.json").unlink()
    source = Source(tmp_path / "d")
    assert source.root == "" and [r.name for r in list_dataset(source).records] == files


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_an_index_file_in_an_encoding_json_allows_is_read(tmp_path, encoding):
    """Windows PowerShell 5's `ConvertTo-Json | Out-File poses.json` writes UTF-16 with its mark."""
    files = _noise_dataset(tmp_path, 2)
    text = (tmp_path / "dataset.json").read_text()
    (tmp_path / "dataset.json").write_bytes(text.encode(encoding))
    listing = list_dataset(Source(tmp_path))
    assert not listing.problems and [r.name for r in listing.records] == files[:2]


def test_an_index_file_in_windows_1252_says_it_is_not_utf8_and_what_to_do(tmp_path):
    """The codec's own words ('utf-8' codec can't decode byte 0xe9 in position 44: invalid continuation byte) said
    nothing of an encoding nor of the fix."""
    (tmp_path / "img").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "img" / "café.png")
    frames = [{"file": "img/café.png", "yaw": 0.1, "pitch": 0.0}]
    data = json.dumps({"frames": frames}, ensure_ascii=False).encode("cp1252")
    (tmp_path / "poses.json").write_bytes(data)
    at = data.index("é".encode("cp1252"))
    listing = list_dataset(Source(tmp_path))
    assert [(p.file, p.problem) for p in listing.problems] == [
        ("poses.json", f"unreadable JSON: it is not UTF-8 text (byte 0xe9 at position {at}, as "
                       f"another encoding such as Windows-1252 writes an accented letter); save it as UTF-8")]


@pytest.mark.parametrize("name, note", [
    ("transforms.json", "transforms.json (NeRF's camera file) is not read: write each image's camera to poses.json "
                        "(its transform_matrix is OpenGL's cam2world: negate the second and third columns; "
                        "docs/data.md, 'Camera convention')"),
    ("cameras_sphere.npz", "cameras_sphere.npz (NeuS's camera file) is not read: write each image's camera to "
                           "poses.json (its world_mat_i @ scale_mat_i is a projection: split it into intrinsics and "
                           "OpenCV's cam2world; docs/data.md, 'Camera convention')"),
])
def test_another_tools_pose_file_beside_images_without_poses_is_noted(tmp_path, name, note):
    """A NeRF or NeuS scene's folder had been a folder of images without poses, its camera file passed over."""
    _noise_dataset(tmp_path, 2)
    (tmp_path / "dataset.json").unlink()
    (tmp_path / name).write_bytes(b"{}")
    listing = list_dataset(Source(tmp_path))
    assert listing.format == "images" and listing.notes == [note]


def test_another_tools_pose_file_beside_images_with_poses_is_no_note(tmp_path):
    _noise_dataset(tmp_path, 2)
    (tmp_path / "transforms.json").write_bytes(b"{}")
    listing = list_dataset(Source(tmp_path))
    assert listing.format == "eg3d" and listing.notes == []
