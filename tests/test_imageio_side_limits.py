"""The largest side ``check_image_size`` lets through for each format is one Pillow writes, and one pixel more is
one it cannot: checked by writing a one-pixel strip of each length (the refusal comes before rendering, the
failure only after). JPEG's limit is libjpeg's 65500, not the 65535 its 16-bit header fields could hold: a
65501-pixel row of seeds passed the check and ended in 'broken data stream' once every seed was rendered."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from zoo3d.errors import UserError
from zoo3d.imageio import MAX_SIDE, check_image_size

Image.init()
SUFFIX = {"WEBP": ".webp", "JPEG": ".jpg", "MPO": ".mpo", "PDF": ".pdf", "PCX": ".pcx", "GIF": ".gif", "TGA": ".tga",
          "SGI": ".sgi", "AVIF": ".avif"}


def _writes(fmt: str, width: int, height: int) -> bool:
    try:
        Image.new("RGB", (width, height)).save(io.BytesIO(), format=fmt)
    except Exception:  # noqa: BLE001 - whatever the plugin raises
        return False
    return True


@pytest.mark.parametrize("fmt", sorted(MAX_SIDE))
def test_pillow_writes_the_largest_side_let_through_and_not_one_more(fmt):
    if fmt not in Image.SAVE:
        pytest.skip(f"this Pillow has no {fmt} writer")
    limit = MAX_SIDE[fmt]
    assert _writes(fmt, limit, 1) and _writes(fmt, 1, limit)
    assert not _writes(fmt, limit + 1, 1)


@pytest.mark.parametrize("fmt", sorted(MAX_SIDE))
def test_the_check_refuses_one_more_on_either_side(tmp_path, fmt):
    limit, path = MAX_SIDE[fmt], tmp_path / f"row{SUFFIX[fmt]}"
    check_image_size(path, 1, limit)
    check_image_size(path, limit, 1)
    for h, w in ((1, limit + 1), (limit + 1, 1)):
        with pytest.raises(UserError, match=rf"would be {w}x{h} pixels, and {fmt} holds at most {limit} on a side"):
            check_image_size(path, h, w)


def test_a_jpeg_row_between_libjpegs_limit_and_16_bits_is_refused(tmp_path):
    with pytest.raises(UserError) as err:
        check_image_size(tmp_path / "row.jpg", 20, 65522)  # 504 seeds of 128 px in a row, 2 px apart
    assert str(err.value) == (f"'{tmp_path / 'row.jpg'}' would be 65522x20 pixels, and JPEG holds at most 65500 on a "
                              "side; write a .png, or fewer images per row.")
