"""`zoo3d invert` of a photo with transparent pixels (a cut-out from a background remover): its alpha is dropped,
as for training images (docs/data.md), so the inversion fits the colour stored under them; a `warning:` names
each such photo, and only those: an alpha channel that is opaque everywhere, or a palette whose transparent
entry no pixel uses, shows nothing transparent and gets no warning."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from test_invert_cli import _zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)


def _warning(path) -> str:
    return (f"warning: '{path}' has transparent pixels; their alpha is dropped, so the inversion fits the colour "
            f"stored under them (black in most cut-outs): composite the photo onto a background first.\n")


def _invert(capsys, tmp_path, *photos):
    return _zoo3d(capsys, "invert", *map(str, photos), "--model", "toy_procedural", "--method", "optimize",
                  "--pose", "0,0", "--steps", "0", "--frames", "1", "--out", str(tmp_path / "out"))


def _rgba(path, alpha: np.ndarray):
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = alpha
    Image.fromarray(rgba).save(path)
    return path


def _palette(path, transparent_used: bool):
    index = np.ones((16, 16), dtype=np.uint8)
    if transparent_used:
        index[:, :4] = 0
    img = Image.fromarray(index, mode="P")
    img.putpalette([0, 0, 0, 200, 150, 120] + [0] * (254 * 3))
    img.save(path, transparency=0)  # palette entry 0 is the transparent one
    return path


@pytest.mark.parametrize("make, transparent", [
    (lambda p: _rgba(p, np.where(np.arange(16) < 8, 0, 255)[None].repeat(16, 0)), True),  # left half cut out
    (lambda p: _rgba(p, np.full((16, 16), 254)), True),  # every pixel a little see-through
    (lambda p: _rgba(p, np.full((16, 16), 255)), False),  # an alpha channel, opaque everywhere
    (lambda p: _palette(p, True), True),
    (lambda p: _palette(p, False), False),
])
def test_a_photo_with_transparent_pixels_is_named_in_a_warning(toy_image, tmp_path, capsys, make, transparent):
    photo = make(tmp_path / "cut.png")
    code, _, err = _invert(capsys, tmp_path, photo)
    assert code == 0, err
    assert err == (_warning(photo) if transparent else "")
    assert (tmp_path / "out" / "cut" / "reconstruction.png").is_file()


def test_each_transparent_photo_of_a_list_is_named_once_and_the_opaque_ones_not(toy_image, tmp_path, capsys):
    half = np.where(np.arange(16) < 8, 0, 255)[None].repeat(16, 0)
    first, second = _rgba(tmp_path / "a.png", half), _rgba(tmp_path / "b.png", half)
    code, _, err = _invert(capsys, tmp_path, first, toy_image, second)
    assert code == 0, err
    assert err == _warning(first) + _warning(second)
