"""`zoo3d invert` of many photos at once: every photo is decoded before any work (a bad one is refused before
anything is written), but only the photo being inverted is held decoded, so a long list (a shell glob over a test
set) needs the memory of one image, not of all of them; each photo's inversion still starts from its own pixels."""

from __future__ import annotations

import gc
import json
import weakref

import numpy as np
import torch
from PIL import Image

from test_invert_cli import _zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)


def _photos(folder, count: int) -> list:
    paths = []
    for i in range(count):
        rng = np.random.default_rng(i)
        paths.append(folder / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def test_only_the_photo_being_inverted_is_held_decoded(toy_image, tmp_path, capsys, monkeypatch):
    import zoo3d.data.images as images
    from zoo3d.invert.optimize import OptimizationInverter

    decoded = []  # weak references to every decoded image
    real_decode, real_invert = images.decode_image, OptimizationInverter.invert
    held, inverted = [], []

    def decode(*args, **kwargs):
        out = real_decode(*args, **kwargs)
        decoded.append(weakref.ref(out[0]))
        return out

    def invert(self, x, cameras=None):
        gc.collect()
        held.append(sum(ref() is not None for ref in decoded))
        inverted.append(x.clone())
        return real_invert(self, x, cameras)

    monkeypatch.setattr(images, "decode_image", decode)
    monkeypatch.setattr(OptimizationInverter, "invert", invert)
    paths = _photos(tmp_path, 4)
    code, _, err = _zoo3d(capsys, "invert", *map(str, paths), "--model", "toy_procedural", "--method", "optimize",
                          "--pose", "0,0", "--steps", "0", "--frames", "1", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert held == [1, 1, 1, 1]
    for path, x in zip(paths, inverted):  # each inversion got its own photo, as decoded from its file
        expected = torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
        assert torch.equal(x[0], expected)
        assert json.loads((tmp_path / "out" / path.stem / "metrics.json").read_text())["image"] == str(path)


def test_a_bad_photo_late_in_the_list_is_refused_before_anything_is_written(toy_image, tmp_path, capsys):
    paths = _photos(tmp_path, 3)
    paths[2].write_bytes(paths[2].read_bytes()[:40])  # cut off after its header
    code, _, err = _zoo3d(capsys, "invert", *map(str, paths), "--model", "toy_procedural", "--method", "optimize",
                          "--pose", "0,0", "--steps", "0", "--frames", "1", "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith(f"Error: Cannot read image '{paths[2]}'")
    assert not (tmp_path / "out").exists()


def test_a_warning_about_a_photo_is_given_once_though_it_is_read_twice(toy_image, tmp_path, capsys, monkeypatch):
    """PIL warns of a very large photo (DecompressionBombWarning) as it opens it: once per photo, not once per
    read. The warning is a stand-in, given by the decoder at each read, so that small photos can carry it."""
    import warnings

    import zoo3d.data.images as images

    real_decode = images.decode_image

    def decode(path, *args, **kwargs):
        warnings.warn(f"{path} is very large", UserWarning)
        return real_decode(path, *args, **kwargs)

    monkeypatch.setattr(images, "decode_image", decode)
    paths = _photos(tmp_path, 2)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code, _, err = _zoo3d(capsys, "invert", *map(str, paths), "--model", "toy_procedural", "--method",
                              "optimize", "--pose", "0,0", "--steps", "0", "--frames", "1", "--out",
                              str(tmp_path / "o"))
    assert code == 0, err
    assert sorted(str(w.message) for w in seen if "very large" in str(w.message)) == [f"{p} is very large"
                                                                                      for p in paths]
