"""`zoo3d invert` of a photo smaller than the model's resolution: it is upsampled (as training upsamples such images,
and warns of them), so the command says so in one warning per such image, naming its size and, for a non-square
photo, the centred square that is used; photos of the model's size or larger pass without a word."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from test_invert_cli import _zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)


def _photo(path, width: int, height: int):
    rng = np.random.default_rng(width * 1000 + height)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def _invert(capsys, tmp_path, *images):
    return _zoo3d(capsys, "invert", *map(str, images), "--model", "toy_procedural", "--method", "optimize",
                  "--pose", "0,0", "--steps", "0", "--frames", "1", "--out", str(tmp_path / "out"))


def _warning(path, shape: str) -> str:
    return (f"warning: '{path}' is {shape}, smaller than the 16x16 the model inverts at; it is upsampled, so the "
            f"inversion fits its blur.")


@pytest.mark.parametrize("width, height, shape", [(3, 3, "3x3"), (15, 15, "15x15"),
                                                  (40, 12, "40x12 (its centred square 12x12)")])
def test_a_photo_smaller_than_the_model_is_named_with_its_size(toy_image, tmp_path, capsys, width, height, shape):
    small = _photo(tmp_path / "small.png", width, height)
    code, _, err = _invert(capsys, tmp_path, toy_image, small)
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("warning:")] == [_warning(small, shape)]
    assert (tmp_path / "out" / "small" / "reconstruction.png").is_file()


@pytest.mark.parametrize("width, height", [(16, 16), (16, 40), (64, 64)])
def test_a_photo_of_the_models_size_or_larger_passes_without_a_warning(toy_image, tmp_path, capsys, width, height):
    code, _, err = _invert(capsys, tmp_path, _photo(tmp_path / "photo.png", width, height))
    assert code == 0, err
    assert "warning:" not in err


def test_no_warning_is_left_when_a_later_image_is_refused(toy_image, tmp_path, capsys):
    small = _photo(tmp_path / "small.png", 4, 4)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    code, _, err = _invert(capsys, tmp_path, small, tmp_path / "broken.png")
    assert code == 2
    assert err.strip().startswith("Error: Cannot read image") and "warning:" not in err
