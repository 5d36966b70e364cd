"""`zoo3d invert` of a photo past Pillow's decompression-bomb limit (twice ``Image.MAX_IMAGE_PIXELS``: a
200-megapixel phone photo at Pillow's default): one sentence with the photo's size and the limit, not PIL's
"could be decompression bomb DOS attack", and nothing written. The limit is lowered so that a small photo passes it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from test_invert_cli import _zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)


def _invert(capsys, tmp_path, *photos):
    return _zoo3d(capsys, "invert", *map(str, photos), "--model", "toy_procedural", "--method", "optimize",
                  "--pose", "0,0", "--steps", "0", "--frames", "1", "--out", str(tmp_path / "out"))


def test_a_photo_past_pillows_limit_is_named_with_its_size_and_the_limit(toy_image, tmp_path, capsys, monkeypatch):
    photo = tmp_path / "wide.png"
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(photo)  # 30x20: 600 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # Pillow refuses past 2 x 150; the 16x16 sphere passes
    code, out, err = _invert(capsys, tmp_path, toy_image, photo)
    assert code == 2 and out == ""
    assert err == (f"Error: Cannot read image '{photo}': its 30x20 pixels (600) are more than the 300 Pillow decodes; "
                   f"save a smaller copy (the model sees it at its own resolution anyway) and invert that.\n")
    assert not (tmp_path / "out").exists()
    assert Image.MAX_IMAGE_PIXELS == 150  # the header read left the limit as it was


def test_a_photo_at_the_limit_is_inverted(toy_image, tmp_path, capsys, monkeypatch):
    photo = tmp_path / "wide.png"
    Image.fromarray(np.zeros((15, 20, 3), dtype=np.uint8)).save(photo)  # 300 pixels: Pillow only warns
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)
    code, _, err = _invert(capsys, tmp_path, photo)
    assert code == 0, err
    assert (tmp_path / "out" / "wide" / "reconstruction.png").is_file()
