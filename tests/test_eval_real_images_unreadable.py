"""The real image set of the distribution metrics from a folder some of whose files cannot be decoded (cut short
behind an intact header, which the headers-only check before a comparison passes): the dataset serves the next
readable image in place of each, so the real set held second copies of other images, and ``compare`` said the real
set was all of the dataset's images. Now the stand-ins are left out, the subset goes on along the same seeded order,
and a note names the files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_in_process
from zoo3d.eval.distribution import real_images

pytestmark = pytest.mark.usefixtures("single_thread")


def _folder(folder, count: int, broken: set[int]):
    """``count`` 8x8 images of one grey level each (level 20 i, so an image is known by its value); the files in
    ``broken`` cut off after their header."""
    (folder / "images").mkdir(parents=True)
    for i in range(count):
        path = folder / "images" / f"{i}.png"
        Image.fromarray(np.full((8, 8, 3), 20 * i, dtype=np.uint8)).save(path)
        if i in broken:
            path.write_bytes(path.read_bytes()[:40])  # the signature and IHDR (33 bytes) whole
    frames = [{"file": f"images/{i}.png", "yaw": 0.0, "pitch": 0.0} for i in range(count)]
    (folder / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    return folder


def _levels(images: torch.Tensor) -> list[int]:
    return [round((float(x) + 1) * 127.5) // 20 for x in images[:, 0, 0, 0]]


def test_the_real_set_is_the_readable_images_once_each_along_the_seeded_order(tmp_path):
    folder = _folder(tmp_path / "faces", 10, broken={2, 3, 7})
    skipped = {}
    everything = real_images(str(folder), 10, 8, seed=0, skipped=skipped)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0)).tolist()
    assert _levels(everything) == [i for i in order if i not in {2, 3, 7}]  # no copies, none of the broken
    assert sorted(skipped) == ["images/2.png", "images/3.png", "images/7.png"]
    four = real_images(str(folder), 4, 8, seed=0)  # fewer wanted: the first four readable along that order
    assert _levels(four) == [i for i in order if i not in {2, 3, 7}][:4]


def test_compare_says_how_many_files_were_left_out_of_the_real_set(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _folder(tmp_path / "faces", 8, broken={1, 5})
    code, out, err = run_in_process(capsys, "compare", "--models", "oracle", "--metric", "swd", "--data", "faces",
                                    "--instances", "1", "--resolution", "8", "--json", "r.json")
    assert code == 0, err
    notes = json.loads((tmp_path / "r.json").read_text())["notes"]
    left_out = [n for n in notes if "could not be decoded" in n]
    assert len(left_out) == 1 and left_out[0].startswith(
        "dataset 'faces': 2 image(s) could not be decoded and are not in the real set (first: 'images/")
    assert left_out[0].endswith("; `zoo3d data check faces` lists them.")
    assert "dataset 'faces' holds 6 images, fewer than the protocol's 256: the distribution metrics' real set is " \
           "those 6." in notes
