"""Zip member names as the tool that made the zip wrote them: Info-ZIP's ``zip -r`` on Linux stores UTF-8 names
without the zip's UTF-8 flag (Python reads such names as code page 437); an old Windows zip's code page 437 names
stay code page 437."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import torch
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.data.folder import FolderDataset
from zoo3d.data.formats import Source, list_dataset

NAMES = ["images/café 0.png", "images/café 1.png", "images/naïve.png"]


def _unflagged_zip(path, members: dict[str, bytes], raw_names: dict[str, bytes]):
    """A stored zip whose members ``raw_names`` keys name have those bytes as their names and no UTF-8 flag, as
    Info-ZIP writes them: written under ASCII stand-ins of the same length, which are then replaced in the bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    data = path.read_bytes()
    for stand_in, raw in raw_names.items():
        assert len(stand_in.encode()) == len(raw) and data.count(stand_in.encode()) == 2  # local and central header
        data = data.replace(stand_in.encode(), raw)
    path.write_bytes(data)
    return path


def _png(seed: int) -> tuple[bytes, np.ndarray]:
    import io

    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue(), pixels


def _utf8_zip(tmp_path):
    """data/poses.json naming NAMES, and their images, every name written as UTF-8 bytes without the flag."""
    cams = Camera.from_angles(torch.tensor([-0.2, 0.0, 0.2], dtype=torch.float64), 0.0,
                              dtype=torch.float64).to_eg3d().numpy()
    frames = [{"file": n, "camera": c.tolist()} for n, c in zip(NAMES, cams)]
    members, raw, pixels = {"data/poses.json": json.dumps({"version": 1, "frames": frames}).encode()}, {}, {}
    for i, name in enumerate(NAMES):
        stand_in = "data/" + "".join(ch if ord(ch) < 128 else "~" * len(ch.encode()) for ch in name)
        members[stand_in], pixels[name] = _png(i)
        raw[stand_in] = f"data/{name}".encode()
    return _unflagged_zip(tmp_path / "data.zip", members, raw), pixels


def test_utf8_names_without_the_flag_are_read_as_utf8_and_match_poses_json(tmp_path):
    path, pixels = _utf8_zip(tmp_path)
    with zipfile.ZipFile(path) as zf:  # what Python reads by itself: 'caf├⌐ 0.png'
        assert not any(i.flag_bits & 0x800 for i in zf.infolist())
        assert "data/images/caf\u251c\u2310 0.png" in zf.namelist()
    listing = list_dataset(Source(path))
    assert listing.format == "zoo3d" and not listing.problems, listing.problems
    assert [r.name for r in listing.records] == NAMES
    dataset = FolderDataset(path, 8)
    for i, name in enumerate(NAMES):  # each name reads its own image
        levels = np.rint((dataset[i]["image"].permute(1, 2, 0).numpy() + 1) * 127.5)
        assert np.array_equal(levels, pixels[name]), name


def test_a_code_page_437_name_whose_bytes_are_not_utf8_stays_code_page_437(tmp_path):
    data, _ = _png(0)
    path = _unflagged_zip(tmp_path / "old.zip", {"r~sum~.png": data}, {"r~sum~.png": "résumé.png".encode("cp437")})
    assert Source(path).files() == ["résumé.png"]  # 0x82 is 'é' in code page 437 and no UTF-8 on its own


def _windows_zip(path, members: dict[str, bytes], create_system: int = 0):
    """A zip as Windows PowerShell's Compress-Archive writes it: '\\' between folders, made on MS-DOS/Windows."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.create_system = create_system
            zf.writestr(info, data)
    return path


def test_a_windows_zip_with_backslash_separators_is_read_from_its_folder_like_the_folder_it_unpacks_to(tmp_path):
    cams = Camera.from_angles(torch.tensor([-0.3, 0.3], dtype=torch.float64), 0.1, dtype=torch.float64).to_eg3d()
    labels = [[f"img/{i}.png", c.tolist()] for i, c in enumerate(cams.numpy())]  # dataset.json's names use '/'
    members = {"data\\": b"", "data\\img\\": b"", "data\\dataset.json": json.dumps({"labels": labels}).encode()}
    pixels = []
    for i in range(2):
        members[f"data\\img\\{i}.png"], p = _png(10 + i)
        pixels.append(p)
    path = _windows_zip(tmp_path / "win.zip", members)
    source = Source(path)
    assert source.root == "data/" and source.files() == ["dataset.json", "img/0.png", "img/1.png"]
    listing = list_dataset(source)
    assert listing.format == "eg3d" and not listing.problems, listing.problems
    dataset = FolderDataset(path, 8)
    for i in range(2):
        levels = np.rint((dataset[i]["image"].permute(1, 2, 0).numpy() + 1) * 127.5)
        assert np.array_equal(levels, pixels[i])


def test_a_backslash_in_a_name_from_a_unix_zip_is_part_of_the_name(tmp_path):
    data, _ = _png(0)
    path = _windows_zip(tmp_path / "unix.zip", {"a\\b.png": data}, create_system=3)
    assert Source(path).files() == ["a\\b.png"]
