"""An image whose EXIF block cannot be parsed (a PNG or WebP with a damaged EXIF chunk) is read as stored, as viewers
show it: Pillow's parse error had made training skip it and ``invert`` refuse it, while ``data check``, which decodes
the pixels alone, said it had no problem."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset
from zoo3d.data.images import decode_image

DAMAGED = b"Exif\x00\x00not a TIFF header"


def _levels(image):
    return np.rint((image.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_an_image_with_a_damaged_exif_block_is_read_as_stored(tmp_path, suffix):
    stored = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(stored).save(path, exif=DAMAGED, **({"lossless": True} if suffix == ".webp" else {}))
    image, size, box = decode_image(path, 8)
    assert size == (8, 8) and box == (0, 0, 8, 8) and np.array_equal(_levels(image), stored)


def test_a_dataset_and_invert_read_it_and_data_check_agrees(tmp_path):
    pixels = [np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8) for i in range(2)]
    Image.fromarray(pixels[0]).save(tmp_path / "a.png", exif=DAMAGED)
    Image.fromarray(pixels[1]).save(tmp_path / "b.png")
    frames = [{"file": n, "yaw": 0.0, "pitch": 0.0} for n in ("a.png", "b.png")]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    assert check_dataset(tmp_path, full=True).ok
    dataset = FolderDataset(tmp_path, 8)
    assert [np.array_equal(_levels(dataset[i]["image"]), pixels[i]) for i in range(2)] == [True, True]
    assert dataset.skipped == {}
    from zoo3d.cli.invert import _read_image   # what `zoo3d invert a.png` reads before any work

    image, _, _ = _read_image(str(tmp_path / "a.png"), 8)
    assert np.array_equal(_levels(image), pixels[0])
