"""An image suffix that ``check_image_target`` accepts is one the image can be written to at its own size: Pillow
registers writers for suffixes that cannot take a colour image (``.xbm`` and ``.msp`` are one bit, ``.h5``, ``.grib``,
``.bufr`` and ``.wmf`` have no writer installed) and for icon formats that resize whatever they get (``.ico``,
``.icns``). Those are refused, in one sentence, before ``zoo3d sample`` loads its model or renders anything (they
ended in a traceback after the whole grid was rendered, or in a 16x16 icon of the grid with exit status 0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cli_toy import zoo3d
from conftest import one_line_error
from zoo3d.errors import UserError
from zoo3d.imageio import check_image_target, save_image

Image.init()
#: every suffix Pillow says it can save, with its format
SAVED_SUFFIXES = sorted((suffix, fmt) for suffix, fmt in Image.registered_extensions().items() if fmt in Image.SAVE)
#: formats Pillow can save but not open again (no ghostscript for EPS; PDF is write-only)
WRITE_ONLY = {"EPS", "PDF"}


@pytest.mark.parametrize("suffix, fmt", SAVED_SUFFIXES)
def test_a_suffix_either_is_refused_or_takes_the_image_at_its_own_size(tmp_path, suffix, fmt):
    path = tmp_path / f"grid{suffix}"
    image = torch.linspace(-1, 1, 3 * 20 * 40).reshape(3, 20, 40)  # wider than high, as a row of seeds is
    try:
        check_image_target(path)
    except UserError as exc:
        assert str(exc).startswith(f"Cannot write an image to '{path}': ")
        assert str(exc).endswith("; use .png, .jpg, .webp or another image suffix.")
        assert not path.exists()
        return
    assert save_image(image, path) == path
    if fmt not in WRITE_ONLY:
        with Image.open(path) as img:
            assert img.size == (40, 20)


@pytest.mark.parametrize("name, said", [
    ("g.xbm", "Pillow cannot write a colour image as XBM here"),
    ("g.h5", "Pillow cannot write a colour image as HDF5 here"),
    ("g.ico", "ICO holds square icons, into which the image would be resized"),
    ("g.ICNS", "ICNS holds square icons, into which the image would be resized"),
])
def test_sample_refuses_them_before_the_model_loads(tmp_path, monkeypatch, capsys, single_thread, name, said):
    monkeypatch.chdir(tmp_path)
    assert zoo3d("sample", "nowhere", "--out", name) == 2  # a model that does not exist: refused before it loads
    assert one_line_error(capsys.readouterr().err) == (
        f"Error: Cannot write an image to '{name}': {said}; use .png, .jpg, .webp or another image suffix.")
    assert not list(tmp_path.iterdir())


def test_the_writable_neighbours_still_hold_the_grid(tmp_path, monkeypatch, capsys, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    for name in ("g.tif", "g.bmp", "g.ppm"):
        assert zoo3d("sample", "oracle", "--seeds", "0-2", "--yaw", "0", "--resolution", "8", "--out", name) == 0
        with Image.open(tmp_path / name) as img:
            assert img.size == (3 * 10 + 2, 12)  # one yaw: three 8-pixel tiles in a row, 2 pixels apart and around
            assert np.asarray(img.convert("RGB"))[0, 0].tolist() == [255, 255, 255]  # the white padding
